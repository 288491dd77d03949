package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"k8s.io/apimachinery/pkg/types"

	"github.com/leadvibe/milestone-triggers-operator/internal/evaluator"
	"github.com/leadvibe/milestone-triggers-operator/internal/event"
	"github.com/leadvibe/milestone-triggers-operator/internal/ledger"
	"github.com/leadvibe/milestone-triggers-operator/internal/metrics"
	"github.com/leadvibe/milestone-triggers-operator/internal/metrics/metricstest"
	"github.com/leadvibe/milestone-triggers-operator/internal/stream"
	"github.com/leadvibe/milestone-triggers-operator/internal/stream/streamtest"
	"github.com/leadvibe/milestone-triggers-operator/internal/triggerset"
)

const ou = "demo"

// system is a real embedded NATS JetStream on a data directory that
// outlives it, so a test can stop it and start another on the same data.
type system struct {
	t       *testing.T
	server  *streamtest.Server
	conn    *stream.Conn
	streams *stream.Streams
	ledger  Ledger
}

// newSystem runs a stream of one partition, whose batches' last
// sequences are those of the whole stream (the multi-partition tests use
// partitionedSystem).
func newSystem(t *testing.T) *system {
	s := &system{t: t, server: streamtest.Start(t, streamtest.WithLayout(stream.Layout{Partitions: 1}))}
	s.attach()
	return s
}

// restart stops the server and starts another on the same data directory.
func (s *system) restart() {
	s.server.Restart()
	s.attach()
}

func (s *system) attach() {
	s.conn, s.streams, s.ledger = s.server.Conn, s.server.Streams, Real(ledger.New(s.server.Streams))
}

func (s *system) publish(events ...event.Event) {
	s.t.Helper()
	if _, err := stream.Publish(context.Background(), s.streams.Events, ou, events...); err != nil {
		s.t.Fatal(err)
	}
}

// running is a pipeline started in the background.
type running struct {
	cancel  context.CancelFunc
	done    chan error
	mu      sync.Mutex
	lastSeq uint64
	batches int
}

func (s *system) start(triggers triggerset.Set, ldg Ledger) *running {
	return s.startWith(triggers, ldg, func(context.CancelFunc) {})
}

// startWith hands the run's cancel function to setup before starting.
func (s *system) startWith(triggers triggerset.Set, ldg Ledger, setup func(context.CancelFunc)) *running {
	ctx, cancel := context.WithCancel(context.Background())
	setup(cancel)
	r := &running{cancel: cancel, done: make(chan error, 1)}
	p := &Pipeline{
		Streams: s.streams, Ledger: ldg, Triggers: triggers, Log: testr.New(s.t), BatchSize: 64,
		// Snapshots every few batches, so crashes fall before, during and
		// after them.
		SnapshotInterval: 5 * time.Millisecond,
		OnCommit: func(b Batch) {
			r.mu.Lock()
			r.lastSeq, r.batches = b.LastSeq, r.batches+1
			r.mu.Unlock()
		},
	}
	go func() { r.done <- p.Start(ctx) }()
	return r
}

func (r *running) stop(t *testing.T) {
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			t.Fatalf("pipeline stopped with %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("pipeline did not stop")
	}
}

// waitFor waits until the pipeline has committed the stream sequence seq.
func (r *running) waitFor(t *testing.T, seq uint64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		r.mu.Lock()
		last := r.lastSeq
		r.mu.Unlock()
		if last >= seq {
			return
		}
		select {
		case err := <-r.done:
			t.Fatalf("pipeline stopped early: %v", err)
		case <-time.After(5 * time.Millisecond):
		}
	}
	t.Fatalf("pipeline did not reach sequence %d", seq)
}

