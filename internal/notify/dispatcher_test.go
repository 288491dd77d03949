package notify

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"k8s.io/apimachinery/pkg/types"

	"github.com/leadvibe/milestone-triggers-operator/internal/event"
	"github.com/leadvibe/milestone-triggers-operator/internal/ledger"
	"github.com/leadvibe/milestone-triggers-operator/internal/stream"
	"github.com/leadvibe/milestone-triggers-operator/internal/stream/streamtest"
	"github.com/leadvibe/milestone-triggers-operator/internal/triggerset"
)

// postNotifier is a minimal channel for the dispatcher's tests: it POSTs
// to the trigger's webhook URL with the firing id as webhook-id and
// classifies the answer as SPEC section 5 says. The webhook package is
// the real channel; this keeps these tests about the dispatcher.
type postNotifier struct{ client *http.Client }

func (postNotifier) Channel() string                         { return ChannelWebhook }
func (postNotifier) Configured(t triggerset.Definition) bool { return !t.Destinations.Webhook.IsZero() }
func (postNotifier) Destination(t triggerset.Definition) string {
	return t.Destinations.Webhook.String()
}

func (p postNotifier) Send(ctx context.Context, d Delivery) (Result, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.Trigger.Destinations.Webhook.Reveal(), nil)
	if err != nil {
		return Result{}, Permanent(err)
	}
	req.Header.Set("webhook-id", d.Firing.ID)
	resp, err := p.client.Do(req)
	if err != nil {
		return Result{}, fmt.Errorf("posting: %w", err)
	}
	resp.Body.Close()
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		return Result{StatusCode: code}, nil
	case code == 408 || code == 429 || code >= 500:
		ra, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		return Result{}, &Error{Err: fmt.Errorf("status %d", code), StatusCode: code, RetryAfter: time.Duration(ra) * time.Second}
	default:
		return Result{}, &Error{Err: fmt.Errorf("status %d", code), StatusCode: code, Permanent: true}
	}
}

// receiver is a real HTTP server whose answers a test scripts.
type receiver struct {
	mu      sync.Mutex
	answer  func(n int) (status int, delay time.Duration, header http.Header)
	ids     []string
	times   []time.Time
	server  *http.Server
	address string
}

func newReceiver(t *testing.T, answer func(n int) (int, time.Duration, http.Header)) *receiver {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &receiver{answer: answer, address: l.Addr().String()}
	l.Close()
	return r
}

func (r *receiver) url() string { return "http://" + r.address + "/hook" }

// up starts serving on the receiver's address.
func (r *receiver) up(t *testing.T) {
	l, err := net.Listen("tcp", r.address)
	if err != nil {
		t.Fatal(err)
	}
	r.server = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.ids = append(r.ids, req.Header.Get("webhook-id"))
		r.times = append(r.times, time.Now())
		n := len(r.ids)
		r.mu.Unlock()
		status, delay, header := r.answer(n)
		time.Sleep(delay)
		for k, v := range header {
			w.Header()[k] = v
		}
		w.WriteHeader(status)
	})}
	go func() { _ = r.server.Serve(l) }()
	t.Cleanup(func() { r.server.Close() })
}

func (r *receiver) requests() ([]string, []time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.ids...), append([]time.Time(nil), r.times...)
}

type fixture struct {
	t        *testing.T
	server   *streamtest.Server
	streams  *stream.Streams
	ledger   *ledger.Ledger
	triggers *triggerset.Memory

	mu       sync.Mutex
	attempts []Attempt
}

func newFixture(t *testing.T, hook string) *fixture {
	f := &fixture{t: t, server: streamtest.Start(t), triggers: triggerset.NewMemory()}
	f.attach()
	f.triggers.Upsert(triggerset.Definition{
		Key: types.NamespacedName{Namespace: "demo", Name: "hot"}, UID: "uid-hot", DisplayName: "Hot", Threshold: 75, Active: true,
		Destinations: triggerset.Destinations{Webhook: triggerset.NewCredential(hook)},
	})
	return f
}

