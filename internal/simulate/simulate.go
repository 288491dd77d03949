// Package simulate answers "what would this trigger do with this event?":
// it evaluates one event against one trigger with the real evaluator,
// renders every notification a firing on that event sends with the real
// renderers, and, only when asked, sends them for real, marked as tests.
package simulate

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/leadvibe/milestone-triggers-operator/internal/evaluator"
	"github.com/leadvibe/milestone-triggers-operator/internal/event"
	"github.com/leadvibe/milestone-triggers-operator/internal/ledger"
	"github.com/leadvibe/milestone-triggers-operator/internal/notify"
	"github.com/leadvibe/milestone-triggers-operator/internal/triggerset"
)

// RuleInactive is the rule reported for an inactive trigger, which does
// not fire (SPEC section 4, rule 5).
const RuleInactive = "inactive"

// DefaultTestTimeout bounds each test notification.
const DefaultTestTimeout = 10 * time.Second

// Request is one simulation.
type Request struct {
	// Event is the engagement event, as POST /events takes it.
	Event event.Event
	// PreviousScore is the lead's score before the event. nil uses the
	// lead's stored state (Config.Leads): its score and pending crossings
	// as of the last snapshot, or a lead never seen, below every
	// threshold, when it has none.
	PreviousScore *int64
	// PendingCrossing says the lead has a pending crossing of this trigger
	// (it crossed on an event of another type and is still at or above the
	// threshold). It needs a PreviousScore at or above the threshold.
	PendingCrossing bool
	// SendTestNotifications sends every notification for real, marked as a
	// test, whatever the evaluation says.
	SendTestNotifications bool
}

// Config is what a simulation needs from the operator.
type Config struct {
	// EmailFrom is the From address of email notifications; empty when the
	// operator sends no email.
	EmailFrom string
	// Notifiers send test notifications: the operator's own, so that tests
	// go through the same deny list and limits as real deliveries.
	Notifiers []notify.Notifier
	// TestTimeout bounds each test notification; DefaultTestTimeout when 0.
	TestTimeout time.Duration
	// Leads reads the stored state of the lead of a request without a
	// PreviousScore: the ledger. Required for such requests.
	Leads LeadReader
}

// LeadReader reads a lead's stored state without taking part in the
// evaluation: *ledger.Ledger. found is false for a lead with no stored
// state; stored is when the state was stored.
type LeadReader interface {
	ReadLead(ctx context.Context, ou, leadID string) (state ledger.LeadState, stored time.Time, found bool, err error)
}

// Where a simulation's lead state came from (LeadState.Source).
const (
	// SourceStored: the lead's state as the evaluator last stored it.
	SourceStored = "stored"
	// SourcePreviousScore: the request's previous_score (and
	// pending_crossing); the stored state is not read.
	SourcePreviousScore = "previous_score"
	// SourceNew: the lead has no stored state, so is taken as never seen,
	// below every threshold.
	SourceNew = "new"
)

// LeadState is the lead's state before the event, as the simulation used
// it, and where it came from.
type LeadState struct {
	// Source is SourceStored, SourcePreviousScore or SourceNew.
	Source string `json:"source"`
	// Score is the lead's score before the event; nil for a lead never
	// seen.
	Score *int64 `json:"score,omitempty"`
	// PendingCrossing says the lead has a pending crossing of this
	// trigger, as it is now (same UID, epoch and threshold), that the
	// event may fire.
	PendingCrossing bool `json:"pending_crossing"`
	// AppliedSequence is the events-stream sequence of the last event the
	// stored state covers; stored states only.
	AppliedSequence *uint64 `json:"applied_sequence,omitempty"`
	// AsOf is when the state was stored; stored states only. The
	// evaluator stores its leads' states every few seconds, so events of
	// the lead since may not be in it yet.
	AsOf *time.Time `json:"as_of,omitempty"`
}

// Result is the answer of a simulation, as the REST API returns it.
type Result struct {
	TriggerID string `json:"trigger_id"`
	Active    bool   `json:"active"`
	// WouldFire says whether the trigger fires for the event; an inactive
	// trigger never does, WouldFireIfActive says what it would do once
	// active.
	WouldFire         bool   `json:"would_fire"`
	WouldFireIfActive bool   `json:"would_fire_if_active"`
	Rule              string `json:"rule"`
	SpecRule          int    `json:"spec_rule"`
	Reason            string `json:"reason"`
	// LeadState is the lead's state the event was evaluated from.
	LeadState LeadState `json:"lead_state"`
	// FiringID is the id, and webhook-id, the firing has when it fires.
	FiringID string `json:"firing_id,omitempty"`
	// Notifications are what a firing on this event sends, channel by
	// channel, rendered exactly.
	Notifications []Notification `json:"notifications"`
	// TestNotifications are the outcomes of the test notifications, when
	// asked for.
	TestNotifications []TestNotification `json:"test_notifications,omitempty"`
}

