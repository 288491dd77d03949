package notify

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/nats-io/nats.go/jetstream"
	"k8s.io/apimachinery/pkg/types"

	"github.com/leadvibe/milestone-triggers-operator/internal/ledger"
	"github.com/leadvibe/milestone-triggers-operator/internal/metrics"
	"github.com/leadvibe/milestone-triggers-operator/internal/stream"
	"github.com/leadvibe/milestone-triggers-operator/internal/triggerset"
)

// Attempt is what one delivery attempt did, for history and status.
type Attempt struct {
	FiringID    string
	OU          string
	Trigger     string
	LeadID      string
	Channel     string
	Destination string // without credentials
	Number      int
	StatusCode  int
	Error       string // empty on success
	Outcome     string // OutcomeDelivered, OutcomePending (will retry) or OutcomeDeadLettered
	At          time.Time
	Duration    time.Duration
}

// Dispatcher consumes the firing outbox and delivers each firing on every
// channel its trigger has. It acknowledges a firing only when every
// channel has succeeded or been dead-lettered; until then the firing is
// redelivered when its next attempt is due, and its per-channel progress
// is kept in the DeliveriesBucket, so neither a restart nor a crash loses
// a delivery. Every attempt of a firing carries the firing's id. It is a
// manager Runnable that needs leader election.
type Dispatcher struct {
	// Streams is the ensured JetStream layout: the outbox and re-sends it
	// consumes (stream.DispatcherConsumer, stream.ResendConsumer), the
	// delivery states it keeps.
	Streams   *stream.Streams
	Triggers  triggerset.Set
	Notifiers []Notifier
	Log       logr.Logger
	// Ready, when set, holds deliveries back until it is closed: until the
	// trigger set is complete, a firing would find its trigger missing and
	// spend an attempt waiting for it.
	Ready <-chan struct{}

	// Schedule is the retry schedule (DefaultSchedule when nil).
	Schedule Schedule
	// Timeout bounds one attempt (default 10s).
	Timeout time.Duration
	// Concurrency bounds the firings delivered at once (default 64), and
	// PerDestination the attempts to one destination at once (default 4).
	Concurrency    int
	PerDestination int
	// History, when set, records each firing the first time the
	// dispatcher takes it up, and every attempt. Its writes overlap the
	// deliveries; the dispatcher waits for them before it acknowledges the
	// firing, so that no record is lost to a crash.
	History Recorder
	// OnAttempt, when set, is told about every attempt (status).
	OnAttempt func(Attempt)

	// Now and Jitter are the clock and the random source (tests pin them).
	Now    func() time.Time
	Jitter func() float64

	states *states
	hosts  *limiter
}

// NeedLeaderElection implements manager.LeaderElectionRunnable.
func (d *Dispatcher) NeedLeaderElection() bool { return true }