// restart stops the stream and starts another on the same data, as a
// restart of the operator does.
func (f *fixture) restart() {
	f.server.Restart()
	f.attach()
}

func (f *fixture) attach() {
	f.streams, f.ledger = f.server.Streams, ledger.New(f.server.Streams)
}

func (f *fixture) fire(id string) ledger.Firing {
	firing := ledger.Firing{ID: id, OU: "demo", Trigger: "hot", TriggerUID: "uid-hot", TriggerName: "Hot", Threshold: 75,
		Event: event.Event{ID: "evt-" + id, LeadID: "ld_1", EventType: "demo_request", Score: 80, CreatedAt: time.Now().UTC()}, Score: 80}
	if err := f.ledger.CommitFirings(context.Background(), []ledger.Firing{firing}); err != nil {
		f.t.Fatal(err)
	}
	return firing
}

// start runs a dispatcher with a compressed schedule until the returned
// function stops it.
func (f *fixture) start(timeout time.Duration) (stop func()) {
	return f.startWhen(timeout, nil)
}

// startWhen is start with the dispatcher held back until ready closes.
func (f *fixture) startWhen(timeout time.Duration, ready <-chan struct{}) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	d := &Dispatcher{
		Ready:   ready,
		Streams: f.streams, Triggers: f.triggers, Log: testr.New(f.t),
		Notifiers: []Notifier{postNotifier{client: &http.Client{}}},
		Schedule:  Schedule{0, 100 * time.Millisecond, 200 * time.Millisecond, 200 * time.Millisecond},
		Timeout:   timeout,
		Jitter:    func() float64 { return 0.5 },
		OnAttempt: func(a Attempt) {
			f.mu.Lock()
			f.attempts = append(f.attempts, a)
			f.mu.Unlock()
		},
	}
	done := make(chan error, 1)
	go func() { done <- d.Start(ctx) }()
	return func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				f.t.Errorf("dispatcher: %v", err)
			}
		case <-time.After(20 * time.Second):
			f.t.Error("dispatcher did not stop")
		}
	}
}

// waitOutcome waits until the firing's last attempt has the outcome.
func (f *fixture) waitOutcome(id, outcome string) []Attempt {
	f.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		f.mu.Lock()
		var mine []Attempt
		for _, a := range f.attempts {
			if a.FiringID == id {
				mine = append(mine, a)
			}
		}
		f.mu.Unlock()
		if len(mine) > 0 && mine[len(mine)-1].Outcome == outcome {
			return mine
		}
		time.Sleep(10 * time.Millisecond)
	}
	f.t.Fatalf("firing %s never reached %s; attempts: %+v", id, outcome, f.attempts)
	return nil
}

func allEqual(t *testing.T, ids []string, want string) {
	t.Helper()
	for _, id := range ids {
		if id != want {
			t.Fatalf("webhook-ids %v: every attempt must carry %s", ids, want)
		}
	}
}

func TestRetriesA500ThenDelivers(t *testing.T) {
	rcv := newReceiver(t, func(n int) (int, time.Duration, http.Header) {
		if n == 1 {
			return 500, 0, nil
		}
		return 200, 0, nil
	})
	rcv.up(t)
	f := newFixture(t, rcv.url())
	stop := f.start(2 * time.Second)
	defer stop()

	firing := f.fire("f-500")
	attempts := f.waitOutcome(firing.ID, OutcomeDelivered)
	if len(attempts) != 2 || attempts[0].StatusCode != 500 || attempts[0].Outcome != OutcomePending ||
		attempts[1].StatusCode != 200 || attempts[1].Error != "" {
		t.Fatalf("attempts = %+v, want a 500 then a success with its 200", attempts)
	}
	ids, _ := rcv.requests()
	if len(ids) != 2 {
		t.Fatalf("receiver saw %d requests, want 2", len(ids))
	}
	allEqual(t, ids, firing.ID)
}

