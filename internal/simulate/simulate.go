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
	// PreviousScore is the lead's score before the event; nil is a lead
	// never seen, below every threshold.
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
	x := evaluator.Explain(evalTrigger(def), leadState(def, req), evaluator.Event{
		ID: req.Event.ID, LeadID: req.Event.LeadID, Type: req.Event.EventType, Score: req.Event.Score,
	})
	res := Result{
		TriggerID:         def.Key.Name,
		Active:            def.Active,
		WouldFire:         x.Fires && def.Active,
		WouldFireIfActive: x.Fires,
		Rule:              string(x.Rule),
		SpecRule:          x.SpecRule,
		Reason:            x.Reason,
	}
	if !def.Active {
		res.Rule, res.SpecRule = RuleInactive, 5
		res.Reason = "the trigger is inactive (active: false): inactive triggers do not fire and keep no pending crossings. Were it active: " + x.Reason
	}
	f := firing(def, req.Event, x.Firing.FromPending, now)
	if x.Fires {
		res.FiringID = f.ID
	}
	var err error
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

// evalTrigger is the evaluator's view of def. The epoch is fixed: a
// simulated pending crossing always belongs to the trigger as it is.
func evalTrigger(def triggerset.Definition) evaluator.Trigger {
	return evaluator.Trigger{
		Name: def.Key.Name, UID: string(def.UID), EventType: def.EventType,
		Threshold: def.Threshold, Active: true, Epoch: 1,
	}
}

func leadState(def triggerset.Definition, req Request) evaluator.LeadState {
	if req.PreviousScore == nil {
		return evaluator.LeadState{}
	}
	st := evaluator.LeadState{Seen: true, Score: *req.PreviousScore}
	if req.PendingCrossing {
		st.Pending = []evaluator.Pending{{Trigger: def.Key.Name, UID: string(def.UID), Threshold: def.Threshold, Epoch: 1}}
	}
	return st
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
