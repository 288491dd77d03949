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
	"github.com/leadvibe/milestone-triggers-operator/internal/record"
	"github.com/leadvibe/milestone-triggers-operator/internal/stream"
	"github.com/leadvibe/milestone-triggers-operator/internal/triggerset"
)

// Attempt is what one delivery attempt did, for history and status: the
// history's one record type, of kind record.KindAttempt, as the
// dispatcher makes it and the history stores it.
type Attempt = record.Record

// Dispatcher consumes the firing outbox and delivers each firing on every
// channel its trigger has. It acknowledges a firing only when every
// channel has succeeded or been dead-lettered; until then the firing is
// redelivered when its next attempt is due, and its per-channel progress
// is kept in the DeliveriesBucket, so neither a restart nor a crash loses
// a delivery. Every attempt of a firing carries the firing's id. It is a
// manager Runnable that needs leader election.
//
// It is the one writer of delivery states: a re-send (Resend) is a
// command it carries out, and every state it writes is a compare-and-swap
// on the revision it read; when the state changed meanwhile, the firing is
// handled again from the state as it is. Handlings of one firing (its
// outbox message and a re-send) take turns, so that they do not make the
// same attempt twice.
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
	// OnAttempt, when set, is told about every attempt as it is made (tests
	// watch with it; status comes from the history, not from here).
	OnAttempt func(Attempt)

	// Now and Jitter are the clock and the random source (tests pin them).
	Now    func() time.Time
	Jitter func() float64

	states  *states
	hosts   *limiter
	firings *turns
}

// NeedLeaderElection is false: every replica delivers the firings the
// outbox's one durable consumer hands it; a firing's delivery state is a
// compare-and-swap, so two replicas never record one attempt twice.
func (d *Dispatcher) NeedLeaderElection() bool { return false }

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
	d.firings = newTurns()
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
	// A re-send command, once carried out, carries the retries of its
	// round as an outbox message does those of the first.
	resent, err := resends.Consume(func(msg jetstream.Msg) { d.handleResend(context.WithoutCancel(ctx), msg)() })
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

// handle makes the due attempts of one firing of the outbox and returns
// finish, which waits for the firing's history records, saves its delivery
// state when it must, and acknowledges it, or asks for it again when its
// next attempt is due.
func (d *Dispatcher) handle(ctx context.Context, msg jetstream.Msg) (finish func()) {
	f, err := ledger.DecodeFiring(msg.Data())
	if err != nil {
		d.Log.Error(err, "Dropping an unreadable firing")
		_ = msg.Term()
		return func() {}
	}
	log := d.Log.WithValues("firing", f.ID, "ou", f.OU, "trigger", f.Trigger)
	done := d.firings.take(f.ID)
	state, err := d.states.load(ctx, f.ID)
	if err != nil {
		done()
		log.Error(err, "Reading the delivery state; retrying")
		_ = msg.NakWithDelay(time.Second)
		return func() {}
	}
	p := &pass{f: f, state: state, fresh: len(state.Channels) == 0}
	if p.fresh && d.History != nil {
		p.records = append(p.records, d.History.Firing(f))
	}
	return d.deliver(ctx, msg, p, log, done)
}

// handleResend carries out a re-send command (see Resend) and makes the
// due attempts of its round: a command of the state's current round with a
// dead-lettered channel starts the next round (its dead-lettered channels
// start over); the command that started the current round, offered again,
// carries on with it; any other command is stale and does nothing. The
// check is on the state, with no time window, so a command repeated or
// delayed re-sends nothing.
func (d *Dispatcher) handleResend(ctx context.Context, msg jetstream.Msg) (finish func()) {
	round, f, err := DecodeResendCommand(msg.Data())
	if err == nil && msg.Subject() != stream.ResendSubject(f.OU, f.ID) {
		err = fmt.Errorf("re-send command of firing %s of OU %s on subject %s", f.ID, f.OU, msg.Subject())
	}
	if err != nil {
		if legacy, lerr := ledger.DecodeFiring(msg.Data()); lerr == nil && legacy.ID != "" &&
			msg.Subject() == stream.ResendSubject(legacy.OU, legacy.ID) {
			// A re-send queued by an operator from before re-send commands:
			// the firing itself, whose state that operator already reset.
			// It carries the retries, as it did then.
			return d.handle(ctx, msg)
		}
		d.Log.Error(err, "Dropping an unreadable re-send")
		_ = msg.Term()
		return func() {}
	}
	log := d.Log.WithValues("firing", f.ID, "ou", f.OU, "trigger", f.Trigger, "round", round)
	meta, err := msg.Metadata()
	if err != nil {
		log.Error(err, "Reading a re-send's metadata; retrying")
		_ = msg.NakWithDelay(time.Second)
		return func() {}
	}
	done := d.firings.take(f.ID)
	state, err := d.states.load(ctx, f.ID)
	if err != nil {
		done()
		log.Error(err, "Reading the delivery state; retrying")
		_ = msg.NakWithDelay(time.Second)
		return func() {}
	}
	p := &pass{f: f, state: state}
	switch seq := meta.Sequence.Stream; {
	case state.Round == round && state.deadLettered():
		for _, ch := range state.Channels {
			if ch.Outcome == OutcomeDeadLettered {
				*ch = channelState{Outcome: OutcomePending}
			}
		}
		state.Round, state.ResendSeq, p.changed = round+1, seq, true
		log.Info("Re-sending a dead-lettered firing", "newRound", state.Round)
	case state.Round == round+1 && state.ResendSeq == seq:
		// This command started the current round: its retries go on.
	default:
		done()
		log.V(1).Info("Dropping a stale re-send", "stateRound", state.Round)
		_ = msg.Ack()
		return func() {}
	}
	return d.deliver(ctx, msg, p, log, done)
}