func TestReceiverDownThenUp(t *testing.T) {
	rcv := newReceiver(t, func(int) (int, time.Duration, http.Header) { return 204, 0, nil })
	f := newFixture(t, rcv.url())
	stop := f.start(2 * time.Second)
	defer stop()

	firing := f.fire("f-down")
	time.Sleep(250 * time.Millisecond) // connection refused at least once
	rcv.up(t)
	attempts := f.waitOutcome(firing.ID, OutcomeDelivered)
	if len(attempts) < 2 || attempts[0].Error == "" {
		t.Fatalf("attempts = %+v, want failures while the receiver was down", attempts)
	}
	ids, _ := rcv.requests()
	if len(ids) != 1 {
		t.Fatalf("the receiver, once up, saw %d requests, want 1", len(ids))
	}
	allEqual(t, ids, firing.ID)
}

func TestA400IsDeadLetteredAtOnce(t *testing.T) {
	rcv := newReceiver(t, func(int) (int, time.Duration, http.Header) { return 400, 0, nil })
	rcv.up(t)
	f := newFixture(t, rcv.url())
	stop := f.start(2 * time.Second)
	defer stop()

	firing := f.fire("f-400")
	attempts := f.waitOutcome(firing.ID, OutcomeDeadLettered)
	if len(attempts) != 1 || attempts[0].StatusCode != 400 {
		t.Fatalf("attempts = %+v, want one attempt, dead-lettered", attempts)
	}
	time.Sleep(300 * time.Millisecond)
	if ids, _ := rcv.requests(); len(ids) != 1 {
		t.Fatalf("a permanent failure was retried: %d requests", len(ids))
	}
}

