package controllers

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	triggersv1alpha1 "github.com/leadvibe/milestone-triggers-operator/api/v1alpha1"
	"github.com/leadvibe/milestone-triggers-operator/internal/envtesting"
	"github.com/leadvibe/milestone-triggers-operator/internal/history"
	"github.com/leadvibe/milestone-triggers-operator/internal/ledger"
	"github.com/leadvibe/milestone-triggers-operator/internal/notify"
	"github.com/leadvibe/milestone-triggers-operator/internal/notify/safehttp"
	"github.com/leadvibe/milestone-triggers-operator/internal/notify/safehttp/safehttptest"
	"github.com/leadvibe/milestone-triggers-operator/internal/notify/webhook"
	"github.com/leadvibe/milestone-triggers-operator/internal/pipeline"
	"github.com/leadvibe/milestone-triggers-operator/internal/stream"
	"github.com/leadvibe/milestone-triggers-operator/internal/stream/streamtest"
	"github.com/leadvibe/milestone-triggers-operator/internal/triggerset"
)

// The suite runs the controller in a manager against a real kube-apiserver
// and etcd, built from source by hack/build-control-plane.sh.
var (
	cfg        *rest.Config
	k8sClient  client.Client
	triggers   *triggerset.Memory
	testScheme = runtime.NewScheme()
	suiteCtx   context.Context
	cancel     context.CancelFunc

	// eventStream is a real embedded NATS JetStream with the evaluator and
	// the status projector running on it.
	eventStream   *stream.Conn
	eventStreams  *stream.Streams
	statusPatches atomic.Int64
	// hist is the history the dispatcher writes and the projector reads.
	hist *history.Store

	projectorClient   client.Client
	projectorReader   client.Reader
	projectorLedger   *ledger.Ledger
	projectorRecorder events.EventRecorder
	stopProjector     func()

	// warnings is the suite's Warning Event limiter, shared by the
	// reconciler and the status projector as in main.
	warnings *Warnings
	// dispatchTriggers are the triggers the suite's dispatcher delivers:
	// only those a spec puts there, so that other specs' firings wait
	// for their trigger and touch no status.
	dispatchTriggers *triggerset.Memory
)

func TestControllers(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Controllers Suite")
}

var _ = BeforeSuite(func() {
	logf.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	suiteCtx, cancel = context.WithCancel(context.Background())

	cfg = envtesting.Start(GinkgoTB())

	Expect(clientgoscheme.AddToScheme(testScheme)).To(Succeed())
	Expect(triggersv1alpha1.AddToScheme(testScheme)).To(Succeed())
	var err error
	k8sClient, err = client.New(cfg, client.Options{Scheme: testScheme})
	Expect(err).NotTo(HaveOccurred())

	eventStream, eventStreams = streamtest.Open(GinkgoTB())
	ldg := ledger.New(eventStreams)

	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 testScheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
	})
	Expect(err).NotTo(HaveOccurred())
	triggers = triggerset.NewMemory()
	warnings = &Warnings{Recorder: mgr.GetEventRecorder("milestone-triggers")}
	Expect((&MilestoneTriggerReconciler{
		Client:       mgr.GetClient(),
		APIReader:    mgr.GetAPIReader(),
		Triggers:     triggers,
		EmailEnabled: true,
		Warnings:     warnings,
	}).SetupWithManager(suiteCtx, mgr)).To(Succeed())
	Expect(mgr.Add(&pipeline.Pipeline{Streams: eventStreams, Ledger: pipeline.Real(ldg), Triggers: triggers, Log: logf.Log.WithName("evaluator")})).To(Succeed())
	// The status projector's client counts its status applies, so a test can
	// check that a burst of firings is coalesced.
	direct, err := client.NewWithWatch(cfg, client.Options{Scheme: testScheme})
	Expect(err).NotTo(HaveOccurred())
	countingClient := interceptor.NewClient(direct, interceptor.Funcs{
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
			statusPatches.Add(1)
			return c.SubResource(sub).Patch(ctx, obj, patch, opts...)
		},
		SubResourceApply: func(ctx context.Context, c client.Client, sub string, obj runtime.ApplyConfiguration, opts ...client.SubResourceApplyOption) error {
			statusPatches.Add(1)
			return c.SubResource(sub).Apply(ctx, obj, opts...)
		},
	})
	projectorClient = countingClient
	projectorReader = mgr.GetAPIReader()
	projectorLedger = ldg
	projectorRecorder = mgr.GetEventRecorder("milestone-triggers")
	hist = history.New(eventStreams)

	// A dispatcher with the real webhook notifier, a compressed schedule
	// (three attempts), the egress policy of the local system, and the
	// history the status projector reads.
	dispatchTriggers = triggerset.NewMemory()
	Expect(mgr.Add(&notify.Dispatcher{
		Streams: eventStreams, Triggers: dispatchTriggers, Log: logf.Log.WithName("dispatcher"),
		Notifiers: []notify.Notifier{webhook.New(safehttp.NewClient(safehttptest.Policy(), 5*time.Second))},
		Schedule:  notify.Schedule{0, 100 * time.Millisecond, 100 * time.Millisecond},
		History:   hist.Recorder(5 * time.Second),
	})).To(Succeed())

	go func() {
		defer GinkgoRecover()
		Expect(mgr.Start(suiteCtx)).To(Succeed())
	}()
	startProjector()
})

// startProjector starts a status projector as main does, but outside the
// manager, so that a spec can stop it and start another, as a restart
// does.
func startProjector() {
	ctx, stop := context.WithCancel(suiteCtx)
	done := make(chan struct{})
	p := &StatusProjector{
		Client: projectorClient, Reader: projectorReader, JS: eventStream.JS, Ledger: projectorLedger,
		Recorder: projectorRecorder, Warnings: warnings, EmailEnabled: true,
		Log: logf.Log.WithName("status"), Interval: 500 * time.Millisecond,
	}
	go func() {
		defer GinkgoRecover()
		defer close(done)
		Expect(p.Start(ctx)).To(Succeed())
	}()
	stopProjector = func() { stop(); <-done }
}

// restartProjector stops the running status projector and starts a new one.
func restartProjector() {
	stopProjector()
	startProjector()
}

var _ = AfterSuite(func() {
	if stopProjector != nil {
		stopProjector()
	}
	cancel()
	// The stream, then the control plane, stop after the suite, in the
	// cleanups streamtest and envtesting registered.
})
