package stream

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/leadvibe/milestone-triggers-operator/internal/metrics"
)

// openTest starts a real embedded server with fsync on every write, as the
// operator runs by default, and ensures the layout.
func openTest(t testing.TB) (*Conn, *Streams) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := Open(ctx, Config{DataDir: t.TempDir(), Sync: SyncPolicy{Always: true}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	streams, err := Ensure(ctx, conn.JS, Layout{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(streams.Close)
	return conn, streams
}

// readAll reads a stream's messages in order.
func readAll(t testing.TB, js jetstream.JetStream, name string) []jetstream.Msg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs == 0 {
		return nil
	}
	c, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var out []jetstream.Msg
	for uint64(len(out)) < info.State.Msgs {
		m, err := c.Next(jetstream.FetchMaxWait(5 * time.Second))
		if err != nil {
			t.Fatalf("reading %s after %d messages: %v", name, len(out), err)
		}
		out = append(out, m)
	}
	return out
}

func batches(stream string) int {
	return int(testutil.ToFloat64(metrics.StreamBatches.WithLabelValues(stream)))
}

func fallbacks(stream string) int {
	return int(testutil.ToFloat64(metrics.StreamBatchFallbacks.WithLabelValues(stream)))
}

func events(ou string, from, n int) []Msg {
	msgs := make([]Msg, n)
	for i := range msgs {
		id := fmt.Sprintf("%s-evt-%d", ou, from+i)
		msgs[i] = Msg{Subject: EventSubject(ou), Data: []byte(strconv.Itoa(from + i)), ID: id}
	}
	return msgs
}

// One write of more than a batch goes in consecutive atomic batches of at
// most MaxAtomicBatch, all stored, in order.
func TestWriterSplitsLargeWritesIntoOrderedBatches(t *testing.T) {
	conn, s := openTest(t)
	before := batches(EventsStream)
	res, err := s.Events.Write(context.Background(), events("acme", 0, 2500)...)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2500 {
		t.Fatalf("%d results for 2500 messages", len(res))
	}
	for i, r := range res {
		if r.Duplicate || r.Exists {
			t.Fatalf("message %d: %+v, want stored", i, r)
		}
	}
	if got := batches(EventsStream) - before; got != 3 {
		t.Errorf("%d atomic batches for 2500 messages, want 3 (1000, 1000, 500)", got)
	}
	msgs := readAll(t, conn.JS, EventsStream)
	if len(msgs) != 2500 {
		t.Fatalf("the stream holds %d messages, want 2500", len(msgs))
	}
	for i, m := range msgs {
		if string(m.Data()) != strconv.Itoa(i) {
			t.Fatalf("message %d holds %q: out of order", i, m.Data())
		}
	}
}

// Concurrent writers are grouped into shared batches, and the messages of
// each keep their order.
func TestWriterGroupsConcurrentWritesInOrder(t *testing.T) {
	conn, s := openTest(t)
	before := batches(EventsStream)
	const writers, writes, per = 8, 20, DefaultMinBatch + 6 // each write alone an atomic batch
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			ou := fmt.Sprintf("ou%d", w)
			for i := range writes {
				if _, err := s.Events.Write(context.Background(), events(ou, i*per, per)...); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	next := map[string]int{}
	msgs := readAll(t, conn.JS, EventsStream)
	if len(msgs) != writers*writes*per {
		t.Fatalf("the stream holds %d messages, want %d", len(msgs), writers*writes*per)
	}
	for _, m := range msgs {
		n, _ := strconv.Atoi(string(m.Data()))
		if n != next[m.Subject()] {
			t.Fatalf("%s: message %d after %d: out of order", m.Subject(), n, next[m.Subject()]-1)
		}
		next[m.Subject()]++
	}
	if got := batches(EventsStream) - before; got >= writers*writes {
		t.Errorf("%d batches for %d writes: concurrent writes were not grouped", got, writers*writes)
	}
}

// A batch holding a message id the stream already has is refused whole;
// the writer then writes its messages one by one and reports the
// duplicate, storing the rest.
func TestWriterFallsBackOnADuplicateID(t *testing.T) {
	conn, _ := openTest(t)
	ctx := context.Background()
	w := NewWriter(conn.JS, EventsStream, WriterOptions{MinBatch: 2})
	defer w.Close()
	if _, err := w.Write(ctx, events("acme", 0, 3)...); err != nil {
		t.Fatal(err)
	}
	before := fallbacks(EventsStream)
	batch := append(events("acme", 3, 2), events("acme", 1, 1)[0], events("acme", 5, 2)[0], events("acme", 6, 1)[0])
	res, err := w.Write(ctx, batch...)
	if err != nil {
		t.Fatal(err)
	}
	want := []bool{false, false, true, false, false}
	for i, r := range res {
		if r.Duplicate != want[i] {
			t.Errorf("message %d (%s): duplicate %v, want %v", i, batch[i].ID, r.Duplicate, want[i])
		}
	}
	if got := fallbacks(EventsStream) - before; got != 1 {
		t.Errorf("%d fallbacks, want 1", got)
	}
	var got []string
	for _, m := range readAll(t, conn.JS, EventsStream) {
		got = append(got, string(m.Data()))
	}
	if fmt.Sprint(got) != "[0 1 2 3 4 5 6]" {
		t.Errorf("the stream holds %v, want [0 1 2 3 4 5 6] once each, in order", got)
	}
}

// A batch holding a message for a subject that must be new but is not
// (a firing offered again after a crash) is refused whole; one by one, the
// old firing is reported as existing and the new ones are stored. No time
// window is involved: the check is on the subject.
func TestWriterFallsBackOnAnExistingSubject(t *testing.T) {
	conn, _ := openTest(t)
	ctx := context.Background()
	w := NewWriter(conn.JS, FiringsStream, WriterOptions{MinBatch: 2})
	defer w.Close()
	firing := func(id string) Msg {
		return Msg{Subject: FiringSubject("acme", id), Data: []byte(id), ExpectNew: true}
	}
	if _, err := w.Write(ctx, firing("a"), firing("b")); err != nil {
		t.Fatal(err)
	}
	before := fallbacks(FiringsStream)
	res, err := w.Write(ctx, firing("c"), firing("b"), firing("d"), firing("a"))
	if err != nil {
		t.Fatal(err)
	}
	want := []bool{false, true, false, true}
	for i, r := range res {
		if r.Exists != want[i] {
			t.Errorf("firing %d: exists %v, want %v", i, r.Exists, want[i])
		}
	}
	if got := fallbacks(FiringsStream) - before; got != 1 {
		t.Errorf("%d fallbacks, want 1", got)
	}
	var got []string
	for _, m := range readAll(t, conn.JS, FiringsStream) {
		got = append(got, string(m.Data()))
	}
	if fmt.Sprint(got) != "[a b c d]" {
		t.Errorf("the outbox holds %v, want [a b c d]", got)
	}
	// A batch of firings all new again commits atomically.
	before = batches(FiringsStream)
	if _, err := w.Write(ctx, firing("e"), firing("f")); err != nil {
		t.Fatal(err)
	}
	if got := batches(FiringsStream) - before; got != 1 {
		t.Errorf("%d atomic batches for two new firings, want 1", got)
	}
}

// Key-value buckets take atomic batches too: a snapshot's lead states and
// its checkpoint land together.
func TestWriterWritesBucketKeysInBatches(t *testing.T) {
	_, s := openTest(t)
	ctx := context.Background()
	var msgs []Msg
	for i := range 1500 {
		msgs = append(msgs, Msg{Subject: KeySubject(LeadsBucket, fmt.Sprintf("acme.l%d", i)), Data: []byte(strconv.Itoa(i))})
	}
	before := batches(BucketStream(LeadsBucket))
	if _, err := s.Leads.Write(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	if got := batches(BucketStream(LeadsBucket)) - before; got != 2 {
		t.Errorf("%d batches for 1500 keys, want 2", got)
	}
	e, err := s.LeadsKV.Get(ctx, "acme.l1499")
	if err != nil {
		t.Fatal(err)
	}
	if string(e.Value()) != "1499" {
		t.Errorf("key acme.l1499 holds %q", e.Value())
	}
}

// Fewer messages than MinBatch are written one at a time: an atomic batch
// costs the server a store of its own, more than a few single writes.
func TestWriterWritesSmallGroupsOneByOne(t *testing.T) {
	conn, s := openTest(t)
	before := batches(EventsStream)
	res, err := s.Events.Write(context.Background(), events("acme", 0, 5)...)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 5 {
		t.Fatalf("%d results", len(res))
	}
	if got := batches(EventsStream) - before; got != 5 {
		t.Errorf("%d commits for 5 messages, want 5 (one each)", got)
	}
	if n := len(readAll(t, conn.JS, EventsStream)); n != 5 {
		t.Errorf("the stream holds %d messages", n)
	}
}

func TestWriterRefusesWritesOnceClosed(t *testing.T) {
	_, s := openTest(t)
	s.Rejected.Close()
	_, err := s.Rejected.Write(context.Background(), Msg{Subject: RejectedSubject("acme"), Data: []byte("x")})
	if !errors.Is(err, ErrWriterClosed) {
		t.Fatalf("a write after Close: %v, want ErrWriterClosed", err)
	}
}

// The stream's raw rates beside the writer's, with fsync on every write:
// one message at a time (each its own fsync), and the writer's atomic
// batches. docs/benchmarks.md has the figures.
func BenchmarkEventsOneAtATime(b *testing.B) {
	conn, _ := openTest(b)
	ctx := context.Background()
	b.ResetTimer()
	for i := range b.N {
		m := events("acme", i, 1)[0]
		if _, err := conn.JS.Publish(ctx, m.Subject, m.Data, jetstream.WithMsgID(m.ID)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
}

func BenchmarkEventsWriterBatches(b *testing.B) {
	_, s := openTest(b)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i += 500 {
		if _, err := s.Events.Write(ctx, events("acme", i, min(500, b.N-i))...); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
}

// BenchmarkWriterBatchSize writes events in writes of a given size, each
// waited for, with fsync on every write: what a batch costs beside the
// same messages one by one (size 1). A batch has a fixed cost of its own
// on the server (it stages the batch in a store of its own), so very
// small batches gain little.
func BenchmarkWriterBatchSize(b *testing.B) {
	for _, size := range []int{1, 2, 4, 8, 16, 32, 64, 256, 1000} {
		for _, mode := range []struct {
			name     string
			minBatch int
		}{{"atomic", 2}, {"one-by-one", MaxAtomicBatch + 1}} {
			if size == 1 && mode.name == "atomic" {
				continue
			}
			b.Run(fmt.Sprintf("%d/%s", size, mode.name), func(b *testing.B) {
				conn, _ := openTest(b)
				w := NewWriter(conn.JS, EventsStream, WriterOptions{MinBatch: mode.minBatch})
				defer w.Close()
				benchWrites(b, w, size)
			})
		}
	}
}

func benchWrites(b *testing.B, w *Writer, size int) {
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i += size {
		if _, err := w.Write(ctx, events("acme", i, min(size, b.N-i))...); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
}

// Two writers that read a key at the same revision both write it with
// that expectation: one wins, the other is told Conflict and stores
// nothing, on the one-by-one path and in an atomic batch alike.
func TestWriterCompareAndSwapOnARevision(t *testing.T) {
	conn, s := openTest(t)
	ctx := context.Background()
	key := func(k string) string { return KeySubject(DeliveriesBucket, k) }
	put := func(w *Writer, m Msg) Result {
		t.Helper()
		res, err := w.Write(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		return res[0]
	}
	revision := func(k string) uint64 {
		t.Helper()
		e, err := s.DeliveriesKV.Get(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		return e.Revision()
	}

	// A new key is expected at revision 0: the second write finds it.
	if r := put(s.Deliveries, Msg{Subject: key("k1"), Data: []byte("v1")}.Expect(0)); r.Refused() {
		t.Fatalf("a new key: %+v, want stored", r)
	}
	if r := put(s.Deliveries, Msg{Subject: key("k1"), Data: []byte("other")}.Expect(0)); !r.Exists || !r.Refused() {
		t.Fatalf("a second new key: %+v, want Exists", r)
	}

	// Two writers, one revision, at once.
	rev := revision("k1")
	w1 := NewWriter(conn.JS, BucketStream(DeliveriesBucket), WriterOptions{})
	defer w1.Close()
	w2 := NewWriter(conn.JS, BucketStream(DeliveriesBucket), WriterOptions{})
	defer w2.Close()
	results := make([]Result, 2)
	var wg sync.WaitGroup
	for i, w := range []*Writer{w1, w2} {
		wg.Go(func() {
			res, err := w.Write(ctx, Msg{Subject: key("k1"), Data: []byte(fmt.Sprintf("w%d", i+1))}.Expect(rev))
			if err != nil {
				t.Error(err)
				return
			}
			results[i] = res[0]
		})
	}
	wg.Wait()
	if results[0].Conflict == results[1].Conflict {
		t.Fatalf("results %+v: exactly one of two writers at revision %d must win", results, rev)
	}
	winner := fmt.Sprintf("w%d", map[bool]int{true: 2, false: 1}[results[0].Conflict])
	e, err := s.DeliveriesKV.Get(ctx, "k1")
	if err != nil {
		t.Fatal(err)
	}
	if string(e.Value()) != winner || e.Revision() == rev {
		t.Fatalf("k1 holds %q at revision %d, want the winner %s's write", e.Value(), e.Revision(), winner)
	}
	// The loser's revision is stale now.
	if r := put(s.Deliveries, Msg{Subject: key("k1"), Data: []byte("late")}.Expect(rev)); !r.Conflict {
		t.Fatalf("a write at a stale revision: %+v, want Conflict", r)
	}

	// In an atomic batch: right expectations commit as one batch; a stale
	// one makes the server refuse the batch, and one by one only that
	// message is refused.
	batch := NewWriter(conn.JS, BucketStream(DeliveriesBucket), WriterOptions{MinBatch: 2})
	defer batch.Close()
	if _, err := batch.Write(ctx, Msg{Subject: key("k2"), Data: []byte("a")}.Expect(0), Msg{Subject: key("k3"), Data: []byte("a")}.Expect(0)); err != nil {
		t.Fatal(err)
	}
	rev2, rev3 := revision("k2"), revision("k3")
	before := batches(BucketStream(DeliveriesBucket))
	res, err := batch.Write(ctx, Msg{Subject: key("k2"), Data: []byte("b")}.Expect(rev2), Msg{Subject: key("k3"), Data: []byte("b")}.Expect(rev3))
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Refused() || res[1].Refused() {
		t.Fatalf("a batch at the current revisions: %+v, want stored", res)
	}
	if got := batches(BucketStream(DeliveriesBucket)) - before; got != 1 {
		t.Errorf("%d commits for a batch of two, want 1 atomic batch", got)
	}
	fellBack := fallbacks(BucketStream(DeliveriesBucket))
	res, err = batch.Write(ctx,
		Msg{Subject: key("k2"), Data: []byte("c")}.Expect(revision("k2")),
		Msg{Subject: key("k3"), Data: []byte("c")}.Expect(rev3), // stale
		Msg{Subject: key("k4"), Data: []byte("c")}.Expect(0))
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Refused() || !res[1].Conflict || res[2].Refused() {
		t.Fatalf("a batch with one stale revision: %+v, want only the second refused, as Conflict", res)
	}
	if got := fallbacks(BucketStream(DeliveriesBucket)) - fellBack; got != 1 {
		t.Errorf("%d fallbacks, want 1", got)
	}
	for k, want := range map[string]string{"k2": "c", "k3": "b", "k4": "c"} {
		e, err := s.DeliveriesKV.Get(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		if string(e.Value()) != want {
			t.Errorf("%s holds %q, want %q", k, e.Value(), want)
		}
	}
}
