// Command manager runs the Milestone Triggers operator: the controller that
// turns MilestoneTrigger resources into the evaluator's trigger set, with
// health probes, metrics and leader election.
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	_ "k8s.io/client-go/plugin/pkg/client/auth"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/leadvibe/milestone-triggers-operator/internal/backtest"
	"github.com/leadvibe/milestone-triggers-operator/internal/kubeauth"
	"github.com/leadvibe/milestone-triggers-operator/internal/notify/safehttp"
	"github.com/leadvibe/milestone-triggers-operator/internal/operator"
	"github.com/leadvibe/milestone-triggers-operator/internal/stream"
	"github.com/leadvibe/milestone-triggers-operator/internal/version"
)

var setupLog = ctrl.Log.WithName("setup")

func parseFlags() (operator.Config, zap.Options) {
	var o operator.Config
	flag.StringVar(&o.MetricsAddr, "metrics-bind-address", "0",
		"The address the metrics endpoint binds to, for example :8443 (HTTPS) or :8080 (HTTP with --metrics-secure=false). \"0\" disables it.")
	flag.BoolVar(&o.SecureMetrics, "metrics-secure", true,
		"Serve metrics over HTTPS, authenticating and authorizing each scrape against the Kubernetes API (TokenReview and SubjectAccessReview).")
	flag.BoolVar(&o.EnableHTTP2, "enable-http2", false,
		"Enable HTTP/2 for the metrics server. Off by default, against the HTTP/2 Stream Cancellation and Rapid Reset CVEs.")
	flag.StringVar(&o.ProbeAddr, "health-probe-bind-address", ":8081",
		"The address the /healthz and /readyz probe endpoints bind to.")
	flag.StringVar(&o.PprofAddr, "pprof-bind-address", "0",
		"The address Go's pprof endpoints (/debug/pprof/) bind to, for profiling, for example 127.0.0.1:6060. \"0\" disables them (the default); never expose them beyond the pod.")
	flag.BoolVar(&o.EnableLeaderElection, "leader-elect", false,
		"Enable leader election, so that one replica at a time writes trigger status, routes events published without their lead and runs the status projector; every replica reconciles, evaluates its share of the partitions and delivers. Required with more than one replica.")
	flag.StringVar(&o.LeaderElectionNS, "leader-election-namespace", "",
		"The namespace of the leader-election Lease and of the partition Leases; defaults to the manager's own namespace in a cluster (\"default\" outside one).")
	flag.StringVar(&o.APIAddr, "api-bind-address", ":8080",
		"The address the REST API (/triggers) binds to. \"0\" disables it.")
	flag.StringVar(&o.APICertFile, "api-tls-cert-file", "",
		"PEM certificate (chain) the REST API serves HTTPS with, together with --api-tls-key-file. Empty: plain HTTP, for a TLS-terminating proxy or ingress in front.")
	flag.StringVar(&o.APIKeyFile, "api-tls-key-file", "", "PEM private key of --api-tls-cert-file.")
	flag.StringVar(&o.DataDir, "data-dir", "/var/lib/milestone-triggers",
		"Where the embedded NATS JetStream server keeps the event stream, lead states and firings. Unused with --nats-url.")
	flag.StringVar(&o.NATSURL, "nats-url", "",
		"URL of an external NATS JetStream server or cluster, for example nats://nats.nats:4222. Empty runs one embedded in this process.")
	flag.StringVar(&o.StreamSync, "stream-sync", "always",
		"When the embedded stream fsyncs: \"always\" (every write, before it is acknowledged: nothing acknowledged is lost on power loss) or an interval such as 2m (NATS's default; faster, but a power loss can lose what was acknowledged since the last fsync).")
	flag.IntVar(&o.StreamReplicas, "stream-replicas", 1,
		"How many copies an external NATS cluster keeps of every stream and bucket the operator creates (3 for a three-node cluster). Needs --nats-url above 1.")
	flag.StringVar(&o.StreamListen, "stream-listen", "",
		"Let NATS clients outside this process publish to the embedded stream at this address, for example 127.0.0.1:4222. Clients authenticate with a Kubernetes service-account token (TokenReview) and may publish only to the event subjects of the OUs where they may create milestonetriggers/events (SubjectAccessReview); anonymous clients are refused. Empty: no network listener.")
	flag.StringVar(&o.StreamTLSCertFile, "stream-tls-cert-file", "",
		"PEM certificate (chain) the --stream-listen listener serves TLS with, together with --stream-tls-key-file; clients then connect with tls://. Empty: plain text (a warning is logged unless the listener is on loopback).")
	flag.StringVar(&o.StreamTLSKeyFile, "stream-tls-key-file", "", "PEM private key of --stream-tls-cert-file.")
	flag.StringVar(&o.StreamTLSClientCAFile, "stream-tls-client-ca-file", "",
		"PEM CA bundle: when set, stream clients must also present a certificate it signed (mutual TLS), besides their token. Needs --stream-tls-cert-file.")
	flag.StringVar(&o.APITokenAudiences, "api-token-audiences", "",
		"Comma-separated audiences the tokens of REST API and stream clients must be valid for (TokenReview), for example milestone-triggers, for tokens minted with kubectl create token <sa> --audience milestone-triggers. Empty: the API server's own audiences.")
	flag.IntVar(&o.AuthFailureLimit, "auth-failure-limit", kubeauth.DefaultFailureLimit,
		"How many failed authentications one client address (an IPv6 /64) may have within --auth-failure-window, over the REST API and the stream listener together, before further attempts are refused without a TokenReview (REST: 429 with Retry-After) until the window passes. 0: no limit.")
	flag.DurationVar(&o.AuthFailureWindow, "auth-failure-window", kubeauth.DefaultFailureWindow,
		"The window of --auth-failure-limit, from an address's first failure.")
	flag.StringVar(&o.SMTPAddr, "smtp-addr", "",
		"host:port of the SMTP relay for email notifications. Empty disables email. Credentials come from the SMTP_USERNAME and SMTP_PASSWORD environment variables (for example from a Secret), never from flags.")
	flag.StringVar(&o.SMTPFrom, "smtp-from", "",
		"The From address of email notifications, for example \"Milestone Triggers <triggers@example.com>\".")
	flag.StringVar(&o.SMTPStartTLS, "smtp-starttls", "auto",
		"STARTTLS with the relay: auto (when offered), always (required) or never.")
	flag.StringVar(&o.DenyCIDRs, "webhook-deny-cidrs", safehttp.DefaultDenyCIDRs,
		"Comma-separated address ranges that webhook, Slack and Teams targets (and simulate's test sends) may not reach, checked after DNS resolution at every connection; IPv4-mapped and NAT64 IPv6 forms count as their IPv4 address. The default refuses loopback, unspecified, private (RFC 1918, fc00::/7), shared (100.64.0.0/10), link-local, multicast and cloud metadata addresses. Setting it replaces the whole list; \"\" denies nothing.")
	flag.StringVar(&o.AllowCIDRs, "webhook-allow-cidrs", "",
		"Comma-separated address ranges that webhook, Slack and Teams targets may reach even though --webhook-deny-cidrs lists them, checked first: the way to allow an in-cluster receiver on purpose, for example 10.96.12.34/32 (one Service's ClusterIP). Empty: no exceptions.")
	flag.BoolVar(&o.RequireReferenceableSecrets, "require-referenceable-secrets", true,
		"Let a trigger use a Secret only when the Secret carries the label triggers.leadvibe.io/referenceable: \"true\"; a trigger referencing another is not Ready (SecretNotReferenceable). Without the check anyone who may edit triggers can have the operator sign with, or send to, any Secret of the namespace: turn it off (false) only on a cluster of one tenant.")
	flag.IntVar(&o.DeliveryConcurrency, "delivery-concurrency", 64,
		"How many firings are delivered at once.")
	flag.IntVar(&o.DeliveryPerDestination, "delivery-per-destination", 4,
		"How many attempts go to one destination (a webhook, Slack or Teams URL, or one trigger's email recipients) at once: a limit that spares receivers many triggers share.")
	flag.DurationVar(&o.StatusInterval, "status-update-interval", 5*time.Second,
		"How often, at most, a trigger's status (fired count, last firing, delivery health) is patched, and a Fired Event recorded, however often it fires: each busy trigger costs the API server two writes per interval.")
	flag.StringVar(&o.StreamMaxBytes, "stream-max-bytes", stream.DefaultByteLimits.String(),
		"How much each stream and bucket may hold on disk: comma-separated name=size pairs (Kubernetes quantities); a name left out keeps its default. Full, events, firings, re-sends, leads and deliveries refuse new writes (POST /events answers 507) and history and rejected drop their oldest records.")
	flag.Float64Var(&o.OUEventsPerSec, "ou-events-per-second", 1000,
		"How many events a second each OU may publish, on average, through POST /events and the stream listener together: past it, POST /events answers 429 with Retry-After, and the listener closes the OU's connections and refuses them until the OU is back within its budget. 0: no limit.")
	flag.IntVar(&o.OUEventsBurst, "ou-events-burst", 10000,
		"How many events an OU may publish at once before --ou-events-per-second applies (at least 1000, a full request).")
	flag.IntVar(&o.Partitions, "partitions", stream.DefaultPartitions,
		"How many partitions the events stream is split into, by lead: each is evaluated in order by one replica at a time, so it bounds how many replicas share the evaluation. Set when the streams are created and recorded there; the operator refuses to start with another number (see docs/operations.md, \"Changing the number of partitions\").")
	flag.IntVar(&o.LeadCacheSize, "lead-cache-size", 1_000_000,
		"How many lead states this replica keeps in memory, across the partitions it evaluates (about 160 bytes each, 210 with a pending crossing: BenchmarkLeadCacheBytesPerLead); the others are read from the LEADVIBE_LEADS bucket when their lead has an event.")
	flag.IntVar(&o.BacktestMaxEvents, "backtest-max-events", backtest.DefaultLimits.MaxEvents,
		"The most stored events one backtest (POST /triggers/{id}/backtest) reads, from the start of the events stream's retention; a request's max_events may lower it. A backtest keeps each lead's state in memory, about 200 bytes a lead.")
	flag.DurationVar(&o.BacktestTimeLimit, "backtest-time-limit", backtest.DefaultLimits.TimeLimit,
		"How long one backtest may read for; past it the answer says complete: false, stopped_by: time_limit.")
	flag.IntVar(&o.BacktestConcurrency, "backtest-concurrency", 2,
		"How many backtests this replica runs at once; more answer 429 with Retry-After.")
	flag.StringVar(&o.ReplicaID, "replica-id", "",
		"This replica's name among the replicas sharing the partitions, unique to it. Empty: the host name (the pod's name).")
	flag.DurationVar(&o.PartitionLeaseDuration, "partition-lease-duration", 15*time.Second,
		"How long a partition's Lease holds without renewal: how long the partitions of a replica that died wait before another replica takes them over. A replica that stops cleanly hands them over at once.")
	flag.DurationVar(&o.HistoryRetention, "history-retention", 30*24*time.Hour,
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

	cfg, err := ctrl.GetConfig()
	if err != nil {
		setupLog.Error(err, "Loading the Kubernetes client configuration")
		os.Exit(1)
	}
	if err := operator.Run(ctrl.SetupSignalHandler(), cfg, opts); err != nil {
		setupLog.Error(err, "Manager stopped")
		os.Exit(1)
	}
}
