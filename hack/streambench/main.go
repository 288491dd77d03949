// Command streambench measures the event pipeline end to end (events
// published to the embedded JetStream, evaluated, firings and lead states
// committed durably) beside the raw stream's own publish and consume rates,
// in the same run, on the same machine, for each fsync policy. Results go
// to docs/benchmarks.md.
//
//	go run ./hack/streambench -events 20000 -sync always
//	go run ./hack/streambench -events 200000 -sync 2m
//	go run ./hack/streambench -events 20000 -sync always -e2e-publisher async,batch
//
// Each measurement runs on a fresh embedded server with the operator's
// layout, the publisher on a connection of its own (in process), as an
// outside client has:
//
//   - raw sync publish: one event at a time, each waiting for its
//     acknowledgement (with -sync always, one fsync per event);
//   - raw async publish: every event published asynchronously, at most
//     8192 unacknowledged;
//   - raw atomic-batch publish: the events in atomic batches of
//     -atomic-batch (ADR-50) through the operator's stream writer
//     (internal/stream.Writer; one fsync per batch with -sync always), a
//     few batches handed to the writer ahead so that it always has the
//     next one;
//   - raw ordered consume: the async-published events read back;
//   - end to end: the pipeline running while the events are published,
//     with each publisher of -e2e-publisher (async, batch or sync, the
//     same ways as above), until the last event's firings are durable.
//
// The ratio printed is end to end over the raw atomic-batch publish rate,
// and over the raw rate of the same publisher as the end-to-end run.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	dto "github.com/prometheus/client_model/go"
	"k8s.io/apimachinery/pkg/types"

	"github.com/leadvibe/milestone-triggers-operator/internal/event"
	"github.com/leadvibe/milestone-triggers-operator/internal/ledger"
	"github.com/leadvibe/milestone-triggers-operator/internal/metrics"
	"github.com/leadvibe/milestone-triggers-operator/internal/pipeline"
	"github.com/leadvibe/milestone-triggers-operator/internal/stream"
	"github.com/leadvibe/milestone-triggers-operator/internal/triggerset"
	"github.com/leadvibe/milestone-triggers-operator/internal/version"
)

const ou = "bench"

// publisher is one way an outside client publishes the events.
type publisher string

const (
	pubSync  publisher = "sync"  // one at a time, each waiting for its ack
	pubAsync publisher = "async" // asynchronously, a bounded number in flight
	pubBatch publisher = "batch" // atomic batches through stream.Writer
)

func parsePublishers(s string) ([]publisher, error) {
	var out []publisher
	for _, f := range strings.Split(s, ",") {
		switch p := publisher(strings.TrimSpace(f)); p {
		case pubSync, pubAsync, pubBatch:
			out = append(out, p)
		default:
			return nil, fmt.Errorf("-e2e-publisher: %q is not async, batch or sync", f)
		}
	}
	return out, nil
}

