package operator

import (
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	triggersv1alpha1 "github.com/leadvibe/milestone-triggers-operator/api/v1alpha1"
	"github.com/leadvibe/milestone-triggers-operator/controllers"
	"github.com/leadvibe/milestone-triggers-operator/internal/backtest"
	"github.com/leadvibe/milestone-triggers-operator/internal/event"
	"github.com/leadvibe/milestone-triggers-operator/internal/history"
	"github.com/leadvibe/milestone-triggers-operator/internal/kubeauth"
	"github.com/leadvibe/milestone-triggers-operator/internal/ledger"
	"github.com/leadvibe/milestone-triggers-operator/internal/notify"
	"github.com/leadvibe/milestone-triggers-operator/internal/notify/email"
	"github.com/leadvibe/milestone-triggers-operator/internal/notify/safehttp"
	"github.com/leadvibe/milestone-triggers-operator/internal/notify/slack"
	"github.com/leadvibe/milestone-triggers-operator/internal/notify/teams"
	"github.com/leadvibe/milestone-triggers-operator/internal/notify/webhook"
	"github.com/leadvibe/milestone-triggers-operator/internal/ownership"
	"github.com/leadvibe/milestone-triggers-operator/internal/pipeline"
	"github.com/leadvibe/milestone-triggers-operator/internal/ratelimit"
	"github.com/leadvibe/milestone-triggers-operator/internal/resolve"
	"github.com/leadvibe/milestone-triggers-operator/internal/restapi"
	"github.com/leadvibe/milestone-triggers-operator/internal/router"
	"github.com/leadvibe/milestone-triggers-operator/internal/simulate"
	"github.com/leadvibe/milestone-triggers-operator/internal/stream"
	"github.com/leadvibe/milestone-triggers-operator/internal/streamauth"
	"github.com/leadvibe/milestone-triggers-operator/internal/triggerset"
)

// Scheme holds the types the operator's clients know: Kubernetes' own and
// MilestoneTrigger.
var Scheme = runtime.NewScheme()

var setupLog = ctrl.Log.WithName("setup")

func init() {
	utilruntime.Must(clientgoscheme.AddToScheme(Scheme))
	utilruntime.Must(triggersv1alpha1.AddToScheme(Scheme))
}