func lastSeq(t *testing.T, js jetstream.JetStream, name string) uint64 {
	t.Helper()
	st, err := js.Stream(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.LastSeq
}

// outbox returns every firing in the outbox and how many messages the
// outbox has ever stored: a firing written twice shows as more stored
// messages than firings.
func outbox(t *testing.T, js jetstream.JetStream) (firings []ledger.Firing, stored uint64) {
	t.Helper()
	ctx := context.Background()
	st, err := js.Stream(ctx, stream.FiringsStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		msg, err := st.GetMsg(ctx, seq)
		if err != nil {
			if errors.Is(err, jetstream.ErrMsgNotFound) {
				continue
			}
			t.Fatal(err)
		}
		f, err := ledger.DecodeFiring(msg.Data)
		if err != nil {
			t.Fatal(err)
		}
		firings = append(firings, f)
	}
	return firings, info.State.LastSeq
}

func trigger(name, eventType string, threshold int64) triggerset.Definition {
	return triggerset.Definition{
		Key:         types.NamespacedName{Namespace: ou, Name: name},
		UID:         types.UID("uid-" + name),
		DisplayName: "Display " + name,
		EventType:   eventType,
		Threshold:   threshold,
		Active:      true,
	}
}

func newEvent(id, lead, typ string, score int64) event.Event {
	return event.Event{ID: id, LeadID: lead, EventType: typ, Score: score, CreatedAt: time.Date(2025, 1, 15, 10, 35, 0, 0, time.UTC)}
}

type fired struct{ trigger, lead, event string }

func summarize(firings []ledger.Firing) []fired {
	out := make([]fired, 0, len(firings))
	for _, f := range firings {
		out = append(out, fired{f.Trigger, f.Event.LeadID, f.Event.ID})
	}
	sort.Slice(out, func(i, j int) bool { return fmt.Sprint(out[i]) < fmt.Sprint(out[j]) })
	return out
}

func TestPipelineFiresIntoTheOutbox(t *testing.T) {
	s := newSystem(t)
	triggers := triggerset.NewMemory()
	triggers.Upsert(trigger("hot-lead", "demo_request", 75))
	triggers.Upsert(trigger("any-50", "", 50))

	s.publish(
		newEvent("e1", "ld_1", "page_view", 60),    // any-50 fires
		newEvent("e2", "ld_1", "page_view", 80),    // hot-lead crossing pending (page_view)
		newEvent("e3", "ld_1", "page_view", 85),    // still pending
		newEvent("e4", "ld_1", "demo_request", 86), // pending fires
		newEvent("e5", "ld_1", "demo_request", 90), // no refire
		newEvent("e6", "ld_2", "demo_request", 75), // first seen: both fire, 75 counts
	)
	r := s.start(triggers, s.ledger)
	r.waitFor(t, 6)
	r.stop(t)

	firings, stored := outbox(t, s.conn.JS)
	want := []fired{{"any-50", "ld_1", "e1"}, {"any-50", "ld_2", "e6"}, {"hot-lead", "ld_1", "e4"}, {"hot-lead", "ld_2", "e6"}}
	if got := summarize(firings); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("firings = %v, want %v", got, want)
	}
	if stored != uint64(len(want)) {
		t.Fatalf("outbox stored %d messages for %d firings", stored, len(want))
	}
	for _, f := range firings {
		if f.ID != ledger.FiringID(ou, f.TriggerUID, f.Event.LeadID, f.Event.ID) {
			t.Errorf("firing %s has a non-deterministic id", f.ID)
		}
		if f.TriggerName != "Display "+f.Trigger || f.Score != f.Event.Score || f.FiredAt.IsZero() || f.EventSeq == 0 {
			t.Errorf("firing %+v is incomplete", f)
		}
		if f.Trigger == "hot-lead" && f.Event.LeadID == "ld_1" && !f.FromPending {
			t.Errorf("the pending crossing's firing is not marked FromPending")
		}
	}
}