func main() {
	events := flag.Int("events", 20000, "Events per measurement.")
	leads := flag.Int("leads", 10000, "Distinct leads.")
	triggers := flag.Int("triggers", 100, "Triggers in the OU.")
	syncFlag := flag.String("sync", "always", "Fsync policy of the embedded server: always, or an interval such as 2m.")
	batch := flag.Int("batch", 512, "The pipeline's batch size.")
	atomicBatch := flag.Int("atomic-batch", 500, fmt.Sprintf("Events per atomic batch of the raw atomic-batch publish and of -e2e-publisher batch (1..%d).", stream.MaxAtomicBatch))
	e2ePub := flag.String("e2e-publisher", "async", "How the end-to-end run publishes: async, batch (atomic batches of -atomic-batch, as outside publishers should) or sync; a comma-separated list runs one end-to-end measurement each.")
	partitionsFlag := flag.String("partitions", strconv.Itoa(stream.DefaultPartitions), "Partitions of the events stream in the end-to-end runs, all evaluated in this process; a comma-separated list runs each.")
	cpuprofile := flag.String("cpuprofile", "", "Write a CPU profile of the end-to-end run(s) here.")
	version.AddFlag(flag.CommandLine)
	flag.Parse()

	policy, err := stream.ParseSyncPolicy(*syncFlag)
	if err != nil {
		fail(err)
	}
	if *atomicBatch < 1 || *atomicBatch > stream.MaxAtomicBatch {
		fail(fmt.Errorf("-atomic-batch must be in 1..%d", stream.MaxAtomicBatch))
	}
	pubs, err := parsePublishers(*e2ePub)
	if err != nil {
		fail(err)
	}
	evs := workload(*events, *leads)
	fmt.Printf("# streambench: %d events (%d bytes each on average), %d leads, %d triggers, batch %d, atomic batch %d, sync %s, GOMAXPROCS %d\n",
		len(evs), avgSize(evs), *leads, *triggers, *batch, *atomicBatch, policy, runtime.GOMAXPROCS(0))

	rawRate := map[publisher]float64{}
	rawRate[pubSync] = rawPublish(policy, evs, pubSync, *atomicBatch)
	pub, con := raw(policy, evs)
	rawRate[pubAsync] = pub
	rawRate[pubBatch] = rawPublish(policy, evs, pubBatch, *atomicBatch)
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fail(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fail(err)
		}
	}
	type e2eResult struct {
		partitions int
		pub        publisher
		rate       float64
		firings    int64
	}
	var results []e2eResult
	for _, f := range strings.Split(*partitionsFlag, ",") {
		partitions, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || partitions < 1 || partitions > stream.MaxPartitions {
			fail(fmt.Errorf("-partitions: %q is not a number of partitions (1..%d)", f, stream.MaxPartitions))
		}
		for _, p := range pubs {
			rate, firings := endToEnd(policy, evs, *triggers, *batch, p, *atomicBatch, partitions)
			fmt.Printf("# end to end, %d partitions, %s publisher: %.0f events/s, %d firings\n", partitions, p, rate, firings)
			results = append(results, e2eResult{partitions, p, rate, firings})
		}
	}
	pprof.StopCPUProfile()
	fmt.Printf("| sync | raw sync publish (msg/s) | raw async publish (msg/s) | raw atomic-batch publish, %d per batch (msg/s) | raw ordered consume (msg/s) | partitions | end-to-end publisher | end to end (events/s) | end to end / raw atomic batch | end to end / raw publish of its publisher | firings |\n", *atomicBatch)
	fmt.Printf("|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range results {
		fmt.Printf("| %s | %.0f | %.0f | %.0f | %.0f | %d | %s | %.0f | %.0f%% | %.0f%% | %d |\n",
			policy, rawRate[pubSync], rawRate[pubAsync], rawRate[pubBatch], con, r.partitions, r.pub, r.rate,
			100*r.rate/rawRate[pubBatch], 100*r.rate/rawRate[r.pub], r.firings)
	}
}

// workload is a random walk of scores over many leads, with three event
// types, so that triggers cross, go pending and re-arm.
func workload(n, leads int) []event.Event {
	rng := rand.New(rand.NewPCG(1, 2))
	scores := make([]int64, leads)
	eventTypes := []string{"page_view", "page_view", "page_view", "form_submit", "demo_request"}
	now := time.Now().UTC()
	evs := make([]event.Event, n)
	for i := range evs {
		l := rng.IntN(leads)
		scores[l] = max(0, min(200, scores[l]+int64(rng.IntN(21)-8)))
		evs[i] = event.Event{
			ID:        fmt.Sprintf("evt-%08d", i),
			LeadID:    fmt.Sprintf("ld_%06d", l),
			EventType: eventTypes[rng.IntN(len(eventTypes))],
			Score:     scores[l],
			Metadata:  []byte(`{"source":"website","page":"/pricing","campaign":"spring-launch","utm_medium":"email","referrer":"https://www.example.com/blog/scoring"}`),
			CreatedAt: now,
		}
	}
	return evs
}

func avgSize(evs []event.Event) int {
	total := 0
	for _, ev := range evs {
		total += len(ev.Encode())
	}
	return total / len(evs)
}

func open(policy stream.SyncPolicy, partitions int) (*stream.Conn, func()) {
	dir, err := os.MkdirTemp("", "streambench-")
	if err != nil {
		fail(err)
	}
	conn, err := stream.Open(context.Background(), stream.Config{DataDir: dir, Sync: policy})
	if err != nil {
		fail(err)
	}
	if _, err := conn.Ensure(context.Background(), stream.Layout{Partitions: partitions}); err != nil {
		fail(err)
	}
	return conn, func() { conn.Close(); os.RemoveAll(dir) }
}

