package streamauth

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/leadvibe/milestone-triggers-operator/internal/envtesting"
	"github.com/leadvibe/milestone-triggers-operator/internal/kubeauth"
	"github.com/leadvibe/milestone-triggers-operator/internal/kubeauth/kubeauthtest"
	"github.com/leadvibe/milestone-triggers-operator/internal/ratelimit"
	"github.com/leadvibe/milestone-triggers-operator/internal/stream"
	"github.com/leadvibe/milestone-triggers-operator/internal/stream/streamtest"
)

// The suite runs the callout service against a real kube-apiserver and
// etcd (built from source by hack/build-control-plane.sh) with RBAC on, on
// a real embedded NATS server listening on loopback. Publishers are real
// service accounts with tokens from the TokenRequest API, connecting over
// TCP from loopback addresses of their own (127.0.0.0/8), so that the
// failed-authentication limiter counts each test apart.
var (
	k8sClient  client.Client
	clientset  kubernetes.Interface
	operator   *stream.Conn
	suiteCtx   context.Context
	cancel     context.CancelFunc
	serviceRan chan error
	// service is the callout service under test.
	service *Service
	// throttle holds the suite's publishers to suiteLimits.
	throttle    *Throttle
	throttleRan chan error
	// tokenReviews counts the TokenReviews the service made.
	tokenReviews = &kubeauthtest.CountingReviews{}
)

// suiteLimits is the suite's per-OU event budget: a thousand at once,
// then a thousand a second; only the throttle's spec goes past it.
var suiteLimits = ratelimit.New(ratelimit.Rate{PerSecond: 1000, Burst: 1000}, 1, nil)

// suiteFailureLimit is the failed-authentication limit of the suite's
// service, per client address.
const suiteFailureLimit = 4

func TestStreamAuth(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Stream Auth Suite")
}

var _ = BeforeSuite(func() {
	logf.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	suiteCtx, cancel = context.WithCancel(context.Background())

	cfg := envtesting.Start(GinkgoTB())
	scheme := runtime.NewScheme()
	Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())
	var err error
	k8sClient, err = client.New(cfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
	clientset, err = kubernetes.NewForConfig(cfg)
	Expect(err).NotTo(HaveOccurred())
	createPublisherRole()

	operator, _ = streamtest.Open(GinkgoTB(), streamtest.WithLayout(stream.Layout{History: time.Hour}),
		streamtest.WithConfig(func(c *stream.Config) {
			c.Sync = stream.SyncPolicy{Interval: time.Minute}
			c.Listen = "127.0.0.1:0"
		}))
	Expect(operator.CalloutIssuer()).NotTo(BeNil())

	tokenReviews.Next = clientset.AuthenticationV1()
	throttle = &Throttle{Server: operator.Server(), Limits: suiteLimits, Interval: 100 * time.Millisecond, Log: logf.Log.WithName("stream-throttle")}
	throttleRan = make(chan error, 1)
	go func() {
		defer GinkgoRecover()
		throttleRan <- throttle.Start(suiteCtx)
	}()
	service = &Service{
		Throttle: throttle,
		Conn:     operator.NC,
		Issuer:   operator.CalloutIssuer(),
		Authenticator: kubeauth.NewAuthenticator(tokenReviews, kubeauth.AuthenticatorOptions{
			Limiter: kubeauth.NewFailureLimiter(suiteFailureLimit, time.Minute, 0, nil),
		}),
		Authorizer: kubeauth.NewAuthorizer(clientset.AuthorizationV1(), 0, 0),
		Log:        logf.Log.WithName("streamauth"),
	}
	serviceRan = make(chan error, 1)
	go func() {
		defer GinkgoRecover()
		serviceRan <- service.Start(suiteCtx)
	}()
})

var _ = AfterSuite(func() {
	if cancel != nil {
		cancel()
	}
	if throttleRan != nil {
		Eventually(throttleRan).Should(Receive(BeNil()), "the throttle did not stop cleanly")
	}
	if serviceRan != nil {
		Eventually(serviceRan).Should(Receive(BeNil()), "the callout service did not stop cleanly")
	}
	// The stream, then the control plane, stop after the suite, in the
	// cleanups streamtest and envtesting registered.
})
