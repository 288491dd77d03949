package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"

	"github.com/leadvibe/milestone-triggers-operator/internal/ledger"
	"github.com/leadvibe/milestone-triggers-operator/internal/stream"
)

// switchable is a receiver answering status until told otherwise.
type switchable struct {
	mu     sync.Mutex
	status int
}

func (s *switchable) set(status int) {
	s.mu.Lock()
	s.status = status
	s.mu.Unlock()
}

func (s *switchable) answer(int) (int, time.Duration, http.Header) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status, 0, nil
}

// state reads a firing's delivery state as the dispatcher left it.
func (f *fixture) state(id string) *deliveryState {
	f.t.Helper()
	st, err := newStates(f.streams).load(context.Background(), id)
	if err != nil {
		f.t.Fatal(err)
	}
	return st
}

// command queues a re-send command of round for firing with message id,
// as Resend does, bypassing Resend's checks (a command arriving late, or
// after the duplicate window).
func (f *fixture) command(firing ledger.Firing, round int, id string) {
	f.t.Helper()
	raw, err := firing.Encode()
	if err != nil {
		f.t.Fatal(err)
	}
	data, err := json.Marshal(resendCommand{Round: round, Firing: raw})
	if err != nil {
		f.t.Fatal(err)
	}
	res, err := f.streams.Resends.Write(context.Background(), stream.Msg{Subject: stream.ResendSubject(firing.OU, firing.ID), Data: data, ID: id})
	if err != nil {
		f.t.Fatal(err)
	}
	if res[0].Duplicate {
		f.t.Fatalf("command %s was dropped as a duplicate", id)
	}
}

// drained waits until every queued re-send command has been taken up and
// acknowledged by the dispatcher.
func (f *fixture) drained() {
	f.t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		c, err := f.streams.JS.Consumer(ctx, stream.ResendsStream, stream.ResendConsumer)
		if err != nil {
			f.t.Fatal(err)
		}
		info, err := c.Info(ctx)
		if err != nil {
			f.t.Fatal(err)
		}
		if info.NumPending == 0 && info.NumAckPending == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	f.t.Fatal("the dispatcher did not take up every re-send command")
}