func (d *Dispatcher) defaults() {
	if d.Schedule == nil {
		d.Schedule = DefaultSchedule
	}
	if d.Timeout <= 0 {
		d.Timeout = 10 * time.Second
	}
	if d.Concurrency <= 0 {
		d.Concurrency = 64
	}
	if d.PerDestination <= 0 {
		d.PerDestination = 4
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Jitter == nil {
		d.Jitter = rand.Float64
	}
	d.hosts = newLimiter(d.PerDestination)
	for _, n := range d.Notifiers {
		metrics.InitChannel(n.Channel())
	}
	metrics.InitChannel(WaitingForTrigger)
}

// Recorder writes the history of deliveries. Firing and Attempt start
// writing a record and return a function that waits until it is stored
// and says whether that failed.
type Recorder interface {
	Firing(f ledger.Firing) (wait func() error)
	Attempt(a Attempt) (wait func() error)
}

// AckWait is how long the dispatcher may hold a firing before the outbox
// offers it again: every channel's attempt within its timeout, and some
// margin (the layout's DispatcherAckWait).
func AckWait(timeout time.Duration, channels int) time.Duration {
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	return timeout*time.Duration(channels+1) + 30*time.Second
}

// StateTTL is how long a firing's delivery state is kept after its last
// change (the layout's Deliveries): twice the retry schedule and a day.
func StateTTL(s Schedule) time.Duration {
	if s == nil {
		s = DefaultSchedule
	}
	return 2*s.Total() + 24*time.Hour
}

// Start delivers until ctx ends, then waits for the attempts under way.
func (d *Dispatcher) Start(ctx context.Context) error {
	d.defaults()
	if d.Ready != nil {
		select {
		case <-d.Ready:
		case <-ctx.Done():
			return nil
		}
	}
	d.states = newStates(d.Streams)
	consumer, err := d.Streams.JS.Consumer(ctx, stream.FiringsStream, stream.DispatcherConsumer)
	if err != nil {
		return fmt.Errorf("opening the dispatcher's consumer: %w", err)
	}
	resends, err := d.Streams.JS.Consumer(ctx, stream.ResendsStream, stream.ResendConsumer)
	if err != nil {
		return fmt.Errorf("opening the re-send consumer: %w", err)
	}
	msgs, err := consumer.Messages(jetstream.PullMaxMessages(d.Concurrency))
	if err != nil {
		return err
	}
	// Re-sent firings are handled like any other: the delivery state says
	// which channels start over.
	resent, err := resends.Consume(func(msg jetstream.Msg) { d.handle(context.WithoutCancel(ctx), msg)() })
	if err != nil {
		msgs.Stop()
		return err
	}
	defer resent.Drain()
	go func() { <-ctx.Done(); msgs.Stop() }()

	// Attempts run to completion when ctx ends (a graceful stop), within
	// their own timeout.
	work := context.WithoutCancel(ctx)
	sem := make(chan struct{}, d.Concurrency)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		msg, err := msgs.Next()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return nil
			}
			d.Log.Error(err, "Reading the outbox")
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			// The slot is freed once the attempts are made: the wait for
			// the firing's history (group-committed with that of every
			// other firing under way) and its acknowledgement do not hold
			// up the next firing's delivery.
			finish := d.handle(work, msg)
			<-sem
			finish()
		}()
	}
}

// handle makes the due attempts of one firing and returns finish, which
// waits for the firing's history records, saves its delivery state when
// it must, and acknowledges it, or asks for it again when its next attempt
// is due.
func (d *Dispatcher) handle(ctx context.Context, msg jetstream.Msg) (finish func()) {
	f, err := ledger.DecodeFiring(msg.Data())
	if err != nil {
		d.Log.Error(err, "Dropping an unreadable firing")
		_ = msg.Term()
		return func() {}
	}
	log := d.Log.WithValues("firing", f.ID, "ou", f.OU, "trigger", f.Trigger)
	state, err := d.states.load(ctx, f.ID)
	if err != nil {
		log.Error(err, "Reading the delivery state; retrying")
		_ = msg.NakWithDelay(time.Second)
		return func() {}
	}

	fresh := len(state.Channels) == 0
	var records []func() error // history writes under way
	if fresh && d.History != nil {
		records = append(records, d.History.Firing(f))
	}
	def, ok := d.Triggers.Get(types.NamespacedName{Namespace: f.OU, Name: f.Trigger})
	var next time.Time
	if ok && string(def.UID) == f.TriggerUID {
		delete(state.Channels, WaitingForTrigger)
		for _, n := range d.Notifiers {
			if n.Configured(def) {
				next = earliest(next, d.due(ctx, f, def, n, state.channel(n.Channel()), &records))
			}
		}
	} else {
		// The trigger is not in the set: deleted, or not Ready (a Secret is
		// missing). Its destinations are unknown until it comes back, so the
		// firing waits on the retry schedule, then is dead-lettered.
		next = d.due(ctx, f, def, nil, state.channel(WaitingForTrigger), &records)
	}
	// The rest waits for the history and the stream, not for a receiver.
	return func() {
		for _, wait := range records {
			if err := wait(); err != nil {
				log.Error(err, "Recording the history of a firing")
			}
		}
		// A firing delivered on every channel at its first try needs no state:
		// once acknowledged it never comes back, and a re-send finds nothing
		// dead-lettered without one. Not writing it saves a durable write per
		// firing; a crash before the acknowledgement means one more attempt
		// with the same webhook-id, as a crash before the write always did.
		if !(fresh && next.IsZero() && allDelivered(state)) {
			if err := d.states.save(ctx, f.ID, state); err != nil {
				log.Error(err, "Saving the delivery state; the firing will be redelivered")
				_ = msg.NakWithDelay(time.Second)
				return
			}
		}
		if next.IsZero() {
			_ = msg.Ack()
			return
		}
		_ = msg.NakWithDelay(max(time.Until(next), 0))
	}
}