// Run simulates req against the trigger def of OU ou at time now.
func Run(ctx context.Context, cfg Config, def triggerset.Definition, req Request, now time.Time) (Result, error) {
	if err := check(def, req); err != nil {
		return Result{}, err
	}
	t := evalTrigger(def)
	state, used, err := leadState(ctx, cfg.Leads, def.Key.Namespace, t, req)
	if err != nil {
		return Result{}, err
	}
	// The event's time is its created_at, which the decoder sets to the
	// time of the request when the event has none, as the stream's time
	// stands in for it in the pipeline: the clock of cooldowns.
	x := evaluator.Explain(t, state, evaluator.Event{
		ID: req.Event.ID, LeadID: req.Event.LeadID, Type: req.Event.EventType, Score: req.Event.Score, At: req.Event.CreatedAt,
	})
	res := Result{
		TriggerID:         def.Key.Name,
		Active:            def.Active,
		WouldFire:         x.Fires && def.Active,
		WouldFireIfActive: x.Fires,
		Rule:              string(x.Rule),
		SpecRule:          x.SpecRule,
		Reason:            x.Reason,
		LeadState:         used,
	}
	if !def.Active {
		res.Rule, res.SpecRule = RuleInactive, 5
		res.Reason = "the trigger is inactive (active: false): inactive triggers do not fire and keep no pending crossings. Were it active: " + x.Reason
	}
	f := firing(def, req.Event, x.Firing.FromPending, now)
	if x.Fires {
		res.FiringID = f.ID
	}
	if res.Notifications, err = render(f, def, cfg.EmailFrom, now); err != nil {
		return Result{}, err
	}
	if req.SendTestNotifications {
		res.TestNotifications = sendTests(ctx, cfg, def, f, now)
	}
	return res, nil
}

// InputError is a request that does not fit the trigger; Field names the
// request field.
type InputError struct {
	Field, Message string
}

func (e *InputError) Error() string { return e.Field + ": " + e.Message }

func check(def triggerset.Definition, req Request) error {
	if !req.PendingCrossing {
		return nil
	}
	switch {
	case def.EventType == "":
		return &InputError{Field: "pending_crossing", Message: "the trigger has no event_type, so it never has a pending crossing"}
	case req.PreviousScore == nil || *req.PreviousScore < def.Threshold:
		return &InputError{Field: "pending_crossing", Message: fmt.Sprintf("a crossing is pending only while the lead is at or above the threshold %d: give a previous_score of at least %d", def.Threshold, def.Threshold)}
	}
	return nil
}

// evalTrigger is the evaluator's view of def, with its epoch, rearm level
// and cooldown: a stored pending crossing, disarmed entry or cooldown
// counts only if it was recorded for the trigger as it is now (its UID,
// epoch and threshold), as in the evaluator.
func evalTrigger(def triggerset.Definition) evaluator.Trigger {
	return evaluator.Trigger{
		Name: def.Key.Name, UID: string(def.UID), EventType: def.EventType,
		Threshold: def.Threshold, RearmBelow: def.RearmBelow, Cooldown: def.Cooldown,
		Active: true, Epoch: def.Epoch,
	}
}

// leadState is the lead's state before req's event, for trigger t of OU
// ou, and what the answer says of it: the request's previous_score (and
// pending_crossing) when it has one, otherwise the lead's stored state,
// read from leads, of this OU only.
func leadState(ctx context.Context, leads LeadReader, ou string, t evaluator.Trigger, req Request) (evaluator.LeadState, LeadState, error) {
	if req.PreviousScore != nil {
		score := *req.PreviousScore
		st := evaluator.LeadState{Seen: true, Score: score}
		if req.PendingCrossing {
			st.Pending = []evaluator.Pending{{Trigger: t.Name, UID: t.UID, Threshold: t.Threshold, Epoch: t.Epoch}}
		}
		return st, LeadState{Source: SourcePreviousScore, Score: &score, PendingCrossing: req.PendingCrossing}, nil
	}
	if leads == nil {
		return evaluator.LeadState{}, LeadState{}, errors.New("simulating without a previous_score: no reader of lead states is configured")
	}
	stored, at, found, err := leads.ReadLead(ctx, ou, req.Event.LeadID)
	if err != nil {
		return evaluator.LeadState{}, LeadState{}, fmt.Errorf("reading the stored state of the event's lead: %w", err)
	}
	if !found {
		return evaluator.LeadState{}, LeadState{Source: SourceNew}, nil
	}
	st, seq := stored.State, stored.AppliedSeq
	used := LeadState{Source: SourceStored, PendingCrossing: pendingOf(st, t), AppliedSequence: &seq, AsOf: &at}
	if st.Seen {
		score := st.Score
		used.Score = &score
	}
	return st, used, nil
}