// Run assembles the whole operator on a manager for the cluster of cfg:
// the controller and its startup gate, the stream (embedded or external)
// and its layout, the evaluator, the status projector, the dispatcher and
// its notifiers, the stream listener's callout and throttle, and the REST
// API, all from o; it runs until ctx ends. main.go and the tests that need
// the whole system call it, so that there is one assembly.
func Run(ctx context.Context, cfg *rest.Config, o Config) error {
	var tlsOpts []func(*tls.Config)
	if !o.EnableHTTP2 {
		tlsOpts = append(tlsOpts, func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} })
	}
	metricsOpts := metricsserver.Options{
		BindAddress:   o.MetricsAddr,
		SecureServing: o.SecureMetrics,
		TLSOpts:       tlsOpts,
	}
	if o.SecureMetrics {
		metricsOpts.FilterProvider = filters.WithAuthenticationAndAuthorization
	}

	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  Scheme,
		Metrics:                 metricsOpts,
		HealthProbeBindAddress:  o.ProbeAddr,
		PprofBindAddress:        o.PprofAddr,
		LeaderElection:          o.EnableLeaderElection,
		LeaderElectionID:        "milestone-triggers.leadvibe.io",
		LeaderElectionNamespace: o.LeaderElectionNS,
		// A new leader starts at once when the old one stops cleanly.
		LeaderElectionReleaseOnCancel: true,
		// Nothing reads managedFields: not keeping them in the cache saves
		// memory and every copy of every object made from it.
		Cache: cache.Options{DefaultTransform: cache.TransformStripManagedFields()},
	})
	if err != nil {
		return fmt.Errorf("creating the manager: %w", err)
	}

	triggers := triggerset.NewMemory()
	// Evaluation and deliveries wait until the trigger set holds every
	// trigger: an event evaluated against a partial set loses crossings.
	gate := &controllers.StartupGate{Cache: mgr.GetCache(), Log: ctrl.Log.WithName("startup-gate")}
	if err := mgr.Add(gate); err != nil {
		return err
	}
	// One rate limit for the Warning Events of the reconciler and the
	// status projector.
	warnings := &controllers.Warnings{Recorder: mgr.GetEventRecorder("milestone-triggers"), Elected: mgr.Elected()}
	if err := (&controllers.MilestoneTriggerReconciler{
		Client:    mgr.GetClient(),
		APIReader: mgr.GetAPIReader(),
		Triggers:  triggers,
		Gate:      gate,

		AllowUnlabeledSecrets: !o.RequireReferenceableSecrets,
		EmailEnabled:          o.SMTPAddr != "",
		Warnings:              warnings,
		Elected:               mgr.Elected(),
	}).SetupWithManager(ctx, mgr); err != nil {
		return fmt.Errorf("setting up the MilestoneTrigger controller: %w", err)
	}

	// The stream is opened before the manager starts and closed after it
	// has stopped every runnable that uses it.
	notifiers, err := buildNotifiers(o)
	if err != nil {
		return err
	}
	conn, streams, err := openStream(ctx, o, len(notifiers))
	if err != nil {
		return err
	}
	defer conn.Close()
	authn, authz, err := kubeAuth(cfg, o)
	if err != nil {
		return err
	}
	// One per-OU event budget for POST /events and the stream listener.
	limits := ratelimit.New(ratelimit.Rate{PerSecond: o.OUEventsPerSec, Burst: o.OUEventsBurst}, event.MaxBatchEvents, nil)
	if err := addStreamAuth(mgr, conn, authn, authz, limits); err != nil {
		return err
	}
	ctrlmetrics.Registry.MustRegister(stream.NewUsageCollector(conn.JS))
	ldg := ledger.New(streams)
	if err := addEvaluation(ctx, mgr, cfg, o, streams, ldg, triggers, gate); err != nil {
		return err
	}
	// The one writer of the firing summary and delivery health, from the
	// outbox and the history.
	if err := mgr.Add(&controllers.StatusProjector{
		Client:       mgr.GetClient(),
		Reader:       mgr.GetAPIReader(),
		JS:           conn.JS,
		Ledger:       ldg,
		Recorder:     mgr.GetEventRecorder("milestone-triggers"),
		Warnings:     warnings,
		EmailEnabled: o.SMTPAddr != "",
		Log:          ctrl.Log.WithName("status"),
		Interval:     o.StatusInterval,
	}); err != nil {
		return err
	}
	hist := history.New(streams)
	if err := mgr.Add(&notify.Dispatcher{
		Streams:   streams,
		Triggers:  triggers,
		Ready:     gate.Done(),
		Notifiers: notifiers,
		Log:       ctrl.Log.WithName("dispatcher"),
		History:   hist.Recorder(5 * time.Second),
		// Concurrency and PerDestination: see the flags.
		Concurrency:    o.DeliveryConcurrency,
		PerDestination: o.DeliveryPerDestination,
	}); err != nil {
		return err
	}

	if o.APIAddr != "0" {
		sim := simulate.Config{Notifiers: notifiers}
		if o.SMTPAddr != "" {
			sim.EmailFrom = o.SMTPFrom
		}
		if err := addRESTAPI(mgr, cfg, o, streams, hist, sim, authn, authz, limits); err != nil {
			return err
		}
	}

	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return fmt.Errorf("adding the health check: %w", err)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return fmt.Errorf("adding the readiness check: %w", err)
	}

	setupLog.Info("Starting the manager")
	return mgr.Start(ctx)
}