func TestDuplicatePublishFiresOnce(t *testing.T) {
	s := newSystem(t)
	triggers := triggerset.NewMemory()
	triggers.Upsert(trigger("t", "", 75))

	ev := newEvent("e1", "ld_1", "page_view", 80)
	s.publish(ev, ev, ev)
	if n := lastSeq(t, s.conn.JS, stream.EventsStream); n != 1 {
		t.Fatalf("the stream stored %d copies of one event id", n)
	}
	r := s.start(triggers, s.ledger)
	r.waitFor(t, 1)

	// A duplicate published after the stream's window (simulated by a new
	// message id) carrying the same event id still fires nothing new: the
	// lead is above, and the firing id of this event exists already.
	s.publish(newEvent("e2", "ld_1", "page_view", 10))
	if _, err := s.conn.JS.Publish(context.Background(), stream.LeadSubject(ou, ev.LeadID), ev.Encode(), jetstream.WithMsgID("late-copy")); err != nil {
		t.Fatal(err)
	}
	r.waitFor(t, 3)
	r.stop(t)

	firings, stored := outbox(t, s.conn.JS)
	if len(firings) != 1 || stored != 1 {
		t.Fatalf("got %d firings (%d stored), want exactly 1: %v", len(firings), stored, summarize(firings))
	}
}

func TestPoisonEventIsRecordedAndSkipped(t *testing.T) {
	s := newSystem(t)
	triggers := triggerset.NewMemory()
	triggers.Upsert(trigger("t", "", 75))

	s.publish(newEvent("e1", "ld_1", "page_view", 10))
	if _, err := s.conn.JS.Publish(context.Background(), stream.LeadSubject(ou, "ld_1"), []byte(`{"id":"bad","lead_id":"ld_1","score":"high"}`)); err != nil {
		t.Fatal(err)
	}
	s.publish(newEvent("e3", "ld_1", "page_view", 80))

	r := s.start(triggers, s.ledger)
	r.waitFor(t, 3)
	r.stop(t)

	firings, _ := outbox(t, s.conn.JS)
	if got := summarize(firings); len(got) != 1 || got[0].event != "e3" {
		t.Fatalf("firings = %v, want the one of e3, after the poison event", got)
	}
	st, err := s.conn.JS.Stream(context.Background(), stream.RejectedStream)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := st.GetLastMsgForSubject(context.Background(), stream.RejectedSubject(ou))
	if err != nil {
		t.Fatalf("the poison event was not recorded: %v", err)
	}
	reason := msg.Header.Get("Leadvibe-Reason")
	if reason == "" || msg.Header.Get("Leadvibe-Stream-Sequence") != "2" || msg.Header.Get("Leadvibe-Reason-Code") != event.ReasonInvalidValue {
		t.Fatalf("rejected record headers = %v", msg.Header)
	}
	for _, field := range []string{"score", "event_type"} {
		if !containsWord(reason, field) {
			t.Errorf("reason %q does not name %s", reason, field)
		}
	}
}

func containsWord(s, w string) bool {
	for i := 0; i+len(w) <= len(s); i++ {
		if s[i:i+len(w)] == w {
			return true
		}
	}
	return false
}

func TestTriggerEditsTakeEffectOnTheNextEvent(t *testing.T) {
	s := newSystem(t)
	triggers := triggerset.NewMemory()
	triggers.Upsert(trigger("t", "", 75))
	r := s.start(triggers, s.ledger)
	defer r.stop(t)

	s.publish(newEvent("e1", "ld_1", "page_view", 60))
	r.waitFor(t, 1)

	// Lowered to 50 while the lead is at 60: no firing until a new crossing.
	triggers.Upsert(trigger("t", "", 50))
	s.publish(newEvent("e2", "ld_1", "page_view", 70))
	r.waitFor(t, 2)

	// Deactivated: a crossing does not fire.
	inactive := trigger("t", "", 50)
	inactive.Active = false
	triggers.Upsert(inactive)
	s.publish(newEvent("e3", "ld_1", "page_view", 10), newEvent("e4", "ld_1", "page_view", 60))
	r.waitFor(t, 4)

	// Re-activated while above: no firing; then down and up again fires.
	triggers.Upsert(trigger("t", "", 50))
	s.publish(newEvent("e5", "ld_1", "page_view", 65), newEvent("e6", "ld_1", "page_view", 40), newEvent("e7", "ld_1", "page_view", 55))
	r.waitFor(t, 7)

	// Deleted: nothing fires.
	triggers.Delete(types.NamespacedName{Namespace: ou, Name: "t"})
	s.publish(newEvent("e8", "ld_1", "page_view", 0), newEvent("e9", "ld_1", "page_view", 99))
	r.waitFor(t, 9)

	firings, _ := outbox(t, s.conn.JS)
	if got := summarize(firings); len(got) != 1 || got[0].event != "e7" {
		t.Fatalf("firings = %v, want only e7's", got)
	}
}