// pendingOf reports whether st holds a pending crossing of t as it is
// now: recorded for t's name, UID, epoch and threshold, as
// evaluator.Explain counts one. Crossings of other triggers, of a trigger
// of the same name deleted since, or from before t was deactivated or
// re-thresholded do not count. A stored state keeps a pending crossing
// only while the lead has not re-armed (the evaluator drops it then), so
// its score need not be checked here.
func pendingOf(st evaluator.LeadState, t evaluator.Trigger) bool {
	for _, p := range st.Pending {
		if p.Trigger == t.Name && p.UID == t.UID && p.Threshold == t.Threshold && p.Epoch == t.Epoch {
			return true
		}
	}
	return false
}

// firing is the firing the pipeline records for ev, with the same id.
func firing(def triggerset.Definition, ev event.Event, fromPending bool, now time.Time) ledger.Firing {
	return ledger.Firing{
		ID:          ledger.FiringID(def.Key.Namespace, string(def.UID), ev.LeadID, ev.ID),
		OU:          def.Key.Namespace,
		Trigger:     def.Key.Name,
		TriggerUID:  string(def.UID),
		TriggerName: def.DisplayName,
		Threshold:   def.Threshold,
		FromPending: fromPending,
		Event:       ev,
		Score:       ev.Score,
		FiredAt:     now,
	}
}

// TestNotification is the outcome of one test notification.
type TestNotification struct {
	Channel     string `json:"channel"`
	Destination string `json:"destination"`
	// Outcome is "delivered" or "failed".
	Outcome    string `json:"outcome"`
	StatusCode int    `json:"status_code,omitempty"`
	// Error is the operator's reason for a failure, with the status code
	// and any Retry-After, as delivery status and history carry it: never
	// the receiver's body or headers.
	Error string `json:"error,omitempty"`
}

// unclassified is the reason of a failed test notification whose error
// is not a *notify.Error, whose message cannot be vouched for.
const unclassified = "the notification failed"

// reason is what a caller may read of a test notification's failure: the
// message of a *notify.Error, which the channels write in fixed words.
func reason(err error) string {
	var e *notify.Error
	if errors.As(err, &e) {
		return e.Error()
	}
	return unclassified
}

// sendTests sends f on every configured channel at once, as a test: with
// an id of its own, so a receiver never takes it for the real firing, and
// marked as a test on every channel.
func sendTests(ctx context.Context, cfg Config, def triggerset.Definition, f ledger.Firing, now time.Time) []TestNotification {
	timeout := cfg.TestTimeout
	if timeout <= 0 {
		timeout = DefaultTestTimeout
	}
	f.ID = ledger.FiringID(f.OU, f.TriggerUID, f.Event.LeadID, f.Event.ID+"\x00test\x00"+now.Format(time.RFC3339Nano))
	var (
		out []TestNotification
		mu  sync.Mutex
		wg  sync.WaitGroup
	)
	for _, n := range cfg.Notifiers {
		if !n.Configured(def) {
			continue
		}
		wg.Go(func() {
			sendCtx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			res, err := n.Send(sendCtx, notify.Delivery{Firing: f, Trigger: def, Attempt: 1, Now: now, Test: true})
			t := TestNotification{Channel: n.Channel(), Destination: n.Destination(def), Outcome: "delivered", StatusCode: res.StatusCode}
			if err != nil {
				t.Outcome, t.StatusCode, t.Error = "failed", notify.StatusCode(err), reason(err)
				log.FromContext(ctx).V(1).Info("Test notification failed", "trigger", def.Key, "channel", t.Channel,
					"error", t.Error, "detail", notify.Detail(err))
			}
			mu.Lock()
			out = append(out, t)
			mu.Unlock()
		})
	}
	wg.Wait()
	sortByChannel(out, func(t TestNotification) string { return t.Channel })
	return out
}