// buildNotifiers makes a notifier per channel: webhook, Slack and Teams
// through one HTTP client that refuses the denied ranges outside the
// allowed ones, and email when a relay is configured. Simulate's test
// sends use these notifiers too, so the same policy holds for them.
func buildNotifiers(o Config) ([]notify.Notifier, error) {
	deny, err := safehttp.ParseCIDRs(o.DenyCIDRs)
	if err != nil {
		return nil, fmt.Errorf("--webhook-deny-cidrs: %w", err)
	}
	allow, err := safehttp.ParseCIDRs(o.AllowCIDRs)
	if err != nil {
		return nil, fmt.Errorf("--webhook-allow-cidrs: %w", err)
	}
	if len(allow) > 0 {
		setupLog.Info("Webhook targets in these ranges are allowed despite the deny list", "allowed", safehttp.FormatCIDRs(allow))
	}
	// The dispatcher times attempts out.
	client := safehttp.NewClient(safehttp.Policy{Deny: deny, Allow: allow}, 0)
	notifiers := []notify.Notifier{webhook.New(client), slack.New(client), teams.New(client)}
	if o.SMTPAddr == "" {
		setupLog.Info("Email notifications are off: no --smtp-addr")
		return notifiers, nil
	}
	policy, err := email.ParseStartTLSPolicy(o.SMTPStartTLS)
	if err != nil {
		return nil, fmt.Errorf("--smtp-starttls: %w", err)
	}
	cfg := email.ConfigFromEnv(o.SMTPAddr, o.SMTPFrom)
	cfg.StartTLS = policy
	mail, err := email.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("email notifications: %w", err)
	}
	return append(notifiers, mail), nil
}

// addRESTAPI serves the product's /triggers API on the custom resources,
// authenticating callers with TokenReview and authorizing each call with
// a SubjectAccessReview in the caller's OU.
func addRESTAPI(mgr ctrl.Manager, cfg *rest.Config, o Config, streams *stream.Streams, hist *history.Store, sim simulate.Config,
	authn *kubeauth.Authenticator, authz *kubeauth.Authorizer, limits *ratelimit.OUs) error {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	// A simulation without a previous_score starts from the lead's stored
	// state, read without claiming its partition.
	sim.Leads = ledger.New(streams)
	api, err := restapi.New(restapi.Options{
		Addr:                 o.APIAddr,
		CertFile:             o.APICertFile,
		KeyFile:              o.APIKeyFile,
		Cache:                mgr.GetCache(),
		APIReader:            mgr.GetAPIReader(),
		Writer:               mgr.GetClient(),
		TokenReviews:         cs.AuthenticationV1(),
		SubjectAccessReviews: cs.AuthorizationV1(),
		Authenticator:        authn,
		Authorizer:           authz,
		Logger:               ctrl.Log.WithName("restapi"),
		Routes: append([]restapi.Route{
			restapi.IngestRoute(streams.Events, limits),
			restapi.SimulateRoute(mgr.GetCache(),
				resolve.Resolver{Reader: mgr.GetAPIReader(), AllowUnlabeledSecrets: !o.RequireReferenceableSecrets},
				restapi.SecretAccessReviews(cs.AuthorizationV1()), sim),
			restapi.ResendRoute(streams),
			restapi.BacktestRoute(mgr.GetCache(), restapi.NewBacktests(backtest.Stream{JS: streams.JS}, backtestLimits(o), o.BacktestConcurrency)),
		}, restapi.HistoryRoutes(hist)...),
	})
	if err != nil {
		return fmt.Errorf("setting up the REST API: %w", err)
	}
	return mgr.Add(api)
}

// backtestLimits are the flags' limits of a backtest, the defaults for
// those not set (a Config built in code).
func backtestLimits(o Config) backtest.Limits {
	l := backtest.DefaultLimits
	if o.BacktestMaxEvents > 0 {
		l.MaxEvents = o.BacktestMaxEvents
	}
	if o.BacktestTimeLimit > 0 {
		l.TimeLimit = o.BacktestTimeLimit
	}
	return l
}

