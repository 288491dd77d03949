// Command manager runs the Milestone Triggers operator: the controller that
// turns MilestoneTrigger resources into the evaluator's trigger set, with
// health probes, metrics and leader election.
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	_ "k8s.io/client-go/plugin/pkg/client/auth"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	triggersv1alpha1 "github.com/leadvibe/milestone-triggers-operator/api/v1alpha1"
	"github.com/leadvibe/milestone-triggers-operator/controllers"
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
	"github.com/leadvibe/milestone-triggers-operator/internal/pipeline"
	"github.com/leadvibe/milestone-triggers-operator/internal/ratelimit"
	"github.com/leadvibe/milestone-triggers-operator/internal/resolve"
	"github.com/leadvibe/milestone-triggers-operator/internal/restapi"
	"github.com/leadvibe/milestone-triggers-operator/internal/simulate"
	"github.com/leadvibe/milestone-triggers-operator/internal/stream"
	"github.com/leadvibe/milestone-triggers-operator/internal/streamauth"
	"github.com/leadvibe/milestone-triggers-operator/internal/triggerset"
	"github.com/leadvibe/milestone-triggers-operator/internal/version"
)

var (
	scheme   = runtime.NewScheme()
	setupLog = ctrl.Log.WithName("setup")
)

func init() {
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(triggersv1alpha1.AddToScheme(scheme))
}

// options are the command-line settings. --kubeconfig is registered by
// controller-runtime itself.
type options struct {
	metricsAddr          string
	secureMetrics        bool
	enableHTTP2          bool
	probeAddr            string
	pprofAddr            string
	enableLeaderElection bool
	leaderElectionNS     string

	apiAddr        string
	apiCertFile    string
	apiKeyFile     string
	dataDir        string
	natsURL        string
	streamSync     string
	streamListen   string
	streamReplicas int

	streamTLSCertFile     string
	streamTLSKeyFile      string
	streamTLSClientCAFile string
	apiTokenAudiences     string
	authFailureLimit      int
	authFailureWindow     time.Duration

	smtpAddr     string
	smtpFrom     string
	smtpStartTLS string
	denyCIDRs    string
	allowCIDRs   string

	requireReferenceableSecrets bool

	historyRetention time.Duration
	streamMaxBytes   string
	ouEventsPerSec   float64
	ouEventsBurst    int
	statusInterval   time.Duration

	deliveryConcurrency    int
	deliveryPerDestination int
}