// crashingLedger writes through the real ledger but "crashes" at a chosen
// point: after the firings of the Nth batch, or in the middle of the Nth
// snapshot, after the lead states and before the checkpoint. The pipeline
// stops as a killed process would, with the ledger exactly as the crash
// left it (a crash leaves no final snapshot: the crash cancels, and the
// crashed flag stops the final snapshot too).
type crashingLedger struct {
	Ledger
	leads      *stream.Writer // where a crash in a snapshot leaves its first lead states
	crashOn    int
	inSnapshot bool
	crash      func() // stops the pipeline, as a kill would

	// Snapshots run beside the evaluation of batches: mu guards the counts.
	mu        sync.Mutex
	batches   int
	snapshots int
	crashed   bool
}

func (c *crashingLedger) hasCrashed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.crashed
}

func (c *crashingLedger) Claim(ctx context.Context, p int, owner string) (Partition, error) {
	part, err := c.Ledger.Claim(ctx, p, owner)
	if err != nil {
		return nil, err
	}
	return crashingPartition{part, c}, nil
}

func (c *crashingLedger) CommitFirings(ctx context.Context, firings []ledger.Firing) error {
	if c.hasCrashed() {
		return errors.New("crashed")
	}
	if err := c.Ledger.CommitFirings(ctx, firings); err != nil {
		return err
	}
	c.mu.Lock()
	c.batches++
	crash := !c.inSnapshot && c.batches == c.crashOn && !c.crashed
	if crash {
		c.crashed = true
	}
	c.mu.Unlock()
	if crash {
		c.crash()
		return ctx.Err()
	}
	return nil
}

// crashingPartition is a claimed partition of a crashingLedger.
type crashingPartition struct {
	Partition
	c *crashingLedger
}

func (p crashingPartition) Snapshot(ctx context.Context, states map[string]ledger.LeadState, through uint64) error {
	c := p.c
	c.mu.Lock()
	if c.crashed {
		c.mu.Unlock()
		return errors.New("crashed")
	}
	c.snapshots++
	crash := c.inSnapshot && c.snapshots == c.crashOn
	c.mu.Unlock()
	if crash {
		// A kill between a snapshot's batches: its first lead states are
		// written, the batch with the checkpoint is not.
		var msgs []stream.Msg
		for key, st := range states {
			data, err := json.Marshal(st)
			if err != nil {
				return err
			}
			msgs = append(msgs, stream.Msg{Subject: stream.KeySubject(stream.LeadsBucket, key), Data: data})
		}
		if _, err := c.leads.Write(ctx, msgs[:(len(msgs)+1)/2]...); err != nil {
			return err
		}
		c.mu.Lock()
		c.crashed = true
		c.mu.Unlock()
		c.crash()
		return ctx.Err()
	}
	return p.Partition.Snapshot(ctx, states, through)
}