func TestExhaustedRetriesAreDeadLettered(t *testing.T) {
	rcv := newReceiver(t, func(int) (int, time.Duration, http.Header) { return 503, 0, nil })
	rcv.up(t)
	f := newFixture(t, rcv.url())
	stop := f.start(2 * time.Second)
	defer stop()

	firing := f.fire("f-503")
	attempts := f.waitOutcome(firing.ID, OutcomeDeadLettered)
	if len(attempts) != 4 {
		t.Fatalf("%d attempts, want the schedule's 4", len(attempts))
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	rcv := newReceiver(t, func(n int) (int, time.Duration, http.Header) {
		if n == 1 {
			return 429, 0, http.Header{"Retry-After": {"1"}}
		}
		return 200, 0, nil
	})
	rcv.up(t)
	f := newFixture(t, rcv.url())
	stop := f.start(2 * time.Second)
	defer stop()

	firing := f.fire("f-429")
	f.waitOutcome(firing.ID, OutcomeDelivered)
	_, times := rcv.requests()
	if gap := times[1].Sub(times[0]); gap < time.Second {
		t.Fatalf("retried %v after a Retry-After of 1s", gap)
	}
}

func TestASlowReceiverTimesOutAndIsRetried(t *testing.T) {
	rcv := newReceiver(t, func(n int) (int, time.Duration, http.Header) {
		if n == 1 {
			return 200, 500 * time.Millisecond, nil
		}
		return 200, 0, nil
	})
	rcv.up(t)
	f := newFixture(t, rcv.url())
	stop := f.start(150 * time.Millisecond)
	defer stop()

	firing := f.fire("f-slow")
	attempts := f.waitOutcome(firing.ID, OutcomeDelivered)
	if len(attempts) != 2 || attempts[0].Error == "" {
		t.Fatalf("attempts = %+v, want a timeout then a success", attempts)
	}
	ids, _ := rcv.requests()
	allEqual(t, ids, firing.ID)
}

func TestStoppedMidDeliveryAndRestartedStillDelivers(t *testing.T) {
	var block sync.Once
	rcv := newReceiver(t, func(n int) (int, time.Duration, http.Header) {
		var delay time.Duration
		block.Do(func() { delay = time.Second }) // the first attempt outlives the stop
		return 200, delay, nil
	})
	rcv.up(t)
	f := newFixture(t, rcv.url())
	stop := f.start(300 * time.Millisecond)
	firing := f.fire("f-restart")
	for {
		if ids, _ := rcv.requests(); len(ids) > 0 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	stop() // in the middle of the first attempt
	f.restart()
	stop = f.start(2 * time.Second)
	defer stop()

	f.waitOutcome(firing.ID, OutcomeDelivered)
	ids, _ := rcv.requests()
	allEqual(t, ids, firing.ID)
	if len(ids) < 2 {
		t.Fatalf("receiver saw %d requests, want the interrupted one and the delivery", len(ids))
	}
}

func TestAFiringWaitsForItsTrigger(t *testing.T) {
	rcv := newReceiver(t, func(int) (int, time.Duration, http.Header) { return 200, 0, nil })
	rcv.up(t)
	f := newFixture(t, rcv.url())
	def, _ := f.triggers.Get(types.NamespacedName{Namespace: "demo", Name: "hot"})
	f.triggers.Delete(def.Key) // not Ready: its Secret went missing
	stop := f.start(2 * time.Second)
	defer stop()

	firing := f.fire("f-wait")
	time.Sleep(150 * time.Millisecond)
	f.triggers.Upsert(def)
	attempts := f.waitOutcome(firing.ID, OutcomeDelivered)
	if attempts[0].Channel != WaitingForTrigger {
		t.Fatalf("attempts = %+v, want a wait for the trigger first", attempts)
	}
}

func TestADeadLetterCanBeResent(t *testing.T) {
	fail := true
	var mu sync.Mutex
	rcv := newReceiver(t, func(int) (int, time.Duration, http.Header) {
		mu.Lock()
		defer mu.Unlock()
		if fail {
			return 410, 0, nil
		}
		return 200, 0, nil
	})
	rcv.up(t)
	f := newFixture(t, rcv.url())
	stop := f.start(2 * time.Second)
	defer stop()

	firing := f.fire("f-resend")
	f.waitOutcome(firing.ID, OutcomeDeadLettered)
	if err := Resend(context.Background(), f.streams, "demo", firing.Trigger, "unknown"); !errors.Is(err, ErrFiringNotFound) {
		t.Fatalf("re-sending an unknown firing: %v, want ErrFiringNotFound", err)
	}

	mu.Lock()
	fail = false
	mu.Unlock()
	if err := Resend(context.Background(), f.streams, "demo", "another-trigger", firing.ID); !errors.Is(err, ErrFiringNotFound) {
		t.Fatalf("re-sending through another trigger: %v, want ErrFiringNotFound", err)
	}
	if err := Resend(context.Background(), f.streams, "demo", firing.Trigger, firing.ID); err != nil {
		t.Fatal(err)
	}
	f.waitOutcome(firing.ID, OutcomeDelivered)
	if err := Resend(context.Background(), f.streams, "demo", firing.Trigger, firing.ID); !errors.Is(err, ErrNotDeadLettered) {
		t.Fatalf("re-sending a delivered firing: %v, want ErrNotDeadLettered", err)
	}
	ids, _ := rcv.requests()
	if len(ids) != 2 {
		t.Fatalf("receiver saw %d requests, want the failure and the re-send", len(ids))
	}
	allEqual(t, ids, firing.ID)
}

// Until Ready closes nothing is delivered: a firing whose trigger the
// controller has not put back in the set yet is not spent on waiting.
func TestNothingIsDeliveredBeforeReady(t *testing.T) {
	rcv := newReceiver(t, func(int) (int, time.Duration, http.Header) { return 200, 0, nil })
	rcv.up(t)
	f := newFixture(t, rcv.url())
	ready := make(chan struct{})
	stop := f.startWhen(2*time.Second, ready)
	defer stop()

	firing := f.fire("f-ready")
	time.Sleep(300 * time.Millisecond)
	if ids, _ := rcv.requests(); len(ids) != 0 {
		t.Fatalf("delivered %d requests before Ready", len(ids))
	}
	close(ready)
	f.waitOutcome(firing.ID, OutcomeDelivered)
}