// openStream opens the embedded or external stream and ensures the whole
// JetStream layout (internal/stream/layout.go), with the retention and
// delivery settings of the flags.
func openStream(ctx context.Context, o Config, channels int) (*stream.Conn, *stream.Streams, error) {
	sync, err := stream.ParseSyncPolicy(o.StreamSync)
	if err != nil {
		return nil, nil, err
	}
	limits, err := stream.ParseByteLimits(o.StreamMaxBytes)
	if err != nil {
		return nil, nil, fmt.Errorf("--stream-max-bytes: %w", err)
	}
	conn, err := stream.Open(ctx, stream.Config{
		URL:      o.NATSURL,
		DataDir:  o.DataDir,
		Sync:     sync,
		Listen:   o.StreamListen,
		Replicas: o.StreamReplicas,
		// The listener's TLS, and the admin user of the local system's
		// tools (a password from the environment, never a flag).
		TLSCertFile:     o.StreamTLSCertFile,
		TLSKeyFile:      o.StreamTLSKeyFile,
		TLSClientCAFile: o.StreamTLSClientCAFile,
		AdminPassword:   os.Getenv(stream.AdminPasswordEnv),
	})
	if err != nil {
		return nil, nil, fmt.Errorf("opening the event stream: %w", err)
	}
	layout := stream.DefaultLayout
	layout.History = o.HistoryRetention
	layout.Bytes = limits
	layout.Deliveries = notify.StateTTL(notify.DefaultSchedule)
	layout.DispatcherAckWait = notify.AckWait(0, channels)
	// Firings whose attempts are made wait for their history and their
	// acknowledgement without holding a delivery slot: many more than the
	// slots may be pending.
	layout.DispatcherMaxAckPending = 16 * max(o.DeliveryConcurrency, 1)
	layout.Partitions = o.Partitions
	streams, err := conn.Ensure(ctx, layout)
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	if stream.PlainNonLoopbackListener(o.StreamListen, o.StreamTLSCertFile) {
		setupLog.Info("Warning: the stream listener is plain text on a non-loopback address: tokens and events cross the network unencrypted; set --stream-tls-cert-file and --stream-tls-key-file", "listen", o.StreamListen)
	}
	if o.NATSURL == "" {
		setupLog.Info("Embedded event stream ready", "dataDir", o.DataDir, "sync", sync.String(), "clientURL", conn.ClientURL())
	} else {
		setupLog.Info("External event stream ready", "url", triggerset.RedactURL(o.NATSURL))
	}
	return conn, streams, nil
}

