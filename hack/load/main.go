// Command load measures the real operator end to end, as a user runs it:
// against a running system (the one `make local` starts, or any cluster
// whose event stream the tool can reach), it creates MilestoneTriggers
// through the Kubernetes API, publishes a realistic mix of engagement
// events to the OUs' subjects over NATS, or through the REST API's
// POST /events (--via rest), receives the webhooks on its own loopback
// receiver, and reports the sustained end-to-end rate, the
// event-to-webhook latency and whether every firing arrived exactly once,
// beside the raw stream's own rates measured on the same NATS server in
// the same run.
//
// Against a running local system (`make local` prints the kubeconfig and
// the event stream's NATS URL; its metrics URL is optional):
//
//	go build -o bin/load ./hack/load
//	bin/load --kubeconfig bin/local-state/kubeconfig --nats-url nats://127.0.0.1:NNNNN --rate 5000 --duration 30s
//	bin/load --kubeconfig ... --nats-url ... --rate 0 --duration 30s
//
// or letting it start and stop a local system itself, with the code
// `make local` runs (internal/localsystem; bin/manager built first):
//
//	make build && go build -o bin/load ./hack/load
//	bin/load --start-local --rate 5000 --duration 30s
//
// Through the REST API (--via rest), as an outside publisher that cannot
// reach NATS does; for example the workload of 10 untyped triggers in one
// OU, 30,000 events of 3,000 leads (--max-score 60 gives about 0.34
// firings per event with it), posted in requests of 500 events by 4
// concurrent callers, as fast as possible, then paced at 5,000 events/s:
//
//	bin/load --start-local --via rest --ous 1 --triggers 10 --typed-every 0 --leads 3000 --max-score 60 --events 30000 --rate 0
//	bin/load --start-local --via rest --ous 1 --triggers 10 --typed-every 0 --leads 3000 --max-score 60 --events 30000 --rate 5000
//
// Against a running local system, add --api-url (the REST API it prints)
// and optionally --token-file bin/local-state/token (its demo service
// account; the tool binds it to the event-publisher role in its OUs);
// without --token-file the tool makes a service account of its own.
//
// What it does, in order:
//
//  1. Creates --ous namespaces (OUs) named load-<run>-<i>, each with
//     --triggers-per-ou triggers whose thresholds are spread over the score
//     range (the first untyped, every third waiting for an event type such
//     as demo_request; --typed-every), each posting to the tool's receiver
//     (one loopback port per OU, as each customer has its own endpoint:
//     the operator bounds the deliveries to one destination at once). It
//     waits until every trigger is Ready. With --via rest it also makes
//     sure its bearer token may publish events in every OU: it binds the
//     token's user (--token-file's, or a service account hack-load it
//     creates in the first OU) to the shipped ClusterRole
//     milestonetrigger-event-publisher in each OU (creating the
//     ClusterRole from --rbac-dir when the cluster has none), and waits
//     until the API server's authorizer allows it.
//  2. Publishes events to leadvibe.events.<ou> with JetStream async publish,
//     the event id as the message id, at most --max-inflight unacknowledged:
//     --leads leads, picked from a Zipf distribution (--zipf-s, --zipf-v; a
//     few leads are very active, most are seen a few times), of several types by weight (page views, email
//     activity, forms, webinars, demo requests, and the score decay and
//     unsubscribes that lower a score), each lead's score walking up and
//     down in 0..--max-score, so that triggers cross, go pending and re-arm.
//     Paced at --rate events/s in one batch per --batch-interval, or as fast
//     as possible with --rate 0, for --duration or --events. Each event's
//     created_at is the time it is published, to the nanosecond. Last, one
//     sentinel event per OU that fires its first trigger: the stream is
//     evaluated in order, so its delivery marks the end of the run.
//     With --via rest, the same events go to POST /events instead:
//     --rest-callers concurrent callers, each lead's events always sent by
//     the same caller (by a hash of the lead), in order, in requests
//     {"events":[...]} of up to --rest-batch events of one OU. With
//     --rate 0 a caller sends full requests; paced, it sends whatever is
//     queued whenever its previous request is answered. An event's
//     created_at, and its publish time, is the time its request is sent;
//     the report also gives the latency from when the tool made it (the
//     wait in its caller's queue included). (The sentinels then go through
//     several callers, so they no longer necessarily come last; the tool
//     waits for every expected delivery anyway.)
//  3. Predicts every firing with the operator's own evaluator
//     (internal/evaluator) over the same triggers, so the receiver knows the
//     webhook-id of every delivery it must get: it reports missing,
//     unexpected and repeated deliveries, and the latency of each (arrival
//     minus the event's publish time, or with --via rest the time its
//     request was sent; the tool checks that the payload's created_at kept
//     that time to the nanosecond).
//  4. Waits for every expected delivery (--drain-timeout), and for --settle
//     more to catch late repeats. Meanwhile it reads (never writes) the
//     operator's firing outbox (LEADVIBE_FIRINGS) to tell when the last
//     expected firing was committed: the evaluator's own rate, apart from
//     the deliveries'. Then it checks that the triggers' status.firedCount
//     adds up to the firings.
//  5. Measures the raw stream (unless --raw=false), on scratch streams of
//     the same NATS server configured like the events stream (so the
//     operator's --stream-sync applies to them too), over the network as
//     an outside client, each deleted afterwards: the same number of the
//     same events, from the same seed, published with async publish (as
//     in step 2) until all are acknowledged, then read back with an
//     ordered consumer, as hack/streambench defines "raw"
//     (LOADBENCH_RAW_<RUN>_ASYNC); the same events in atomic batches of
//     --rest-batch through the operator's own stream writer
//     (internal/stream.Writer, one fsync per batch with fsync-always;
//     _BATCH); and up to --raw-sync-events of them one at a time, each
//     waiting for its acknowledgement (_SYNC).
//  6. Deletes the triggers and the namespaces, unless --keep.
//
// The sustained end-to-end rate is the events published divided by the
// time from the first publish to the arrival of the last expected delivery
// (the sentinels' over NATS); with --metrics-url (the operator's Prometheus endpoint,
// for example the one `make local` prints) it also reports the evaluator's
// rate from milestone_triggers_events_consumed_total, when the operator
// exposes it. The targets checked: p99 event-to-webhook latency at most
// 50 ms at 5,000 events/s (assessed on a run with --rate 5000; not met when
// the stream holds the publisher back below that rate), and end to end at
// least half the raw stream's async-publish rate (assessed on a run with
// --rate 0); with --via rest also at least half its atomic-batch rate,
// since POST /events commits each request as one atomic batch.
//
// For each slice of the run it prints the rate published and the latency
// of those events' deliveries, so a growing backlog shows. The tool runs on
// the same machine as the operator and takes CPU from it; it reports its
// own CPU time, the operator's (--operator-pid, found by itself with
// --start-local; the embedded NATS server included), the load average
// before and after, the command line, the Go version and the CPU. A last
// line holds the figures as a Markdown table row for docs/benchmarks.md.
//
// The local system runs the operator with its default --stream-sync
// always; --manager-arg passes it further flags, for example another fsync
// policy:
//
//	bin/load --start-local --manager-arg=--stream-sync=2m --rate 5000 --duration 30s
//
// Profiling: --cpuprofile writes this tool's CPU profile of the
// end-to-end phase; --operator-cpuprofile PREFIX the operator's, from its
// pprof endpoints (--pprof-bind-address, which --start-local turns on
// itself; otherwise give --operator-pprof), in consecutive 5-second
// profiles PREFIX-01.pprof, ... that `go tool pprof -top bin/manager
// PREFIX-*.pprof` merges.
//
// On a control plane without a namespace controller (the local system's)
// the deleted namespaces stay Terminating; each run uses new names.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/leadvibe/milestone-triggers-operator/hack/internal/bench"
	"github.com/leadvibe/milestone-triggers-operator/internal/event"
	"github.com/leadvibe/milestone-triggers-operator/internal/localsystem"
	"github.com/leadvibe/milestone-triggers-operator/internal/stream"
	"github.com/leadvibe/milestone-triggers-operator/internal/version"
)