// knownCrossings is a workload of 3,000 events over 40 leads and five
// triggers, with the firings the evaluator makes of it in memory.
func knownCrossings() (*triggerset.Memory, []event.Event, map[string]bool) {
	triggers := triggerset.NewMemory()
	var defs []evaluator.Trigger
	for i, typ := range []string{"", "demo_request", "", "form_submit", ""} {
		d := trigger(fmt.Sprintf("t%d", i), typ, int64(20*(i+1)))
		triggers.Upsert(d)
		defs = append(defs, evaluator.Trigger{Name: d.Key.Name, UID: string(d.UID), EventType: typ, Threshold: d.Threshold, Active: true})
	}
	rng := rand.New(rand.NewPCG(7, 11))
	eventTypes := []string{"page_view", "demo_request", "form_submit"}
	ix := evaluator.NewIndex(defs)
	states := map[string]evaluator.LeadState{}
	want := map[string]bool{}
	var events []event.Event
	for i := range 3000 {
		lead := fmt.Sprintf("ld_%d", rng.IntN(40))
		ev := newEvent(fmt.Sprintf("e%d", i), lead, eventTypes[rng.IntN(len(eventTypes))], int64(rng.IntN(120)))
		events = append(events, ev)
		var firings []evaluator.Firing
		states[lead], firings = ix.Evaluate(states[lead], evaluator.Event{ID: ev.ID, LeadID: lead, Type: ev.EventType, Score: ev.Score}, nil)
		for _, f := range firings {
			want[ledger.FiringID(ou, f.UID, lead, ev.ID)] = true
		}
	}
	return triggers, events, want
}

// expectExactlyOnce checks that the outbox holds every firing of want
// once, and nothing else.
func expectExactlyOnce(t *testing.T, js jetstream.JetStream, want map[string]bool) {
	t.Helper()
	firings, stored := outbox(t, js)
	got := map[string]int{}
	for _, f := range firings {
		got[f.ID]++
	}
	for id := range want {
		if got[id] != 1 {
			t.Errorf("expected firing %s is in the outbox %d times", id, got[id])
		}
	}
	for id := range got {
		if !want[id] {
			t.Errorf("unexpected firing %s", id)
		}
	}
	if stored != uint64(len(want)) {
		t.Errorf("the outbox stored %d messages for %d firings: some firing was written twice", stored, len(want))
	}
}