// addEvaluation adds what evaluates the events: the router of events
// published without their lead (on the leader), and this replica's share
// of the partitions, each held with a Lease (internal/ownership) and
// evaluated by the pipeline. A layout from before partitions is migrated
// first.
func addEvaluation(ctx context.Context, mgr ctrl.Manager, cfg *rest.Config, o Config, streams *stream.Streams, ldg *ledger.Ledger,
	triggers triggerset.Set, gate *controllers.StartupGate) error {
	moved, err := ldg.MigrateUnpartitioned(ctx, streams.Partitions)
	if err != nil {
		return fmt.Errorf("moving lead states into partitions: %w", err)
	}
	if moved > 0 {
		setupLog.Info("Moved lead states into their partitions", "leads", moved, "partitions", streams.Partitions)
	}
	if err := mgr.Add(&router.Router{Streams: streams, Log: ctrl.Log.WithName("router")}); err != nil {
		return err
	}
	identity, err := replicaID(o)
	if err != nil {
		return err
	}
	namespace, err := ownershipNamespace(o)
	if err != nil {
		return err
	}
	pl := &pipeline.Pipeline{
		Streams:   streams,
		Ledger:    pipeline.Real(ldg),
		Triggers:  triggers,
		Log:       ctrl.Log.WithName("evaluator"),
		Identity:  identity,
		Ready:     gate.Done(),
		CacheSize: o.LeadCacheSize,
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	owner, err := ownership.New(ownership.Config{
		Client:        cs.CoordinationV1(),
		Namespace:     namespace,
		Name:          "milestone-triggers",
		Identity:      identity,
		Partitions:    streams.Partitions,
		LeaseDuration: o.PartitionLeaseDuration,
		RenewDeadline: o.PartitionLeaseDuration * 2 / 3,
		RetryPeriod:   o.PartitionLeaseDuration / 7,
		Run: func(ctx context.Context, p ownership.Partition) {
			_ = pl.RunPartition(ctx, p.Index)
		},
		Log: ctrl.Log.WithName("ownership"),
	})
	if err != nil {
		return fmt.Errorf("partition ownership: %w", err)
	}
	setupLog.Info("Evaluating this replica's share of the partitions", "replica", identity, "partitions", streams.Partitions, "leaseNamespace", namespace)
	return mgr.Add(owner)
}

// replicaID names this replica among the others: --replica-id, else the
// host name (the pod's name in a cluster).
func replicaID(o Config) (string, error) {
	if o.ReplicaID != "" {
		return o.ReplicaID, nil
	}
	host, err := os.Hostname()
	if err != nil {
		return "", fmt.Errorf("naming this replica (set --replica-id): %w", err)
	}
	return host, nil
}

// serviceAccountNamespace is where a pod finds its own namespace.
const serviceAccountNamespace = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// ownershipNamespace is where the partition Leases live: the leader
// election's namespace, else the pod's own, else "default" (a local run).
func ownershipNamespace(o Config) (string, error) {
	if o.LeaderElectionNS != "" {
		return o.LeaderElectionNS, nil
	}
	if b, err := os.ReadFile(serviceAccountNamespace); err == nil {
		if ns := strings.TrimSpace(string(b)); ns != "" {
			return ns, nil
		}
	}
	return "default", nil
}

// kubeAuth builds the Kubernetes checks that the REST API and the stream
// listener share: one TokenReview authenticator (audiences, cache and
// failed-authentication limiter) and one SubjectAccessReview authorizer.
func kubeAuth(cfg *rest.Config, o Config) (*kubeauth.Authenticator, *kubeauth.Authorizer, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, nil, err
	}
	authn := kubeauth.NewAuthenticator(cs.AuthenticationV1(), kubeauth.AuthenticatorOptions{
		Audiences: splitList(o.APITokenAudiences),
		Limiter:   kubeauth.NewFailureLimiter(o.AuthFailureLimit, o.AuthFailureWindow, 0, nil),
	})
	return authn, kubeauth.NewAuthorizer(cs.AuthorizationV1(), 0, 0), nil
}

// addStreamAuth runs the stream listener's auth callout service on the
// operator's connection, and the throttle that holds its publishers to
// their OUs' event budget, when there is a listener.
func addStreamAuth(mgr ctrl.Manager, conn *stream.Conn, authn *kubeauth.Authenticator, authz *kubeauth.Authorizer, limits *ratelimit.OUs) error {
	if conn.CalloutIssuer() == nil {
		return nil
	}
	var throttle *streamauth.Throttle
	if limits.Limited() {
		throttle = &streamauth.Throttle{Server: conn.Server(), Limits: limits, Log: ctrl.Log.WithName("stream-throttle")}
		if err := mgr.Add(throttle); err != nil {
			return err
		}
	}
	return mgr.Add(&streamauth.Service{
		Conn:          conn.NC,
		Issuer:        conn.CalloutIssuer(),
		Authenticator: authn,
		Authorizer:    authz,
		Throttle:      throttle,
		Log:           ctrl.Log.WithName("streamauth"),
	})
}

// splitList reads a comma-separated flag value, without blanks.
func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}