// waitDeadLettered waits until the firing's saved state has a
// dead-lettered channel (it is saved after the attempt is reported).
func (f *fixture) waitDeadLettered(id string) {
	f.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !f.state(id).deadLettered() {
		if time.Now().After(deadline) {
			f.t.Fatalf("firing %s was never saved dead-lettered", id)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// deadLetter commits a firing that the receiver (answering 410) makes
// dead-lettered, and waits for it.
func deadLetter(t *testing.T, id string) (*fixture, *receiver, *switchable, ledger.Firing, func()) {
	t.Helper()
	sw := &switchable{status: http.StatusGone}
	rcv := newReceiver(t, sw.answer)
	rcv.up(t)
	f := newFixture(t, rcv.url())
	stop := f.start(2 * time.Second)
	firing := f.fire(id)
	f.waitOutcome(firing.ID, OutcomeDeadLettered)
	f.waitDeadLettered(firing.ID)
	return f, rcv, sw, firing, stop
}

func posts(rcv *receiver) int {
	ids, _ := rcv.requests()
	return len(ids)
}

// 50 re-sends in a row of one dead-lettered firing make one more POST:
// the first queues the command, the rest find it queued (the same message
// id) or find nothing dead-lettered any more.
func TestFiftyResendsInARowSendOnce(t *testing.T) {
	f, rcv, sw, firing, stop := deadLetter(t, "f-fifty")
	defer stop()
	sw.set(http.StatusOK)
	queued, refused := 0, 0
	for range 50 {
		switch err := Resend(context.Background(), f.streams, "demo", firing.Trigger, firing.ID); {
		case err == nil:
			queued++
		case errors.Is(err, ErrNotDeadLettered):
			refused++
		default:
			t.Fatal(err)
		}
	}
	if queued == 0 {
		t.Fatal("no re-send was queued")
	}
	f.waitOutcome(firing.ID, OutcomeDelivered)
	f.drained()
	time.Sleep(200 * time.Millisecond)
	if n := posts(rcv); n != 2 {
		t.Fatalf("the receiver saw %d POSTs after 50 re-sends (%d queued, %d refused), want the dead-lettered one and one re-send", n, queued, refused)
	}
	if st := f.state(firing.ID); st.Round != 1 || st.Channels[ChannelWebhook].Outcome != OutcomeDelivered {
		t.Fatalf("state %+v, want round 1 delivered", st)
	}
}

// Exactly once does not lean on the stream's duplicate window: 50
// commands of the same round under 50 message ids (as after the window)
// are carried out once, since only the first finds its round current.
func TestRepeatedCommandsPastTheDuplicateWindowSendOnce(t *testing.T) {
	f, rcv, sw, firing, stop := deadLetter(t, "f-window")
	stop() // the commands wait in the queue
	sw.set(http.StatusOK)
	for i := range 50 {
		f.command(firing, 0, fmt.Sprintf("late-%d", i))
	}
	stop = f.start(2 * time.Second)
	defer stop()
	f.waitOutcome(firing.ID, OutcomeDelivered)
	f.drained()
	time.Sleep(200 * time.Millisecond)
	if n := posts(rcv); n != 2 {
		t.Fatalf("the receiver saw %d POSTs after 50 commands of one round, want 2", n)
	}
	if st := f.state(firing.ID); st.Round != 1 {
		t.Fatalf("state %+v, want round 1", st)
	}
}

// A command of an old round does nothing, even when the firing is
// dead-lettered again; a command of the current round re-sends.
func TestAStaleResendDoesNothing(t *testing.T) {
	f, rcv, _, firing, stop := deadLetter(t, "f-stale")
	defer stop()
	if err := Resend(context.Background(), f.streams, "demo", firing.Trigger, firing.ID); err != nil {
		t.Fatal(err)
	}
	f.drained() // round 1, dead-lettered again (still 410)
	f.waitDeadLettered(firing.ID)
	if st := f.state(firing.ID); st.Round != 1 || !st.deadLettered() {
		t.Fatalf("state %+v, want round 1 dead-lettered", st)
	}
	if n := posts(rcv); n != 2 {
		t.Fatalf("%d POSTs, want 2", n)
	}
	before := f.state(firing.ID)

	f.command(firing, 0, "stale-round-0")
	f.drained()
	time.Sleep(200 * time.Millisecond)
	if n := posts(rcv); n != 2 {
		t.Fatalf("a stale command sent: %d POSTs, want 2", n)
	}
	if after := f.state(firing.ID); after.revision != before.revision {
		t.Fatalf("a stale command wrote the state: revision %d, then %d", before.revision, after.revision)
	}

	f.command(firing, 1, "current-round-1")
	f.drained()
	// The command is taken before its POST is made: wait for the POST.
	for deadline := time.Now().Add(10 * time.Second); posts(rcv) < 3 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	if n := posts(rcv); n != 3 {
		t.Fatalf("a command of the current round: %d POSTs, want 3", n)
	}
	if st := f.state(firing.ID); st.Round != 2 {
		t.Fatalf("state %+v, want round 2", st)
	}
}

// A firing with nothing dead-lettered is not re-sent: Resend refuses it
// and queues nothing, and no POST is made.
func TestResendOfADeliveredFiringSendsNothing(t *testing.T) {
	rcv := newReceiver(t, func(int) (int, time.Duration, http.Header) { return 200, 0, nil })
	rcv.up(t)
	f := newFixture(t, rcv.url())
	stop := f.start(2 * time.Second)
	defer stop()
	firing := f.fire("f-fine")
	f.waitOutcome(firing.ID, OutcomeDelivered)
	for range 3 {
		if err := Resend(context.Background(), f.streams, "demo", firing.Trigger, firing.ID); !errors.Is(err, ErrNotDeadLettered) {
			t.Fatalf("re-sending a delivered firing: %v, want ErrNotDeadLettered", err)
		}
	}
	info, err := f.streams.JS.Stream(context.Background(), stream.ResendsStream)
	if err != nil {
		t.Fatal(err)
	}
	if st := info.CachedInfo().State; st.Msgs != 0 || st.LastSeq != 0 {
		t.Fatalf("the re-send queue holds %d messages (last %d), want none ever", st.Msgs, st.LastSeq)
	}
	time.Sleep(200 * time.Millisecond)
	if n := posts(rcv); n != 1 {
		t.Fatalf("%d POSTs, want the one delivery", n)
	}
}

// A re-send queued by an operator from before re-send commands (the
// firing itself, its state already reset by the REST side) still carries
// its retries after an upgrade.
func TestAResendOfAnOlderOperatorStillDelivers(t *testing.T) {
	f, rcv, sw, firing, stop := deadLetter(t, "f-legacy")
	stop()
	sw.set(http.StatusOK)
	ctx := context.Background()
	st := newStates(f.streams)
	state := f.state(firing.ID)
	*state.Channels[ChannelWebhook] = channelState{Outcome: OutcomePending}
	if err := st.save(ctx, firing.ID, state); err != nil {
		t.Fatal(err)
	}
	raw, _ := firing.Encode()
	if _, err := f.streams.Resends.Write(ctx, stream.Msg{Subject: stream.ResendSubject(firing.OU, firing.ID), Data: raw}); err != nil {
		t.Fatal(err)
	}
	stop = f.start(2 * time.Second)
	defer stop()
	f.waitOutcome(firing.ID, OutcomeDelivered)
	f.drained()
	if n := posts(rcv); n != 2 {
		t.Fatalf("%d POSTs, want 2", n)
	}
}

// A delivery state is written by compare-and-swap: a save from a read
// that another save overtook is refused, and the state stays as the
// winner wrote it.
func TestADeliveryStateIsNotOverwritten(t *testing.T) {
	f := newFixture(t, "http://127.0.0.1:1/hook")
	ctx := context.Background()
	st := newStates(f.streams)
	a, err := st.load(ctx, "f-cas")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := st.load(ctx, "f-cas")
	a.channel(ChannelWebhook).Attempts = 1
	b.channel(ChannelWebhook).Attempts = 7
	if err := st.save(ctx, "f-cas", a); err != nil {
		t.Fatal(err)
	}
	if err := st.save(ctx, "f-cas", b); !errors.Is(err, errStateChanged) {
		t.Fatalf("a second new state: %v, want errStateChanged", err)
	}
	a, _ = st.load(ctx, "f-cas")
	c, _ := st.load(ctx, "f-cas")
	a.Round, c.Round = 1, 5
	if err := st.save(ctx, "f-cas", a); err != nil {
		t.Fatal(err)
	}
	if err := st.save(ctx, "f-cas", c); !errors.Is(err, errStateChanged) {
		t.Fatalf("a save at a stale revision: %v, want errStateChanged", err)
	}
	if got, _ := st.load(ctx, "f-cas"); got.Round != 1 || got.Channels[ChannelWebhook].Attempts != 1 {
		t.Fatalf("state %+v, want the first writer's", got)
	}
}

// intruder is a channel that, during its first attempt, writes the
// firing's delivery state itself: another writer overtaking the
// dispatcher between its read and its save.
type intruder struct {
	postNotifier
	once  sync.Once
	write func()
}

func (n *intruder) Send(ctx context.Context, d Delivery) (Result, error) {
	res, err := n.postNotifier.Send(ctx, d)
	n.once.Do(n.write)
	return res, err
}

// When the state changed between the dispatcher's read and its save, the
// dispatcher does not overwrite it: it handles the firing again from the
// state as it stands.
func TestTheDispatcherNeverOverwritesAChangedState(t *testing.T) {
	sw := &switchable{status: http.StatusServiceUnavailable}
	rcv := newReceiver(t, sw.answer)
	rcv.up(t)
	f := newFixture(t, rcv.url())
	ctx, cancel := context.WithCancel(context.Background())
	theirs := &deliveryState{Channels: map[string]*channelState{ChannelWebhook: {Attempts: 9, Outcome: OutcomeDelivered}}, Round: 7}
	n := &intruder{postNotifier: postNotifier{client: &http.Client{}}, write: func() {
		if err := newStates(f.streams).save(context.Background(), "f-intruder", theirs); err != nil {
			t.Error(err)
		}
	}}
	d := &Dispatcher{
		Streams: f.streams, Triggers: f.triggers, Log: testr.New(t), Notifiers: []Notifier{n},
		Schedule: Schedule{0, 50 * time.Millisecond, 50 * time.Millisecond}, Timeout: 2 * time.Second,
	}
	done := make(chan error, 1)
	go func() { done <- d.Start(ctx) }()
	defer func() { cancel(); <-done }()

	f.fire("f-intruder")
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := f.streams.JS.Consumer(context.Background(), stream.FiringsStream, stream.DispatcherConsumer)
		if err != nil {
			t.Fatal(err)
		}
		info, _ := c.Info(context.Background())
		if info != nil && info.NumPending == 0 && info.NumAckPending == 0 {
			break // acknowledged: the state it found says delivered
		}
		if time.Now().After(deadline) {
			t.Fatal("the firing was never acknowledged")
		}
		time.Sleep(10 * time.Millisecond)
	}
	got := f.state("f-intruder")
	if got.Round != 7 || got.Channels[ChannelWebhook].Attempts != 9 {
		t.Fatalf("state %+v: the dispatcher overwrote the other writer's state", got)
	}
	if n := posts(rcv); n != 1 {
		t.Fatalf("%d POSTs, want 1: the state said delivered after the first", n)
	}
}

func FuzzDecodeResendCommand(f *testing.F) {
	firing, _ := ledger.Firing{ID: "mtf_1", OU: "demo", Trigger: "hot"}.Encode()
	good, _ := json.Marshal(resendCommand{Round: 2, Firing: firing})
	for _, seed := range [][]byte{good, []byte(`{}`), []byte(`{"round":-1,"firing":{}}`), []byte(`{"round":0,"firing":null}`),
		[]byte(`{"round":0,"firing":{"id":"x","ou":"y"},"extra":1}`), []byte(`null`), []byte(`{"round":1e9,"firing":"x"}`)} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		round, got, err := DecodeResendCommand(data)
		if err != nil {
			return
		}
		if round < 0 || got.ID == "" || got.OU == "" {
			t.Fatalf("accepted %q as round %d of %+v", data, round, got)
		}
	})
}