// TestRestartsNeitherLoseNorRepeatFirings publishes a stream with many
// known crossings, crashes the pipeline at different points of different
// batches, restarts the stream server on the same data directory each
// time, and checks the outbox holds every expected firing exactly once.
func TestRestartsNeitherLoseNorRepeatFirings(t *testing.T) {
	s := newSystem(t)
	triggers, events, want := knownCrossings()
	s.publish(events...)
	total := uint64(len(events))
	firingsBefore := metricstest.Value(t, metrics.Firings)
	duplicatesBefore := metricstest.Value(t, metrics.FiringDuplicates)

	for round, crash := range []struct {
		on         int
		inSnapshot bool
	}{{3, false}, {2, true}, {5, false}, {1, true}, {4, false}, {2, false}, {3, true}} {
		cl := &crashingLedger{Ledger: s.ledger, leads: s.streams.Leads, crashOn: crash.on, inSnapshot: crash.inSnapshot}
		r := s.startWith(triggers, cl, func(cancel context.CancelFunc) { cl.crash = cancel })
		select {
		case <-r.done:
			if !cl.hasCrashed() {
				t.Fatalf("round %d: the pipeline stopped before the crash", round)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("round %d: no crash", round)
		}
		s.restart()
	}

	r := s.start(triggers, s.ledger)
	r.waitFor(t, total)
	r.stop(t)
	expectExactlyOnce(t, s.conn.JS, want)
	// The firings counter never counts a firing twice, however often a
	// restarted evaluator offered it again. A firing stored while a crash
	// cut the wait for its acknowledgement is not counted as written; the
	// evaluator offers it again after the restart, and it counts as a
	// duplicate then.
	written := metricstest.Value(t, metrics.Firings) - firingsBefore
	duplicates := metricstest.Value(t, metrics.FiringDuplicates) - duplicatesBefore
	if written > float64(len(want)) || written+duplicates < float64(len(want)) {
		t.Errorf("milestone_triggers_firings_total moved by %v and _firing_duplicates_total by %v for %d firings", written, duplicates, len(want))
	}
	t.Logf("%d events, %d firings, 7 crashes and restarts: every firing once (%v offered again and refused)",
		total, len(want), metricstest.Value(t, metrics.FiringDuplicates)-duplicatesBefore)
}

// Until Ready is closed the pipeline evaluates nothing, so a trigger that
// reaches the set late still sees the crossings of the events before it.
func TestNothingIsEvaluatedBeforeReady(t *testing.T) {
	s := newSystem(t)
	triggers := triggerset.NewMemory()
	s.publish(newEvent("e1", "ld_1", "page_view", 60))

	ready := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan error, 1)}
	p := &Pipeline{Streams: s.streams, Ledger: s.ledger, Triggers: triggers, Log: testr.New(t), Ready: ready,
		OnCommit: func(b Batch) {
			r.mu.Lock()
			r.lastSeq, r.batches = b.LastSeq, r.batches+1
			r.mu.Unlock()
		}}
	go func() { r.done <- p.Start(ctx) }()

	time.Sleep(200 * time.Millisecond)
	r.mu.Lock()
	batches := r.batches
	r.mu.Unlock()
	if batches != 0 {
		t.Fatalf("the pipeline committed %d batches before Ready", batches)
	}
	triggers.Upsert(trigger("any-50", "", 50)) // the controller catches up
	close(ready)
	r.waitFor(t, 1)
	r.stop(t)
	if got := summarize(mustFirings(t, s)); fmt.Sprint(got) != fmt.Sprint([]fired{{"any-50", "ld_1", "e1"}}) {
		t.Fatalf("firings = %v, want the crossing of e1", got)
	}
}

func mustFirings(t *testing.T, s *system) []ledger.Firing {
	firings, _ := outbox(t, s.conn.JS)
	return firings
}

// A batch's firings are committed as one atomic batch (one fsync), and a
// snapshot's lead states as batches of at most a thousand: the counts of
// the stream writers say so.
func TestBatchesAreGroupCommitted(t *testing.T) {
	s := newSystem(t)
	triggers := triggerset.NewMemory()
	triggers.Upsert(trigger("t", "", 50))
	const leads = 256 // a few pipeline batches (BatchSize 64), one firing each
	var evs []event.Event
	for i := range leads {
		evs = append(evs, newEvent(fmt.Sprintf("e%d", i), fmt.Sprintf("ld_%d", i), "page_view", 60))
	}
	s.publish(evs...)
	commits := func(name string) float64 {
		return testutil.ToFloat64(metrics.StreamBatches.WithLabelValues(name)) + testutil.ToFloat64(metrics.StreamBatchFallbacks.WithLabelValues(name))
	}
	firingCommits, leadCommits := commits(stream.FiringsStream), commits(stream.BucketStream(stream.LeadsBucket))
	r := s.start(triggers, s.ledger)
	r.waitFor(t, leads)
	r.stop(t) // the final snapshot
	firings, _ := outbox(t, s.conn.JS)
	if len(firings) != leads {
		t.Fatalf("%d firings, want %d", len(firings), leads)
	}
	// A firing written on its own is a commit of its own (a batch's
	// firings under the writer's MinBatch are written one by one), so the
	// bound allows for a small last batch.
	if got := commits(stream.FiringsStream) - firingCommits; got > float64(leads)/8 {
		t.Errorf("%v commits of firings for %d firings: firings were not grouped", got, leads)
	}
	if got := commits(stream.BucketStream(stream.LeadsBucket)) - leadCommits; got > float64(leads)/8 {
		t.Errorf("%v commits of lead states for %d leads: snapshots were not grouped", got, leads)
	}
}