// pass is one handling of one firing: its delivery state, and what the
// handling started and changed.
type pass struct {
	f     ledger.Firing
	state *deliveryState
	// fresh: the firing had no delivery state (its first handling).
	fresh bool
	// changed: the state changed (an attempt made, a round started).
	changed bool
	// records are the history writes under way.
	records []func() error
}

// deliver makes the due attempts of p's firing and returns the finish of
// its handling (see handle); done ends the firing's turn, once its state
// is saved.
func (d *Dispatcher) deliver(ctx context.Context, msg jetstream.Msg, p *pass, log logr.Logger, done func()) (finish func()) {
	f, state := p.f, p.state
	def, ok := d.Triggers.Get(types.NamespacedName{Namespace: f.OU, Name: f.Trigger})
	var next time.Time
	if ok && string(def.UID) == f.TriggerUID {
		if _, waited := state.Channels[WaitingForTrigger]; waited {
			delete(state.Channels, WaitingForTrigger)
			p.changed = true
		}
		for _, n := range d.Notifiers {
			if n.Configured(def) {
				next = earliest(next, d.due(ctx, p, def, n, state.channel(n.Channel())))
			}
		}
	} else {
		// The trigger is not in the set: deleted, or not Ready (a Secret is
		// missing). Its destinations are unknown until it comes back, so the
		// firing waits on the retry schedule, then is dead-lettered.
		next = d.due(ctx, p, def, nil, state.channel(WaitingForTrigger))
	}
	// The rest waits for the history and the stream, not for a receiver.
	return func() {
		defer done()
		for _, wait := range p.records {
			if err := wait(); err != nil {
				log.Error(err, "Recording the history of a firing")
			}
		}
		// A firing delivered on every channel at its first try needs no state:
		// once acknowledged it never comes back, and a re-send finds nothing
		// dead-lettered without one. Not writing it saves a durable write per
		// firing; a crash before the acknowledgement means one more attempt
		// with the same webhook-id, as a crash before the write always did.
		// A handling that changed nothing (offered again before its next
		// attempt is due) has nothing to write either.
		if p.changed && !(p.fresh && next.IsZero() && allDelivered(state)) {
			err := d.states.save(ctx, f.ID, state)
			if errors.Is(err, errStateChanged) {
				// Another handling wrote the state since it was read (another
				// replica, in a leader change): never overwrite it; handle the
				// firing again from the state as it stands.
				log.Info("The delivery state changed meanwhile; handling the firing again")
				_ = msg.NakWithDelay(100 * time.Millisecond)
				return
			}
			if err != nil {
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
func (d *Dispatcher) due(ctx context.Context, p *pass, def triggerset.Definition, n Notifier, ch *channelState) time.Time {
	if ch.Outcome != OutcomePending {
		return time.Time{}
	}
	if ch.NextAt.After(d.Now()) {
		return ch.NextAt
	}
	d.attempt(ctx, p, def, n, ch)
	if ch.Outcome != OutcomePending {
		return time.Time{}
	}
	return ch.NextAt
}

// attempt makes one attempt on one channel (n is nil while the trigger is
// not available) and records its outcome.
func (d *Dispatcher) attempt(ctx context.Context, p *pass, def triggerset.Definition, n Notifier, ch *channelState) {
	f := p.f
	ch.Attempts++
	p.changed = true
	start := d.Now()
	a := Attempt{
		Kind: record.KindAttempt, FiringID: f.ID, OU: f.OU, Trigger: f.Trigger, LeadID: f.Event.LeadID,
		Channel: WaitingForTrigger, Round: p.state.Round, Attempt: ch.Attempts, At: start,
	}
	var (
		res Result
		err error
	)
	if n != nil {
		a.Channel, a.Destination = n.Channel(), n.Destination(def)
		res, err = d.send(ctx, n, Delivery{Firing: f, Trigger: def, Attempt: ch.Attempts, Now: start})
	} else {
		err = errors.New("the trigger is not available (deleted, or not Ready); waiting for it")
	}
	took := d.Now().Sub(start)
	a.DurationMS = took.Milliseconds()
	if err == nil {
		a.StatusCode = res.StatusCode
		ch.Outcome, ch.LastError, ch.NextAt = OutcomeDelivered, "", time.Time{}
	} else {
		a.StatusCode = StatusCode(err)
		ch.LastError = err.Error()
		a.Error = ch.LastError
		if delay, retry := d.Schedule.Next(ch.Attempts, err, d.Jitter()); retry {
			ch.NextAt = d.Now().Add(delay)
		} else {
			ch.Outcome, ch.NextAt = OutcomeDeadLettered, time.Time{}
		}
	}
	a.Outcome = ch.Outcome
	d.count(f, n != nil, a, took)
	if d.History != nil {
		p.records = append(p.records, d.History.Attempt(a))
	}
	if d.OnAttempt != nil {
		d.OnAttempt(a)
	}
	d.Log.V(1).Info("Delivery attempt", "firing", f.ID, "channel", a.Channel, "round", a.Round, "attempt", a.Attempt,
		"outcome", a.Outcome, "error", a.Error, "detail", Detail(err))
}

// count counts an attempt, and the time it took, in the metrics; sent is
// false for the wait for a trigger, which sends nothing and has no
// duration worth observing.
func (d *Dispatcher) count(f ledger.Firing, sent bool, a Attempt, took time.Duration) {
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
		metrics.ObserveAttemptDuration(a.Channel, took)
	}
}

// send makes the attempt within the timeout and the destination's limit.
func (d *Dispatcher) send(ctx context.Context, n Notifier, del Delivery) (Result, error) {
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
