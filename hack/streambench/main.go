// Command streambench measures the event pipeline end to end (events
// published to the embedded JetStream, evaluated, firings and lead states
// committed durably) beside the raw stream's own publish and consume rates,
// in the same run, on the same machine, for each fsync policy. Results go
// to docs/benchmarks.md.
//
//	go run ./hack/streambench -events 20000 -sync always
//	go run ./hack/streambench -events 200000 -sync 2m
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
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"k8s.io/apimachinery/pkg/types"

	"github.com/leadvibe/milestone-triggers-operator/internal/ledger"
	"github.com/leadvibe/milestone-triggers-operator/internal/pipeline"
	"github.com/leadvibe/milestone-triggers-operator/internal/stream"
	"github.com/leadvibe/milestone-triggers-operator/internal/triggerset"
)

const ou = "bench"

func main() {
	events := flag.Int("events", 20000, "Events per measurement.")
	leads := flag.Int("leads", 10000, "Distinct leads.")
	triggers := flag.Int("triggers", 100, "Triggers in the OU.")
	syncFlag := flag.String("sync", "always", "Fsync policy of the embedded server: always, or an interval such as 2m.")
	batch := flag.Int("batch", 512, "The pipeline's batch size.")
	cpuprofile := flag.String("cpuprofile", "", "Write a CPU profile of the end-to-end run here.")
	flag.Parse()

	policy, err := stream.ParseSyncPolicy(*syncFlag)
	if err != nil {
		fail(err)
	}
	evs := workload(*events, *leads)
	fmt.Printf("# streambench: %d events (%d bytes each on average), %d leads, %d triggers, batch %d, sync %s, GOMAXPROCS %d\n",
		len(evs), avgSize(evs), *leads, *triggers, *batch, policy, runtime.GOMAXPROCS(0))

	pub, con := raw(policy, evs)
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fail(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fail(err)
		}
	}
	e2e, firings := endToEnd(policy, evs, *triggers, *batch)
	pprof.StopCPUProfile()
	fmt.Printf("| sync | raw async publish (msg/s) | raw ordered consume (msg/s) | end to end (events/s) | end to end / raw publish | firings |\n")
	fmt.Printf("|---|---|---|---|---|---|\n")
	fmt.Printf("| %s | %.0f | %.0f | %.0f | %.0f%% | %d |\n", policy, pub, con, e2e, 100*e2e/pub, firings)
}

// workload is a random walk of scores over many leads, with three event
// types, so that triggers cross, go pending and re-arm.
func workload(n, leads int) []stream.Event {
	rng := rand.New(rand.NewPCG(1, 2))
	scores := make([]int64, leads)
	types := []string{"page_view", "page_view", "page_view", "form_submit", "demo_request"}
	now := time.Now().UTC()
	evs := make([]stream.Event, n)
	for i := range evs {
		l := rng.IntN(leads)
		scores[l] = max(0, min(200, scores[l]+int64(rng.IntN(21)-8)))
		evs[i] = stream.Event{
			ID:        fmt.Sprintf("evt-%08d", i),
			LeadID:    fmt.Sprintf("ld_%06d", l),
			EventType: types[rng.IntN(len(types))],
			Score:     scores[l],
			Metadata:  []byte(`{"source":"website","page":"/pricing","campaign":"spring-launch","utm_medium":"email","referrer":"https://www.example.com/blog/scoring"}`),
			CreatedAt: now,
		}
	}
	return evs
}

func avgSize(evs []stream.Event) int {
	total := 0
	for _, ev := range evs {
		total += len(ev.Encode())
	}
	return total / len(evs)
}

func open(policy stream.SyncPolicy) (*stream.Conn, func()) {
	dir, err := os.MkdirTemp("", "streambench-")
	if err != nil {
		fail(err)
	}
	conn, err := stream.Open(context.Background(), stream.Config{DataDir: dir, Sync: policy})
	if err != nil {
		fail(err)
	}
	if _, err := conn.Ensure(context.Background(), stream.Layout{}); err != nil {
		fail(err)
	}
	return conn, func() { conn.Close(); os.RemoveAll(dir) }
}

// publishAll publishes every event asynchronously, with its id as the
// message id, keeping a bounded number in flight, and waits for the acks.
func publishAll(conn *stream.Conn, evs []stream.Event) {
	// A connection of its own, as an outside publisher has.
	nc, err := nats.Connect("", nats.InProcessServer(conn.Server()))
	if err != nil {
		fail(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(8192))
	if err != nil {
		fail(err)
	}
	for _, ev := range evs {
		for {
			_, err := js.PublishAsync(stream.EventSubject(ou), ev.Encode(), jetstream.WithMsgID(ev.ID))
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

// raw measures the stream alone: async publish of the events, then an
// ordered consumer reading them back.
func raw(policy stream.SyncPolicy, evs []stream.Event) (publish, consume float64) {
	conn, done := open(policy)
	defer done()
	start := time.Now()
	publishAll(conn, evs)
	publish = float64(len(evs)) / time.Since(start).Seconds()

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
	consume = float64(len(evs)) / time.Since(start).Seconds()
	return publish, consume
}

// endToEnd runs the pipeline while the events are published and measures
// from the first publish until the last event's batch is committed.
func endToEnd(policy stream.SyncPolicy, evs []stream.Event, n, batch int) (float64, int64) {
	conn, done := open(policy)
	defer done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	streams, err := conn.Ensure(ctx, stream.Layout{})
	if err != nil {
		fail(err)
	}
	ldg := ledger.New(streams)
	set := triggerset.NewMemory()
	types := []string{"", "", "demo_request", "form_submit"}
	for i := range n {
		set.Upsert(triggerset.Definition{
			Key:       typesName(fmt.Sprintf("t-%d", i)),
			UID:       typesUID(fmt.Sprintf("uid-%d", i)),
			EventType: types[i%len(types)],
			Threshold: int64(10 + (i*190)/max(1, n)),
			Active:    true,
		})
	}
	var committed atomic.Uint64
	var firings atomic.Int64
	finished := make(chan struct{})
	total := uint64(len(evs))
	p := &pipeline.Pipeline{Streams: streams, Ledger: ldg, Triggers: set, Log: logr.Discard(), BatchSize: batch,
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
	publishAll(conn, evs)
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