// handoffLedger lets a second owner claim the partition while the first
// is in the middle of committing its Nth batch: the first's commit
// carries on after the claim, as a paused process's would.
type handoffLedger struct {
	Ledger
	on      int
	handoff func() // claims the partition for the second owner, and waits for it

	mu      sync.Mutex
	batches int
	fenced  int // snapshots of the first owner refused after the claim
}

func (h *handoffLedger) Claim(ctx context.Context, p int, owner string) (Partition, error) {
	part, err := h.Ledger.Claim(ctx, p, owner)
	if err != nil {
		return nil, err
	}
	return fencedCounter{part, h}, nil
}

type fencedCounter struct {
	Partition
	h *handoffLedger
}

func (f fencedCounter) Snapshot(ctx context.Context, states map[string]ledger.LeadState, through uint64) error {
	err := f.Partition.Snapshot(ctx, states, through)
	if errors.Is(err, ledger.ErrFenced) {
		f.h.mu.Lock()
		f.h.fenced++
		f.h.mu.Unlock()
	}
	return err
}

func (h *handoffLedger) CommitFirings(ctx context.Context, firings []ledger.Firing) error {
	h.mu.Lock()
	h.batches++
	now := h.batches == h.on
	h.mu.Unlock()
	if now {
		h.handoff()
	}
	return h.Ledger.CommitFirings(ctx, firings)
}

