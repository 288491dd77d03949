package evaluator

import "fmt"

// Rule names which rule of the firing semantics decided an event, for
// one trigger.
type Rule string

// The rules Explain reports, with the SPEC section 4 rule each is.
const (
	// RuleCrossing: the score crossed the threshold on an event the
	// trigger accepts, and it fires (rule 1).
	RuleCrossing Rule = "crossing"
	// RulePending: the score crossed the threshold on an event of another
	// type, or a crossing already pending still waits for the trigger's
	// type; nothing fires yet (rules 1 and 2).
	RulePending Rule = "pending"
	// RulePendingFired: a pending crossing fires on the first event of the
	// trigger's type while the lead stays above the threshold (rule 2).
	RulePendingFired Rule = "pending_fired"
	// RuleRearm: the score dropped below the threshold, clearing any
	// pending crossing; the next crossing can fire again (rule 3).
	RuleRearm Rule = "rearm"
	// RuleAlreadyAbove: the lead was already at or above the threshold;
	// further events do not fire (rule 4).
	RuleAlreadyAbove Rule = "already_above"
	// RuleBelowThreshold: the lead stays below the threshold (rule 4).
	RuleBelowThreshold Rule = "below_threshold"
)

// Explanation is what one event does to one trigger, and why.
type Explanation struct {
	Fires  bool
	Firing Firing // when Fires
	Rule   Rule
	// SpecRule is the number of the SPEC section 4 rule that decided.
	SpecRule int
	// Reason says it in a sentence, with the scores and types involved.
	Reason string
	// State is the lead's state after the event.
	State LeadState
}

// Explain evaluates ev against t alone for a lead in state, with the same
// decision as Evaluate, and names the rule that decided. t is evaluated
// as active whatever its Active field says: the caller reports inactivity
// (rule 5) itself. A pending crossing in state counts only if it is t's.
func Explain(t Trigger, state LeadState, ev Event) Explanation {
	t.Active = true
	wasPending := hasPending(state, t) // before Evaluate, which reuses state.Pending
	after, firings := NewIndex([]Trigger{t}).Evaluate(state, ev, nil)
	x := Explanation{State: after}
	if len(firings) > 0 {
		x.Fires, x.Firing = true, firings[0]
		if x.Firing.FromPending {
			x.Rule, x.SpecRule = RulePendingFired, 2
			x.Reason = fmt.Sprintf("a crossing of %d was pending, the lead is still at %d, and this event is of the trigger's type %q", t.Threshold, ev.Score, t.EventType)
			return x
		}
		x.Rule, x.SpecRule = RuleCrossing, 1
		x.Reason = fmt.Sprintf("the score went from %s to %d, crossing the threshold %d, on %s", previous(state), ev.Score, t.Threshold, accepted(t, ev))
		return x
	}
	switch {
	case ev.Score < t.Threshold && state.Seen && state.Score >= t.Threshold:
		x.Rule, x.SpecRule = RuleRearm, 3
		x.Reason = fmt.Sprintf("the score dropped from %d to %d, below the threshold %d: the trigger is re-armed for the next crossing", state.Score, ev.Score, t.Threshold)
		if wasPending {
			x.Reason += ", and the pending crossing is cleared"
		}
	case ev.Score < t.Threshold:
		x.Rule, x.SpecRule = RuleBelowThreshold, 4
		x.Reason = fmt.Sprintf("the score went from %s to %d, which stays below the threshold %d", previous(state), ev.Score, t.Threshold)
	case hasPending(after, t) && !wasPending:
		x.Rule, x.SpecRule = RulePending, 1
		x.Reason = fmt.Sprintf("the score went from %s to %d, crossing the threshold %d, but on an event of type %q: the crossing is pending until an event of type %q while the lead stays at or above %d", previous(state), ev.Score, t.Threshold, ev.Type, t.EventType, t.Threshold)
	case hasPending(after, t):
		x.Rule, x.SpecRule = RulePending, 2
		x.Reason = fmt.Sprintf("a crossing of %d is pending, and this event is of type %q, not the trigger's type %q: it still waits", t.Threshold, ev.Type, t.EventType)
	default:
		x.Rule, x.SpecRule = RuleAlreadyAbove, 4
		x.Reason = fmt.Sprintf("the lead was already at %d, at or above the threshold %d: a trigger fires once per crossing, not on every qualifying event", state.Score, t.Threshold)
	}
	return x
}

func hasPending(state LeadState, t Trigger) bool {
	for _, p := range state.Pending {
		if p.Trigger == t.Name && p.UID == t.UID && p.Threshold == t.Threshold && p.Epoch == t.Epoch {
			return true
		}
	}
	return false
}

func previous(state LeadState) string {
	if !state.Seen {
		return "nothing (a lead never seen)"
	}
	return fmt.Sprint(state.Score)
}

func accepted(t Trigger, ev Event) string {
	if t.EventType == "" {
		return fmt.Sprintf("an event of type %q (the trigger accepts any type)", ev.Type)
	}
	return fmt.Sprintf("an event of the trigger's type %q", ev.Type)
}