func parseFlags() (options, zap.Options) {
	var o options
	flag.StringVar(&o.metricsAddr, "metrics-bind-address", "0",
		"The address the metrics endpoint binds to, for example :8443 (HTTPS) or :8080 (HTTP with --metrics-secure=false). \"0\" disables it.")
	flag.BoolVar(&o.secureMetrics, "metrics-secure", true,
		"Serve metrics over HTTPS, authenticating and authorizing each scrape against the Kubernetes API (TokenReview and SubjectAccessReview).")
	flag.BoolVar(&o.enableHTTP2, "enable-http2", false,
		"Enable HTTP/2 for the metrics server. Off by default, against the HTTP/2 Stream Cancellation and Rapid Reset CVEs.")
	flag.StringVar(&o.probeAddr, "health-probe-bind-address", ":8081",
		"The address the /healthz and /readyz probe endpoints bind to.")
	flag.StringVar(&o.pprofAddr, "pprof-bind-address", "0",
		"The address Go's pprof endpoints (/debug/pprof/) bind to, for profiling, for example 127.0.0.1:6060. \"0\" disables them (the default); never expose them beyond the pod.")
	flag.BoolVar(&o.enableLeaderElection, "leader-elect", false,
		"Enable leader election, so that one replica at a time reconciles and evaluates.")
	flag.StringVar(&o.leaderElectionNS, "leader-election-namespace", "",
		"The namespace of the leader-election Lease; defaults to the manager's own namespace in a cluster.")
	flag.StringVar(&o.apiAddr, "api-bind-address", ":8080",
		"The address the REST API (/triggers) binds to. \"0\" disables it.")
	flag.StringVar(&o.apiCertFile, "api-tls-cert-file", "",
		"PEM certificate (chain) the REST API serves HTTPS with, together with --api-tls-key-file. Empty: plain HTTP, for a TLS-terminating proxy or ingress in front.")
	flag.StringVar(&o.apiKeyFile, "api-tls-key-file", "", "PEM private key of --api-tls-cert-file.")
	flag.StringVar(&o.dataDir, "data-dir", "/var/lib/milestone-triggers",
		"Where the embedded NATS JetStream server keeps the event stream, lead states and firings. Unused with --nats-url.")
	flag.StringVar(&o.natsURL, "nats-url", "",
		"URL of an external NATS JetStream server or cluster, for example nats://nats.nats:4222. Empty runs one embedded in this process.")
	flag.StringVar(&o.streamSync, "stream-sync", "always",
		"When the embedded stream fsyncs: \"always\" (every write, before it is acknowledged: nothing acknowledged is lost on power loss) or an interval such as 2m (NATS's default; faster, but a power loss can lose what was acknowledged since the last fsync).")
	flag.IntVar(&o.streamReplicas, "stream-replicas", 1,
		"How many copies an external NATS cluster keeps of every stream and bucket the operator creates (3 for a three-node cluster). Needs --nats-url above 1.")
	flag.StringVar(&o.streamListen, "stream-listen", "",
		"Let NATS clients outside this process publish to the embedded stream at this address, for example 127.0.0.1:4222. Clients authenticate with a Kubernetes service-account token (TokenReview) and may publish only to the event subjects of the OUs where they may create milestonetriggers/events (SubjectAccessReview); anonymous clients are refused. Empty: no network listener.")
	flag.StringVar(&o.streamTLSCertFile, "stream-tls-cert-file", "",
		"PEM certificate (chain) the --stream-listen listener serves TLS with, together with --stream-tls-key-file; clients then connect with tls://. Empty: plain text (a warning is logged unless the listener is on loopback).")
	flag.StringVar(&o.streamTLSKeyFile, "stream-tls-key-file", "", "PEM private key of --stream-tls-cert-file.")
	flag.StringVar(&o.streamTLSClientCAFile, "stream-tls-client-ca-file", "",
		"PEM CA bundle: when set, stream clients must also present a certificate it signed (mutual TLS), besides their token. Needs --stream-tls-cert-file.")
	flag.StringVar(&o.apiTokenAudiences, "api-token-audiences", "",
		"Comma-separated audiences the tokens of REST API and stream clients must be valid for (TokenReview), for example milestone-triggers, for tokens minted with kubectl create token <sa> --audience milestone-triggers. Empty: the API server's own audiences.")
	flag.IntVar(&o.authFailureLimit, "auth-failure-limit", kubeauth.DefaultFailureLimit,
		"How many failed authentications one client address (an IPv6 /64) may have within --auth-failure-window, over the REST API and the stream listener together, before further attempts are refused without a TokenReview (REST: 429 with Retry-After) until the window passes. 0: no limit.")
	flag.DurationVar(&o.authFailureWindow, "auth-failure-window", kubeauth.DefaultFailureWindow,
		"The window of --auth-failure-limit, from an address's first failure.")
	flag.StringVar(&o.smtpAddr, "smtp-addr", "",
		"host:port of the SMTP relay for email notifications. Empty disables email. Credentials come from the SMTP_USERNAME and SMTP_PASSWORD environment variables (for example from a Secret), never from flags.")
	flag.StringVar(&o.smtpFrom, "smtp-from", "",
		"The From address of email notifications, for example \"Milestone Triggers <triggers@example.com>\".")
	flag.StringVar(&o.smtpStartTLS, "smtp-starttls", "auto",
		"STARTTLS with the relay: auto (when offered), always (required) or never.")
	flag.StringVar(&o.denyCIDRs, "webhook-deny-cidrs", safehttp.DefaultDenyCIDRs,
		"Comma-separated address ranges that webhook, Slack and Teams targets (and simulate's test sends) may not reach, checked after DNS resolution at every connection; IPv4-mapped and NAT64 IPv6 forms count as their IPv4 address. The default refuses loopback, unspecified, private (RFC 1918, fc00::/7), shared (100.64.0.0/10), link-local, multicast and cloud metadata addresses. Setting it replaces the whole list; \"\" denies nothing.")
	flag.StringVar(&o.allowCIDRs, "webhook-allow-cidrs", "",
		"Comma-separated address ranges that webhook, Slack and Teams targets may reach even though --webhook-deny-cidrs lists them, checked first: the way to allow an in-cluster receiver on purpose, for example 10.96.12.34/32 (one Service's ClusterIP). Empty: no exceptions.")
	flag.BoolVar(&o.requireReferenceableSecrets, "require-referenceable-secrets", true,
		"Let a trigger use a Secret only when the Secret carries the label triggers.leadvibe.io/referenceable: \"true\"; a trigger referencing another is not Ready (SecretNotReferenceable). Without the check anyone who may edit triggers can have the operator sign with, or send to, any Secret of the namespace: turn it off (false) only on a cluster of one tenant.")
	flag.IntVar(&o.deliveryConcurrency, "delivery-concurrency", 64,
		"How many firings are delivered at once.")
	flag.IntVar(&o.deliveryPerDestination, "delivery-per-destination", 4,
		"How many attempts go to one destination (a webhook, Slack or Teams URL, or one trigger's email recipients) at once: a limit that spares receivers many triggers share.")
	flag.DurationVar(&o.statusInterval, "status-update-interval", 5*time.Second,
		"How often, at most, a trigger's status (fired count, last firing, delivery health) is patched, and a Fired Event recorded, however often it fires: each busy trigger costs the API server two writes per interval.")
	flag.StringVar(&o.streamMaxBytes, "stream-max-bytes", stream.DefaultByteLimits.String(),
		"How much each stream and bucket may hold on disk: comma-separated name=size pairs (Kubernetes quantities); a name left out keeps its default. Full, events, firings, re-sends, leads and deliveries refuse new writes (POST /events answers 507) and history and rejected drop their oldest records.")
	flag.Float64Var(&o.ouEventsPerSec, "ou-events-per-second", 1000,
		"How many events a second each OU may publish, on average, through POST /events and the stream listener together: past it, POST /events answers 429 with Retry-After, and the listener closes the OU's connections and refuses them until the OU is back within its budget. 0: no limit.")
	flag.IntVar(&o.ouEventsBurst, "ou-events-burst", 10000,
		"How many events an OU may publish at once before --ou-events-per-second applies (at least 1000, a full request).")
	flag.DurationVar(&o.historyRetention, "history-retention", 30*24*time.Hour,
		"How long firings and delivery attempts are kept in the history.")
	zapOpts := zap.Options{Development: false}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Usage = func() {
		_, _ = fmt.Fprintf(flag.CommandLine.Output(), "Usage: %s [flags]\n\nRuns the Milestone Triggers operator.\n\nFlags:\n", os.Args[0])
		flag.PrintDefaults()
	}
	version.AddFlag(flag.CommandLine)
	flag.Parse()
	return o, zapOpts
}