// TestAHandOffMidBatchNeitherLosesNorRepeatsFirings: owner A is evaluating
// partition 0 when owner B claims it, in the middle of A's commit of a
// batch. A goes on as a stale owner would until its next snapshot is
// refused; B resumes from A's last durable snapshot. Every crossing is in
// the outbox once, and the lead states B leaves are the evaluator's.
func TestAHandOffMidBatchNeitherLosesNorRepeatsFirings(t *testing.T) {
	s := newSystem(t)
	triggers, events, want := knownCrossings()
	s.publish(events...)
	total := uint64(len(events))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var (
		mu       sync.Mutex
		lastB    uint64
		claimed  = make(chan struct{})
		aStopped = make(chan error, 1)
		bStopped = make(chan error, 1)
	)
	pipelineB := &Pipeline{Streams: s.streams, Ledger: s.ledger, Triggers: triggers, Log: testr.New(t).WithName("B"), Identity: "B",
		BatchSize: 64, SnapshotInterval: 5 * time.Millisecond,
		OnCommit: func(b Batch) {
			mu.Lock()
			lastB = b.LastSeq
			mu.Unlock()
		}}
	bLedger := &claimSignal{Ledger: s.ledger, claimed: claimed}
	pipelineB.Ledger = bLedger
	h := &handoffLedger{Ledger: s.ledger, on: 10, handoff: func() {
		go func() { bStopped <- pipelineB.RunPartition(ctx, 0) }()
		<-claimed
	}}
	pipelineA := &Pipeline{Streams: s.streams, Ledger: h, Triggers: triggers, Log: testr.NewWithOptions(t, testr.Options{Verbosity: 0}).WithName("A"),
		Identity: "A", BatchSize: 64, SnapshotInterval: 5 * time.Millisecond}
	go func() { aStopped <- pipelineA.RunPartition(ctx, 0) }()

	deadline := time.Now().Add(60 * time.Second)
	for {
		mu.Lock()
		done := lastB >= total
		mu.Unlock()
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("B did not reach the end of the stream (at %d of %d)", lastB, total)
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	for _, ch := range []chan error{aStopped, bStopped} {
		if err := <-ch; err != nil {
			t.Fatal(err)
		}
	}
	if h.fenced == 0 {
		t.Error("A's snapshots after B's claim were not refused")
	}
	expectExactlyOnce(t, s.conn.JS, want)

	// The stored lead states are those B left: the evaluator's of every
	// event, as a new owner reads them.
	part, err := s.ledger.Claim(context.Background(), 0, "check")
	if err != nil {
		t.Fatal(err)
	}
	if part.Checkpoint() != total {
		t.Errorf("checkpoint %d, want %d", part.Checkpoint(), total)
	}
	lastScore := map[string]int64{}
	for _, ev := range events {
		lastScore[ev.LeadID] = ev.Score
	}
	for lead, score := range lastScore {
		st, ok, err := part.GetLead(context.Background(), ledger.LeadKey(0, ou, lead))
		if err != nil || !ok || st.State.Score != score {
			t.Errorf("lead %s stored as %+v (%v, %v), want score %d", lead, st, ok, err, score)
		}
	}
}

// claimSignal tells when its owner has claimed the partition.
type claimSignal struct {
	Ledger
	claimed chan struct{}
	once    sync.Once
}

func (c *claimSignal) Claim(ctx context.Context, p int, owner string) (Partition, error) {
	part, err := c.Ledger.Claim(ctx, p, owner)
	if err == nil {
		c.once.Do(func() { close(c.claimed) })
	}
	return part, err
}

// TestAStalledReaderIsNoticed: a partition whose events stay undelivered
// past two checks is reported stalled (its evaluation then starts again);
// one that delivers them is not.
func TestAStalledReaderIsNoticed(t *testing.T) {
	s := newSystem(t)
	s.publish(newEvent("e1", "ld_1", "page_view", 10), newEvent("e2", "ld_1", "page_view", 20))
	ctx := context.Background()
	w := stallWatch{partition: 0, interval: time.Millisecond, last: time.Now()}
	time.Sleep(2 * time.Millisecond)
	if err := w.check(ctx, s.conn.JS, 2); err != nil || w.behind != 0 {
		t.Fatalf("caught up: %v, behind %d", err, w.behind)
	}
	time.Sleep(2 * time.Millisecond)
	if err := w.check(ctx, s.conn.JS, 1); err != nil || w.behind != 2 {
		t.Fatalf("first check behind: %v, behind %d", err, w.behind)
	}
	time.Sleep(2 * time.Millisecond)
	if err := w.check(ctx, s.conn.JS, 1); !errors.Is(err, errStalled) {
		t.Fatalf("second check still behind: %v, want errStalled", err)
	}
	w.behind = 2
	time.Sleep(2 * time.Millisecond)
	if err := w.check(ctx, s.conn.JS, 2); err != nil {
		t.Fatalf("delivered in between: %v", err)
	}
}

// TestASmallLeadCacheReadsTheBucket: with room for 5 of the 40 leads, the
// evaluator reads forgotten leads from the bucket, across a restart too,
// and makes exactly the firings of a cache that holds them all.
func TestASmallLeadCacheReadsTheBucket(t *testing.T) {
	s := newSystem(t)
	triggers, events, want := knownCrossings()
	misses := metricstest.Value(t, metrics.LeadCacheMisses)
	half := len(events) / 2
	for i, part := range [][]event.Event{events[:half], events[half:]} {
		s.publish(part...)
		ctx, cancel := context.WithCancel(context.Background())
		var mu sync.Mutex
		var last uint64
		p := &Pipeline{Streams: s.streams, Ledger: s.ledger, Triggers: triggers, Log: testr.New(t), BatchSize: 64,
			SnapshotInterval: 5 * time.Millisecond, CacheSize: 5,
			OnCommit: func(b Batch) { mu.Lock(); last = b.LastSeq; mu.Unlock() }}
		done := make(chan error, 1)
		go func() { done <- p.Start(ctx) }()
		target := lastSeq(t, s.conn.JS, stream.EventsStream)
		deadline := time.Now().Add(60 * time.Second)
		for {
			mu.Lock()
			reached := last >= target
			mu.Unlock()
			if reached {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("run %d did not reach sequence %d", i, target)
			}
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if got := metricstest.Value(t, metrics.LeadCacheMisses) - misses; got == 0 {
		t.Error("no lead was read from the bucket")
	}
	expectExactlyOnce(t, s.conn.JS, want)
}