type options struct {
	kubeconfig  string
	natsURL     string
	metricsURL  string
	operatorPID int

	startLocal    bool
	crdDir        string
	assets        string
	manager       string
	managerArgs   []string
	localStateDir string

	ous           int
	triggersPerOU int
	leads         int
	zipfS         float64
	zipfV         float64
	maxScore      int64
	seed          uint64

	rate        float64
	duration    time.Duration
	events      int
	interval    time.Duration
	maxInflight int

	typedEvery int

	via         string
	apiURL      string
	tokenFile   string
	rbacDir     string
	restBatch   int
	restCallers int

	readyTimeout  time.Duration
	drainTimeout  time.Duration
	settle        time.Duration
	raw           bool
	rawSyncEvents int
	keep          bool

	cpuprofile      string
	operatorProfile string
	operatorPprof   string
}

// How the events are published.
const (
	viaNATS = "nats"
	viaREST = "rest"
)

func parseFlags() options {
	var o options
	// controller-runtime registers --kubeconfig itself (the cluster the
	// operator watches; default $KUBECONFIG, then ~/.kube/config); the
	// tool reads it after parsing.
	if flag.Lookup("kubeconfig") == nil {
		flag.String("kubeconfig", "", "Kubeconfig of the cluster the operator watches (default: $KUBECONFIG, then ~/.kube/config).")
	}
	flag.StringVar(&o.natsURL, "nats-url", "", "NATS URL of the operator's event stream (the local system prints it as \"event stream\").")
	flag.StringVar(&o.metricsURL, "metrics-url", "", "Optional: the operator's Prometheus endpoint (http://.../metrics), to report the evaluator's rate from "+consumedMetric+".")
	flag.IntVar(&o.operatorPID, "operator-pid", 0, "Optional: the operator's process id on this machine, to report the CPU time it used (found by itself with --start-local).")
	flag.BoolVar(&o.startLocal, "start-local", false, "Start a local system as `make local` does (control plane and operator process) for the run and stop it afterwards, instead of --kubeconfig and --nats-url.")
	flag.StringVar(&o.crdDir, "crd-dir", "config/crd/bases", "With --start-local: the CRDs to install.")
	flag.StringVar(&o.assets, "assets", "bin/k8s", "With --start-local: the directory holding kube-apiserver and etcd.")
	flag.StringVar(&o.manager, "manager", "bin/manager", "With --start-local: the operator binary.")
	flag.Func("manager-arg", "With --start-local: a further flag for the operator, such as --manager-arg=--stream-sync=2m (repeatable).", func(v string) error {
		o.managerArgs = append(o.managerArgs, v)
		return nil
	})
	flag.StringVar(&o.localStateDir, "local-state-dir", "bin/load-state", "With --start-local: the local system's state directory.")
	flag.IntVar(&o.ous, "ous", 4, "OUs (namespaces named load-<run>-<i>) to create.")
	flag.IntVar(&o.triggersPerOU, "triggers-per-ou", 20, "Triggers in each OU.")
	flag.IntVar(&o.triggersPerOU, "triggers", 20, "The same as --triggers-per-ou.")
	flag.IntVar(&o.typedEvery, "typed-every", 3, "Every this many-th trigger of an OU (the third, sixth, ... with 3) waits for an event type; 0 makes every trigger untyped. The first trigger is always untyped.")
	flag.IntVar(&o.leads, "leads", 10000, "Distinct leads, spread over the OUs.")
	flag.Float64Var(&o.zipfS, "zipf-s", 1.1, "Skew of the leads' activity: P(lead of rank k) is proportional to (v+k)^-s; s > 1, higher gives the busiest leads more of the events.")
	flag.Float64Var(&o.zipfV, "zipf-v", 10, "Flattening of the busiest leads' share (the v above, >= 1): with the defaults the busiest lead gets about 2% of the events.")
	flag.Int64Var(&o.maxScore, "max-score", 200, "Scores walk in 0..max-score; thresholds are spread over it.")
	flag.Uint64Var(&o.seed, "seed", 1, "Seed of the workload.")
	flag.Float64Var(&o.rate, "rate", 5000, "Target events/s; 0 publishes as fast as the in-flight bound (or with --via rest, the callers) allows.")
	flag.DurationVar(&o.duration, "duration", 30*time.Second, "How long to publish (unless --events is set).")
	flag.IntVar(&o.events, "events", 0, "Events to publish (not counting one sentinel per OU); 0 publishes for --duration.")
	flag.DurationVar(&o.interval, "batch-interval", 5*time.Millisecond, "With --rate: publish one batch per interval.")
	flag.IntVar(&o.maxInflight, "max-inflight", 4096, "Bound on unacknowledged async publishes (over NATS, and in the raw async measurement).")
	flag.StringVar(&o.via, "via", viaNATS, "How to publish the events: nats (async publish to the operator's NATS listener) or rest (POST /events of the REST API).")
	flag.StringVar(&o.apiURL, "api-url", "", "With --via rest: the REST API's base URL, such as http://127.0.0.1:NNNNN (the local system prints it as \"REST API\"; --start-local knows it).")
	flag.StringVar(&o.tokenFile, "token-file", "", "With --via rest: a bearer token to publish with, such as bin/local-state/token (the local system's demo service account); the tool binds its user to "+publisherRole+" in each of its OUs. Empty: the tool creates a service account "+loadServiceAccount+" in its first OU and a token for it.")
	flag.StringVar(&o.rbacDir, "rbac-dir", "config/rbac", "With --via rest: where the shipped ClusterRoles are, to create "+publisherRole+" when the cluster lacks it.")
	flag.IntVar(&o.restBatch, "rest-batch", 500, fmt.Sprintf("With --via rest: events per request, at most (1..%d). Also the batch size of the raw atomic-batch measurement.", event.MaxBatchEvents))
	flag.IntVar(&o.restCallers, "rest-callers", 4, "With --via rest: concurrent callers; each lead's events are always sent by the same one, in order.")
	flag.DurationVar(&o.readyTimeout, "ready-timeout", 2*time.Minute, "How long to wait for the triggers to be Ready.")
	flag.DurationVar(&o.drainTimeout, "drain-timeout", 5*time.Minute, "How long to wait, after publishing, for every expected delivery.")
	flag.DurationVar(&o.settle, "settle", time.Second, "How long to keep receiving after the last expected delivery, to catch late repeats.")
	flag.BoolVar(&o.raw, "raw", true, "Also measure the raw stream's rates on the same server (async, atomic batches, one at a time).")
	flag.IntVar(&o.rawSyncEvents, "raw-sync-events", 20000, "At most this many events in the raw one-at-a-time measurement (0 skips it): with fsync on every write it runs at a few thousand a second.")
	flag.StringVar(&o.cpuprofile, "cpuprofile", "", "Write a CPU profile of this tool (publisher, oracle, receiver) over the end-to-end phase here.")
	flag.StringVar(&o.operatorProfile, "operator-cpuprofile", "", "Write CPU profiles of the operator over the end-to-end phase to `PREFIX`-01.pprof, -02, ... (5 s each; go tool pprof -top bin/manager PREFIX-*.pprof merges them), from its pprof endpoint: --start-local turns it on, otherwise see --operator-pprof.")
	flag.StringVar(&o.operatorPprof, "operator-pprof", "", "With --operator-cpuprofile and a running operator: the address its --pprof-bind-address serves, such as 127.0.0.1:6060.")
	flag.BoolVar(&o.keep, "keep", false, "Keep the namespaces and triggers afterwards.")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "Usage: %s [flags]\n\nMeasures the operator end to end: triggers, events, webhooks. See `go doc ./hack/load`.\n\nFlags:\n", os.Args[0])
		flag.PrintDefaults()
	}
	version.AddFlag(flag.CommandLine)
	flag.Parse()
	o.kubeconfig = flag.Lookup("kubeconfig").Value.String()
	return o
}