func main() {
	opts, zapOpts := parseFlags()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))

	if err := run(opts); err != nil {
		setupLog.Error(err, "Manager stopped")
		os.Exit(1)
	}
}

func run(o options) error {
	var tlsOpts []func(*tls.Config)
	if !o.enableHTTP2 {
		tlsOpts = append(tlsOpts, func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} })
	}
	metricsOpts := metricsserver.Options{
		BindAddress:   o.metricsAddr,
		SecureServing: o.secureMetrics,
		TLSOpts:       tlsOpts,
	}
	if o.secureMetrics {
		metricsOpts.FilterProvider = filters.WithAuthenticationAndAuthorization
	}

	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("loading the Kubernetes client configuration: %w", err)
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  scheme,
		Metrics:                 metricsOpts,
		HealthProbeBindAddress:  o.probeAddr,
		PprofBindAddress:        o.pprofAddr,
		LeaderElection:          o.enableLeaderElection,
		LeaderElectionID:        "milestone-triggers.leadvibe.io",
		LeaderElectionNamespace: o.leaderElectionNS,
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
	ctx := ctrl.SetupSignalHandler()
	// Evaluation and deliveries wait until the trigger set holds every
	// trigger: an event evaluated against a partial set loses crossings.
	gate := &controllers.StartupGate{Cache: mgr.GetCache(), Log: ctrl.Log.WithName("startup-gate")}
	if err := mgr.Add(gate); err != nil {
		return err
	}
	// One rate limit for the Warning Events of the reconciler and the
	// status projector.
	warnings := &controllers.Warnings{Recorder: mgr.GetEventRecorder("milestone-triggers")}
	if err := (&controllers.MilestoneTriggerReconciler{
		Client:    mgr.GetClient(),
		APIReader: mgr.GetAPIReader(),
		Triggers:  triggers,
		Gate:      gate,

		AllowUnlabeledSecrets: !o.requireReferenceableSecrets,
		EmailEnabled:          o.smtpAddr != "",
		Warnings:              warnings,
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
	limits := ratelimit.New(ratelimit.Rate{PerSecond: o.ouEventsPerSec, Burst: o.ouEventsBurst}, event.MaxBatchEvents, nil)
	if err := addStreamAuth(mgr, conn, authn, authz, limits); err != nil {
		return err
	}
	ctrlmetrics.Registry.MustRegister(stream.NewUsageCollector(conn.JS))
	ldg := ledger.New(streams)
	if err := mgr.Add(&pipeline.Pipeline{
		Streams:  streams,
		Ledger:   ldg,
		Triggers: triggers,
		Log:      ctrl.Log.WithName("evaluator"),
		Ready:    gate.Done(),
	}); err != nil {
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
		EmailEnabled: o.smtpAddr != "",
		Log:          ctrl.Log.WithName("status"),
		Interval:     o.statusInterval,
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
		Concurrency:    o.deliveryConcurrency,
		PerDestination: o.deliveryPerDestination,
	}); err != nil {
		return err
	}

	if o.apiAddr != "0" {
		sim := simulate.Config{Notifiers: notifiers}
		if o.smtpAddr != "" {
			sim.EmailFrom = o.smtpFrom
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
func buildNotifiers(o options) ([]notify.Notifier, error) {
	deny, err := safehttp.ParseCIDRs(o.denyCIDRs)
	if err != nil {
		return nil, fmt.Errorf("--webhook-deny-cidrs: %w", err)
	}
	allow, err := safehttp.ParseCIDRs(o.allowCIDRs)
	if err != nil {
		return nil, fmt.Errorf("--webhook-allow-cidrs: %w", err)
	}
	if len(allow) > 0 {
		setupLog.Info("Webhook targets in these ranges are allowed despite the deny list", "allowed", safehttp.FormatCIDRs(allow))
	}
	// The dispatcher times attempts out.
	client := safehttp.NewClient(safehttp.Policy{Deny: deny, Allow: allow}, 0)
	notifiers := []notify.Notifier{webhook.New(client), slack.New(client), teams.New(client)}
	if o.smtpAddr == "" {
		setupLog.Info("Email notifications are off: no --smtp-addr")
		return notifiers, nil
	}
	policy, err := email.ParseStartTLSPolicy(o.smtpStartTLS)
	if err != nil {
		return nil, fmt.Errorf("--smtp-starttls: %w", err)
	}
	cfg := email.ConfigFromEnv(o.smtpAddr, o.smtpFrom)
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
func addRESTAPI(mgr ctrl.Manager, cfg *rest.Config, o options, streams *stream.Streams, hist *history.Store, sim simulate.Config,
	authn *kubeauth.Authenticator, authz *kubeauth.Authorizer, limits *ratelimit.OUs) error {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	api, err := restapi.New(restapi.Options{
		Addr:                 o.apiAddr,
		CertFile:             o.apiCertFile,
		KeyFile:              o.apiKeyFile,
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
				resolve.Resolver{Reader: mgr.GetAPIReader(), AllowUnlabeledSecrets: !o.requireReferenceableSecrets},
				restapi.SecretAccessReviews(cs.AuthorizationV1()), sim),
			restapi.ResendRoute(streams),
		}, restapi.HistoryRoutes(hist)...),
	})
	if err != nil {
		return fmt.Errorf("setting up the REST API: %w", err)
	}
	return mgr.Add(api)
}

// openStream opens the embedded or external stream and ensures the whole
// JetStream layout (internal/stream/layout.go), with the retention and
// delivery settings of the flags.
func openStream(ctx context.Context, o options, channels int) (*stream.Conn, *stream.Streams, error) {
	sync, err := stream.ParseSyncPolicy(o.streamSync)
	if err != nil {
		return nil, nil, err
	}
	limits, err := stream.ParseByteLimits(o.streamMaxBytes)
	if err != nil {
		return nil, nil, fmt.Errorf("--stream-max-bytes: %w", err)
	}
	conn, err := stream.Open(ctx, stream.Config{
		URL:      o.natsURL,
		DataDir:  o.dataDir,
		Sync:     sync,
		Listen:   o.streamListen,
		Replicas: o.streamReplicas,
		// The listener's TLS, and the admin user of the local system's
		// tools (a password from the environment, never a flag).
		TLSCertFile:     o.streamTLSCertFile,
		TLSKeyFile:      o.streamTLSKeyFile,
		TLSClientCAFile: o.streamTLSClientCAFile,
		AdminPassword:   os.Getenv(streamAdminPasswordEnv),
	})
	if err != nil {
		return nil, nil, fmt.Errorf("opening the event stream: %w", err)
	}
	layout := stream.DefaultLayout
	layout.History = o.historyRetention
	layout.Bytes = limits
	layout.Deliveries = notify.StateTTL(notify.DefaultSchedule)
	layout.DispatcherAckWait = notify.AckWait(0, channels)
	// Firings whose attempts are made wait for their history and their
	// acknowledgement without holding a delivery slot: many more than the
	// slots may be pending.
	layout.DispatcherMaxAckPending = 16 * max(o.deliveryConcurrency, 1)
	streams, err := conn.Ensure(ctx, layout)
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	if stream.PlainNonLoopbackListener(o.streamListen, o.streamTLSCertFile) {
		setupLog.Info("Warning: the stream listener is plain text on a non-loopback address: tokens and events cross the network unencrypted; set --stream-tls-cert-file and --stream-tls-key-file", "listen", o.streamListen)
	}
	if o.natsURL == "" {
		setupLog.Info("Embedded event stream ready", "dataDir", o.dataDir, "sync", sync.String(), "clientURL", conn.ClientURL())
	} else {
		setupLog.Info("External event stream ready", "url", triggerset.RedactURL(o.natsURL))
	}
	return conn, streams, nil
}

// streamAdminPasswordEnv names the environment variable whose value, when
// set, lets the stream listener's admin user (stream.AdminUser) in with
// every right: for the local system's tools and tests, never for tenants.
const streamAdminPasswordEnv = "STREAM_ADMIN_PASSWORD"

// kubeAuth builds the Kubernetes checks that the REST API and the stream
// listener share: one TokenReview authenticator (audiences, cache and
// failed-authentication limiter) and one SubjectAccessReview authorizer.
func kubeAuth(cfg *rest.Config, o options) (*kubeauth.Authenticator, *kubeauth.Authorizer, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, nil, err
	}
	authn := kubeauth.NewAuthenticator(cs.AuthenticationV1(), kubeauth.AuthenticatorOptions{
		Audiences: splitList(o.apiTokenAudiences),
		Limiter:   kubeauth.NewFailureLimiter(o.authFailureLimit, o.authFailureWindow, 0, nil),
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