// outsideClient is a connection of its own to the embedded server, as an
// outside publisher has.
func outsideClient(conn *stream.Conn) (*nats.Conn, jetstream.JetStream) {
	nc, err := nats.Connect("", nats.InProcessServer(conn.Server()))
	if err != nil {
		fail(err)
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(8192))
	if err != nil {
		fail(err)
	}
	return nc, js
}

// publishWith publishes every event the way p says, from a connection of
// its own, and returns once all are acknowledged.
func publishWith(conn *stream.Conn, evs []event.Event, p publisher, atomicBatch int) {
	switch p {
	case pubSync:
		publishSync(conn, evs)
	case pubBatch:
		publishBatches(conn, evs, atomicBatch)
	default:
		publishAll(conn, evs)
	}
}

// publishAll publishes every event asynchronously, with its id as the
// message id, keeping a bounded number in flight, and waits for the acks.
func publishAll(conn *stream.Conn, evs []event.Event) {
	nc, js := outsideClient(conn)
	defer nc.Close()
	for _, ev := range evs {
		for {
			_, err := js.PublishAsync(stream.LeadSubject(ou, ev.LeadID), ev.Encode(), jetstream.WithMsgID(ev.ID))
			if err == nil {
				break
			}
			if !errors.Is(err, jetstream.ErrTooManyStalledMsgs) {
				fail(err)
			}
			// The stream is behind: wait for acknowledgements to drain.
			time.Sleep(time.Millisecond)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(10 * time.Minute):
		fail(fmt.Errorf("publishes not acknowledged"))
	}
}

// publishSync publishes one event at a time, each waiting for its
// acknowledgement before the next.
func publishSync(conn *stream.Conn, evs []event.Event) {
	nc, js := outsideClient(conn)
	defer nc.Close()
	ctx := context.Background()
	for _, ev := range evs {
		if _, err := js.Publish(ctx, stream.LeadSubject(ou, ev.LeadID), ev.Encode(), jetstream.WithMsgID(ev.ID)); err != nil {
			fail(fmt.Errorf("publishing %s: %w", ev.ID, err))
		}
	}
}

// batchesAhead is how many batches the atomic-batch publisher hands the
// writer before it waits for the oldest: the writer commits one at a
// time, and always has the next one ready.
const batchesAhead = 4

// publishBatches writes the events as atomic batches of n (the last one
// shorter) through a stream writer of its own, on its own connection, as
// an outside publisher should. Each batch is one Write, committed as one
// atomic batch (the writer's MaxBatch is n); a refused batch would be
// written again one event at a time, which publishBatches reports.
func publishBatches(conn *stream.Conn, evs []event.Event, n int) {
	nc, js := outsideClient(conn)
	defer nc.Close()
	w := stream.NewWriter(js, stream.EventsStream, stream.WriterOptions{MaxBatch: n})
	defer w.Close()
	fallbacks := fallbackCount()
	ctx := context.Background()
	var waits []func(context.Context) ([]stream.Result, error)
	wait := func() {
		if _, err := waits[0](ctx); err != nil {
			fail(err)
		}
		waits = waits[1:]
	}
	for i := 0; i < len(evs); i += n {
		chunk := evs[i:min(i+n, len(evs))]
		msgs := make([]stream.Msg, len(chunk))
		for j, ev := range chunk {
			msgs[j] = stream.EventMsg(ou, ev)
		}
		if len(waits) == batchesAhead {
			wait()
		}
		waits = append(waits, w.Start(msgs...))
	}
	for len(waits) > 0 {
		wait()
	}
	if f := fallbackCount() - fallbacks; f > 0 {
		fmt.Fprintf(os.Stderr, "streambench: the stream refused %.0f atomic batches, written again one event at a time\n", f)
	}
}

// fallbackCount is how many batches of the events stream were refused
// whole and written one message at a time (the writers' own counter).
func fallbackCount() float64 {
	var m dto.Metric
	if err := metrics.StreamBatchFallbacks.WithLabelValues(stream.EventsStream).Write(&m); err != nil {
		return 0
	}
	return m.GetCounter().GetValue()
}

// rawPublish measures, on a fresh server, publishing the events the way p
// says, and checks that the stream holds them all.
func rawPublish(policy stream.SyncPolicy, evs []event.Event, p publisher, atomicBatch int) float64 {
	conn, done := open(policy, stream.DefaultPartitions)
	defer done()
	start := time.Now()
	publishWith(conn, evs, p, atomicBatch)
	elapsed := time.Since(start)
	checkStored(conn, len(evs))
	rate := float64(len(evs)) / elapsed.Seconds()
	what := map[publisher]string{pubSync: "raw sync publish (one at a time)", pubBatch: fmt.Sprintf("raw atomic-batch publish (%d per batch)", atomicBatch)}[p]
	fmt.Printf("# %s: %d events in %s, %.0f msg/s\n", what, len(evs), elapsed.Round(time.Millisecond), rate)
	return rate
}

func checkStored(conn *stream.Conn, n int) {
	s, err := conn.JS.Stream(context.Background(), stream.EventsStream)
	if err != nil {
		fail(err)
	}
	if got := s.CachedInfo().State.Msgs; got != uint64(n) {
		fail(fmt.Errorf("the stream holds %d of %d events", got, n))
	}
}

// raw measures the stream alone: async publish of the events, then an
// ordered consumer reading them back.
func raw(policy stream.SyncPolicy, evs []event.Event) (publish, consume float64) {
	conn, done := open(policy, stream.DefaultPartitions)
	defer done()
	start := time.Now()
	publishAll(conn, evs)
	elapsed := time.Since(start)
	publish = float64(len(evs)) / elapsed.Seconds()
	checkStored(conn, len(evs))
	fmt.Printf("# raw async publish: %d events in %s, %.0f msg/s\n", len(evs), elapsed.Round(time.Millisecond), publish)

	ctx := context.Background()
	c, err := conn.JS.OrderedConsumer(ctx, stream.EventsStream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		fail(err)
	}
	start = time.Now()
	msgs, err := c.Messages()
	if err != nil {
		fail(err)
	}
	for range evs {
		if _, err := msgs.Next(); err != nil {
			fail(err)
		}
	}
	msgs.Stop()
	elapsed = time.Since(start)
	consume = float64(len(evs)) / elapsed.Seconds()
	fmt.Printf("# raw ordered consume: %d events in %s, %.0f msg/s\n", len(evs), elapsed.Round(time.Millisecond), consume)
	return publish, consume
}

// endToEnd runs the pipeline while the events are published the way pub
// says and measures from the first publish until the last event's batch
// is committed.
func endToEnd(policy stream.SyncPolicy, evs []event.Event, n, batch int, pub publisher, atomicBatch, partitions int) (float64, int64) {
	conn, done := open(policy, partitions)
	defer done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	streams, err := conn.Ensure(ctx, stream.Layout{Partitions: partitions})
	if err != nil {
		fail(err)
	}
	ldg := ledger.New(streams)
	set := triggerset.NewMemory()
	eventTypes := []string{"", "", "demo_request", "form_submit"}
	for i := range n {
		set.Upsert(triggerset.Definition{
			Key:       typesName(fmt.Sprintf("t-%d", i)),
			UID:       typesUID(fmt.Sprintf("uid-%d", i)),
			EventType: eventTypes[i%len(eventTypes)],
			Threshold: int64(10 + (i*190)/max(1, n)),
			Active:    true,
		})
	}
	var committed atomic.Uint64
	var firings atomic.Int64
	finished := make(chan struct{})
	total := uint64(len(evs))
	p := &pipeline.Pipeline{Streams: streams, Ledger: pipeline.Real(ldg), Triggers: set, Log: logr.Discard(), BatchSize: batch,
		OnCommit: func(b pipeline.Batch) {
			firings.Add(int64(b.Firings))
			if committed.Add(uint64(b.Events)) == total {
				close(finished)
			}
		}}
	stopped := make(chan error, 1)
	go func() { stopped <- p.Start(ctx) }()
	time.Sleep(200 * time.Millisecond) // the consumer is up

	start := time.Now()
	publishWith(conn, evs, pub, atomicBatch)
	select {
	case <-finished:
	case err := <-stopped:
		fail(fmt.Errorf("pipeline stopped: %v", err))
	case <-time.After(10 * time.Minute):
		fail(fmt.Errorf("pipeline committed %d of %d events", committed.Load(), total))
	}
	rate := float64(len(evs)) / time.Since(start).Seconds()
	cancel()
	<-stopped
	return rate, firings.Load()
}

func typesName(name string) types.NamespacedName {
	return types.NamespacedName{Namespace: ou, Name: name}
}
func typesUID(uid string) types.UID { return types.UID(uid) }

func fail(err error) {
	fmt.Fprintln(os.Stderr, "streambench:", err)
	os.Exit(1)
}
