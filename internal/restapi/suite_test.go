package restapi

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	triggersv1alpha1 "github.com/leadvibe/milestone-triggers-operator/api/v1alpha1"
	"github.com/leadvibe/milestone-triggers-operator/internal/backtest"
	"github.com/leadvibe/milestone-triggers-operator/internal/envtesting"
	"github.com/leadvibe/milestone-triggers-operator/internal/history"
	"github.com/leadvibe/milestone-triggers-operator/internal/ledger"
	"github.com/leadvibe/milestone-triggers-operator/internal/notify"
	"github.com/leadvibe/milestone-triggers-operator/internal/notify/safehttp"
	"github.com/leadvibe/milestone-triggers-operator/internal/notify/webhook"
	"github.com/leadvibe/milestone-triggers-operator/internal/resolve"
	"github.com/leadvibe/milestone-triggers-operator/internal/simulate"
	"github.com/leadvibe/milestone-triggers-operator/internal/stream"
	"github.com/leadvibe/milestone-triggers-operator/internal/stream/streamtest"
	"github.com/leadvibe/milestone-triggers-operator/internal/triggerset"
)

// The suite serves the shim, in a manager for its cache, against a real
// kube-apiserver and etcd (built from source by hack/build-control-plane.sh)
// with RBAC on. Callers are real service accounts with tokens from the
// TokenRequest API, and one person, alice, from a static token file (a
// user that is not a service account, so has no default OU).
var (
	// eventStream is a real embedded NATS JetStream behind POST /events.
	eventStream *stream.Conn
	// historyStore is the history behind the history endpoints.
	historyStore *history.Store
	// firingLedger commits the firings the dispatcher delivers, and
	// dispatchTriggers holds the definitions it delivers them for.
	firingLedger     *ledger.Ledger
	dispatchTriggers = triggerset.NewMemory()
	cfg              *rest.Config
	k8sClient        client.Client
	clientset        kubernetes.Interface
	apiServer        *httptest.Server
	testScheme       = runtime.NewScheme()
	suiteCtx         context.Context
	cancel           context.CancelFunc
	managerRan       chan error
)

// alice and bob authenticate with static tokens; alice belongs to the
// leadvibe:marketing group, bob to leadvibe:admins.
const (
	aliceToken = "alice-static-token-7f3c9a"
	aliceName  = "alice"
	aliceGroup = "leadvibe:marketing"
	bobToken   = "bob-static-token-41d2e8"
	bobName    = "bob"
	bobGroup   = "leadvibe:admins"
)

func TestRESTAPI(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "REST API Suite")
}

var _ = BeforeSuite(func() {
	logf.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	suiteCtx, cancel = context.WithCancel(context.Background())

	tokenFile := filepath.Join(GinkgoT().TempDir(), "tokens.csv")
	tokens := aliceToken + "," + aliceName + ",alice-uid,\"" + aliceGroup + "\"\n" +
		bobToken + "," + bobName + ",bob-uid,\"" + bobGroup + "\"\n"
	Expect(os.WriteFile(tokenFile, []byte(tokens), 0o600)).To(Succeed())

	cfg = envtesting.Start(GinkgoTB(), envtesting.WithAPIServerFlag("token-auth-file", tokenFile))

	Expect(clientgoscheme.AddToScheme(testScheme)).To(Succeed())
	Expect(triggersv1alpha1.AddToScheme(testScheme)).To(Succeed())
	var err error
	k8sClient, err = client.New(cfg, client.Options{Scheme: testScheme})
	Expect(err).NotTo(HaveOccurred())
	clientset, err = kubernetes.NewForConfig(cfg)
	Expect(err).NotTo(HaveOccurred())
	createClusterRoles()

	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 testScheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
	})
	Expect(err).NotTo(HaveOccurred())
	var streams *stream.Streams
	eventStream, streams = streamtest.Open(GinkgoTB(), streamtest.WithLayout(stream.Layout{History: time.Hour}))
	suiteBacktests = NewBacktests(backtest.Stream{JS: streams.JS}, suiteBacktestLimits, 2)
	historyStore, firingLedger = history.New(streams), ledger.New(streams)
	notifiers := []notify.Notifier{webhook.New(safehttp.NewClient(safehttp.Policy{}, 5*time.Second))}

	srv, err := New(Options{
		Routes: append([]Route{
			IngestRoute(streams.Events, suiteEventLimits),
			SimulateRoute(mgr.GetCache(), resolve.Resolver{Reader: mgr.GetAPIReader()}, SecretAccessReviews(clientset.AuthorizationV1()),
				simulate.Config{EmailFrom: "Triggers <triggers@example.com>", Notifiers: notifiers, Leads: firingLedger}),
			ResendRoute(streams),
			BacktestRoute(mgr.GetCache(), suiteBacktests),
		}, HistoryRoutes(historyStore)...),
		Addr:                 "127.0.0.1:0",
		Cache:                mgr.GetCache(),
		APIReader:            mgr.GetAPIReader(),
		Writer:               mgr.GetClient(),
		TokenReviews:         clientset.AuthenticationV1(),
		SubjectAccessReviews: clientset.AuthorizationV1(),
		Logger:               logf.Log.WithName("restapi"),
	})
	Expect(err).NotTo(HaveOccurred())
	// The manager runs the server too, so its start and graceful stop are
	// exercised; the specs call its handler through httptest.
	Expect(mgr.Add(srv)).To(Succeed())
	// A dispatcher delivers the firings the re-send and history specs
	// commit, to the triggers they put in dispatchTriggers, with a
	// compressed schedule, and records them in the history.
	Expect(mgr.Add(&notify.Dispatcher{
		Streams: streams, Triggers: dispatchTriggers, Notifiers: notifiers,
		Log: logf.Log.WithName("dispatcher"), Schedule: notify.Schedule{0, 100 * time.Millisecond},
		History: historyStore.Recorder(5 * time.Second),
	})).To(Succeed())
	managerRan = make(chan error, 1)
	go func() {
		defer GinkgoRecover()
		managerRan <- mgr.Start(suiteCtx)
	}()
	Expect(mgr.GetCache().WaitForCacheSync(suiteCtx)).To(BeTrue())
	_, err = mgr.GetCache().GetInformer(suiteCtx, &triggersv1alpha1.MilestoneTrigger{})
	Expect(err).NotTo(HaveOccurred())

	apiServer = httptest.NewServer(srv.Handler())
})

var _ = AfterSuite(func() {
	if apiServer != nil {
		apiServer.Close()
	}
	if cancel != nil {
		cancel()
	}
	if managerRan != nil {
		Eventually(managerRan).Should(Receive(BeNil()), "the manager, and the REST server in it, did not stop cleanly")
	}
	// The stream, then the control plane, stop after the suite, in the
	// cleanups streamtest and envtesting registered.
})