// WaitingForTrigger is the channel name of the attempts (and delivery
// state) of a firing whose trigger is not available: not a notification
// channel, so status reports no health for it, but history shows it.
const WaitingForTrigger = "trigger"

// due makes the channel's attempt when it is due and returns when the
// next one is, or the zero time when the channel is finished.
func (d *Dispatcher) due(ctx context.Context, f ledger.Firing, def triggerset.Definition, n Notifier, ch *channelState, records *[]func() error) time.Time {
	if ch.Outcome != OutcomePending {
		return time.Time{}
	}
	if ch.NextAt.After(d.Now()) {
		return ch.NextAt
	}
	d.attempt(ctx, f, def, n, ch, records)
	if ch.Outcome != OutcomePending {
		return time.Time{}
	}
	return ch.NextAt
}

// attempt makes one attempt on one channel (n is nil while the trigger is
// not available) and records its outcome.
func (d *Dispatcher) attempt(ctx context.Context, f ledger.Firing, def triggerset.Definition, n Notifier, ch *channelState, records *[]func() error) {
	ch.Attempts++
	start := d.Now()
	a := Attempt{FiringID: f.ID, OU: f.OU, Trigger: f.Trigger, LeadID: f.Event.LeadID, Channel: WaitingForTrigger, Number: ch.Attempts, At: start}
	var err error
	if n != nil {
		a.Channel, a.Destination = n.Channel(), n.Destination(def)
		err = d.send(ctx, n, Delivery{Firing: f, Trigger: def, Attempt: ch.Attempts, Now: start})
	} else {
		err = errors.New("the trigger is not available (deleted, or not Ready); waiting for it")
	}
	a.Duration = d.Now().Sub(start)
	a.StatusCode = StatusCode(err)
	if err == nil {
		ch.Outcome, ch.LastError, ch.NextAt = OutcomeDelivered, "", time.Time{}
	} else {
		ch.LastError = err.Error()
		a.Error = ch.LastError
		if delay, retry := d.Schedule.Next(ch.Attempts, err, d.Jitter()); retry {
			ch.NextAt = d.Now().Add(delay)
		} else {
			ch.Outcome, ch.NextAt = OutcomeDeadLettered, time.Time{}
		}
	}
	a.Outcome = ch.Outcome
	d.record(f, n != nil, a)
	if d.History != nil {
		*records = append(*records, d.History.Attempt(a))
	}
	if d.OnAttempt != nil {
		d.OnAttempt(a)
	}
	d.Log.V(1).Info("Delivery attempt", "firing", f.ID, "channel", a.Channel, "attempt", a.Number, "outcome", a.Outcome, "error", a.Error)
}

// record counts an attempt in the metrics; sent is false for the wait
// for a trigger, which sends nothing and has no duration worth observing.
func (d *Dispatcher) record(f ledger.Firing, sent bool, a Attempt) {
	switch a.Outcome {
	case OutcomeDelivered:
		metrics.DeliveryAttempt(a.Channel, metrics.OutcomeDelivered)
		if !f.FiredAt.IsZero() {
			metrics.ObserveFiringToDelivery(a.Channel, d.Now().Sub(f.FiredAt))
		}
	case OutcomeDeadLettered:
		metrics.DeliveryAttempt(a.Channel, metrics.OutcomeDeadLettered)
	default:
		metrics.DeliveryAttempt(a.Channel, metrics.OutcomeRetry)
	}
	if sent {
		metrics.ObserveAttemptDuration(a.Channel, a.Duration)
	}
}

// send makes the attempt within the timeout and the destination's limit.
func (d *Dispatcher) send(ctx context.Context, n Notifier, del Delivery) error {
	release := d.hosts.acquire(n.Channel() + " " + n.Destination(del.Trigger))
	defer release()
	defer metrics.DeliveryStarted(n.Channel())()
	ctx, cancel := context.WithTimeout(ctx, d.Timeout)
	defer cancel()
	return n.Send(ctx, del)
}

// allDelivered reports whether every channel of state delivered.
func allDelivered(state *deliveryState) bool {
	for _, ch := range state.Channels {
		if ch.Outcome != OutcomeDelivered {
			return false
		}
	}
	return true
}

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || b.Before(a) {
		return b
	}
	return a
}