func main() {
	o := parseFlags()
	if err := o.validate(); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

func (o options) validate() error {
	switch {
	case !o.startLocal && o.natsURL == "":
		return errors.New("--nats-url is required (or --start-local)")
	case o.ous < 1 || o.ous > 100:
		return errors.New("--ous must be in 1..100")
	case o.triggersPerOU < 1 || o.triggersPerOU > 1000:
		return errors.New("--triggers-per-ou must be in 1..1000")
	case o.leads < 2:
		return errors.New("--leads must be at least 2")
	case o.zipfS <= 1:
		return errors.New("--zipf-s must be greater than 1")
	case o.zipfV < 1:
		return errors.New("--zipf-v must be at least 1")
	case o.maxScore < 40:
		return errors.New("--max-score must be at least 40")
	case o.rate < 0:
		return errors.New("--rate must not be negative")
	case o.events < 0 || o.events == 0 && o.duration <= 0:
		return errors.New("set a positive --duration or --events")
	case o.interval <= 0:
		return errors.New("--batch-interval must be positive")
	case o.maxInflight < 1:
		return errors.New("--max-inflight must be positive")
	case o.typedEvery < 0:
		return errors.New("--typed-every must not be negative")
	case o.via != viaNATS && o.via != viaREST:
		return errors.New("--via must be nats or rest")
	case o.via == viaREST && !o.startLocal && o.apiURL == "":
		return errNoAPI
	case o.restBatch < 1 || o.restBatch > event.MaxBatchEvents:
		return fmt.Errorf("--rest-batch must be in 1..%d", event.MaxBatchEvents)
	case o.restCallers < 1 || o.restCallers > 256:
		return errors.New("--rest-callers must be in 1..256")
	case o.rawSyncEvents < 0:
		return errors.New("--raw-sync-events must not be negative")
	case o.operatorProfile != "" && !o.startLocal && o.operatorPprof == "":
		return errors.New("--operator-cpuprofile needs --operator-pprof (the operator's --pprof-bind-address), or --start-local")
	}
	return nil
}

func run(ctx context.Context, o options) (retErr error) {
	mach := bench.DescribeMachine()
	run := strconv.FormatUint(rand.Uint64N(36*36*36*36*36*36), 36)
	rep := &report{opts: o, run: run, command: bench.CommandLine(os.Args, "./hack/load"), machine: mach, loadBefore: bench.LoadAverage()}
	fmt.Printf("# hack/load run %s\n#   command  %s\n#   %s, %s, %d cores (%s)\n#   load average before: %s\n",
		run, rep.command, mach.GoVer, mach.CPUModel, mach.Cores, mach.Kernel, rep.loadBefore)

	if o.startLocal {
		if o.operatorProfile != "" && o.operatorPprof == "" {
			addr, err := localsystem.FreeLoopbackAddr()
			if err != nil {
				return err
			}
			o.operatorPprof = addr
			o.managerArgs = append(o.managerArgs, "--pprof-bind-address="+addr)
		}
		fmt.Println(">> Starting the local system with", o.manager)
		// The tool measures what the operator carries, not one OU's share
		// of it: no per-OU rate limit unless a --manager-arg sets one.
		args := append([]string{"--ou-events-per-second=0"}, o.managerArgs...)
		ls, err := startLocal(ctx, o.assets, o.crdDir, o.manager, args, o.localStateDir)
		if err != nil {
			return err
		}
		defer func() {
			fmt.Println(">> Stopping the local system")
			retErr = errors.Join(retErr, ls.stop())
		}()
		o.kubeconfig, o.natsURL = ls.kubeconfig, ls.natsURL
		if o.metricsURL == "" {
			o.metricsURL = ls.metricsURL
		}
		if o.operatorPID == 0 {
			o.operatorPID = ls.managerPID
		}
		if o.apiURL == "" {
			o.apiURL = ls.apiURL
		}
		rep.opts = o
		fmt.Printf("   kubeconfig %s, event stream %s, REST API %s, metrics %s\n", o.kubeconfig, o.natsURL, o.apiURL, o.metricsURL)
	}
	if o.operatorPprof != "" {
		o.operatorPprof = pprofURL(o.operatorPprof)
		rep.opts = o
	}

	nc, err := nats.Connect(o.natsURL, nats.Name("milestone-triggers-load"))
	if err != nil {
		return fmt.Errorf("connecting to %s: %w", o.natsURL, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(o.maxInflight), jetstream.WithPublishAsyncTimeout(time.Minute))
	if err != nil {
		return err
	}
	if _, err := js.Stream(ctx, stream.EventsStream); err != nil {
		return fmt.Errorf("the server at %s has no stream %s (is it the operator's event stream?): %w", o.natsURL, stream.EventsStream, err)
	}

	rcv, err := startReceiver(o.ous)
	if err != nil {
		return fmt.Errorf("starting the webhook receiver: %w", err)
	}
	defer rcv.stop()

	kube, clientset, err := newKubeClient(o.kubeconfig)
	if err != nil {
		return err
	}
	fmt.Printf(">> Creating %d OUs with %d triggers each\n", o.ous, o.triggersPerOU)
	started := time.Now()
	ous, err := createTriggers(ctx, kube, run, o.ous, o.triggersPerOU, o.typedEvery, o.maxScore, func(i int, name string) string {
		return rcv.url(i, fmt.Sprintf("load-%s-%d", run, i), name)
	})
	if !o.keep {
		defer func() {
			fmt.Println(">> Deleting the triggers and namespaces")
			cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			retErr = errors.Join(retErr, cleanup(cctx, kube, ous))
		}()
	}
	if err != nil {
		return err
	}
	if err := waitReady(ctx, kube, ous, o.readyTimeout); err != nil {
		return err
	}
	fmt.Printf("   %d triggers Ready in %s\n", o.ous*o.triggersPerOU, time.Since(started).Round(time.Millisecond))

	var id restIdentity
	if o.via == viaREST {
		if id, err = restToken(ctx, clientset, o.tokenFile, o.rbacDir, ous); err != nil {
			return fmt.Errorf("a token to publish events with: %w", err)
		}
		fmt.Printf("   POST /events as %s (%s), allowed to publish in every OU\n", id.user, id.where)
	}

	if err := measureEndToEnd(ctx, o, rep, js, kube, rcv, ous, id); err != nil {
		return err
	}

	if o.raw && ctx.Err() == nil {
		syncEvents := min(rep.load.events, o.rawSyncEvents)
		fmt.Printf(">> Measuring the raw stream on scratch streams of the same server: %d events async and in atomic batches of %d, %d one at a time\n",
			rep.load.events, o.restBatch, syncEvents)
		raw, err := measureRaw(ctx, js, run, func() *workload {
			return newWorkload(run, o.seed, o.leads, o.ous, o.zipfS, o.zipfV, o.maxScore)
		}, rawOptions{events: rep.load.events, inflight: o.maxInflight, syncEvents: syncEvents, batch: o.restBatch})
		if err != nil {
			return fmt.Errorf("measuring the raw stream: %w", err)
		}
		rep.raw = &raw
	}
	rep.loadAfter = bench.LoadAverage()
	rep.print(os.Stdout)
	return rep.drainErr // missing deliveries fail the run, after the report
}
