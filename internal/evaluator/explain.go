package evaluator

import (
	"fmt"
	"time"
)

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
	// RuleRearm: the score dropped below the threshold (below rearmBelow,
	// when the trigger has one), clearing any pending crossing; the next
	// crossing can fire again (rule 3).
	RuleRearm Rule = "rearm"
	// RuleNotRearmed: the trigger has a rearmBelow, and the lead, which
	// was at or above the threshold, has not dropped below it since; a
	// score back at or above the threshold is not a new crossing (rule 3).
	RuleNotRearmed Rule = "not_rearmed"
	// RuleCooldown: the score crossed the threshold within the trigger's
	// cooldown of its last firing for the lead; the crossing neither fires
	// nor becomes pending (rule 1, with the trigger's cooldown).
	RuleCooldown Rule = "cooldown"
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
// (rule 5) itself. A pending crossing, disarmed or cooldown entry in state
// counts only if it is t's.
func Explain(t Trigger, state LeadState, ev Event) Explanation {
	t.Active = true
	ix := NewIndex([]Trigger{t})
	e := &ix.entries[0]
	// Before Evaluate, which reuses state's slices.
	wasPending := hasPending(state, t)
	armed := wasArmed(e, state)
	firedAt := lastFiring(e, state)
	after, firings := ix.Evaluate(state, ev, nil)
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
	pendingAfter := hasPending(after, t)
	switch {
	case armed && ev.Score >= t.Threshold && pendingAfter:
		x.Rule, x.SpecRule = RulePending, 1
		x.Reason = fmt.Sprintf("the score went from %s to %d, crossing the threshold %d, but on an event of type %q: the crossing is pending until an event of type %q while the lead stays at or above %d", previous(state), ev.Score, t.Threshold, ev.Type, t.EventType, e.rearm)
	case armed && ev.Score >= t.Threshold:
		x.Rule, x.SpecRule = RuleCooldown, 1
		x.Reason = fmt.Sprintf("the score went from %s to %d, crossing the threshold %d, but the trigger fired for this lead at %s, less than its cooldown of %s before this event (at %s): the crossing neither fires nor becomes pending", previous(state), ev.Score, t.Threshold, formatAt(firedAt), e.cooldown, formatAt(ev.At))
	case armed:
		x.Rule, x.SpecRule = RuleBelowThreshold, 4
		x.Reason = fmt.Sprintf("the score went from %s to %d, which stays below the threshold %d", previous(state), ev.Score, t.Threshold)
	case ev.Score < e.rearm:
		x.Rule, x.SpecRule = RuleRearm, 3
		if e.rearm == e.threshold {
			x.Reason = fmt.Sprintf("the score dropped from %d to %d, below the threshold %d: the trigger is re-armed for the next crossing", state.Score, ev.Score, t.Threshold)
		} else {
			x.Reason = fmt.Sprintf("the score dropped from %d to %d, below rearm_below %d: the trigger is re-armed for the next crossing of %d", state.Score, ev.Score, e.rearm, t.Threshold)
		}
		if wasPending {
			x.Reason += ", and the pending crossing is cleared"
		}
	case pendingAfter && ev.Score < t.Threshold:
		x.Rule, x.SpecRule = RulePending, 2
		x.Reason = fmt.Sprintf("a crossing of %d is pending, and the score %d is below the threshold but not below rearm_below %d: it still waits for an event of type %q at or above %d", t.Threshold, ev.Score, e.rearm, t.EventType, t.Threshold)
	case pendingAfter:
		x.Rule, x.SpecRule = RulePending, 2
		x.Reason = fmt.Sprintf("a crossing of %d is pending, and this event is of type %q, not the trigger's type %q: it still waits", t.Threshold, ev.Type, t.EventType)
	case ev.Score < t.Threshold:
		x.Rule, x.SpecRule = RuleNotRearmed, 3
		x.Reason = fmt.Sprintf("the score went from %d to %d, below the threshold %d but not below rearm_below %d: the trigger re-arms only below %d", state.Score, ev.Score, t.Threshold, e.rearm, e.rearm)
	case state.Score < t.Threshold:
		x.Rule, x.SpecRule = RuleNotRearmed, 3
		x.Reason = fmt.Sprintf("the score went from %d to %d, back at or above the threshold %d, but it has not dropped below rearm_below %d since it was last at or above the threshold: not a new crossing", state.Score, ev.Score, t.Threshold, e.rearm)
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

// wasArmed reports whether the lead in state is armed for e, as Evaluate
// decides it: between e's rearm level and threshold, a valid Disarmed
// entry disarms it.
func wasArmed(e *entry, state LeadState) bool {
	switch {
	case !state.Seen || state.Score < e.rearm:
		return true
	case state.Score >= e.threshold:
		return false
	}
	if state.Holds == nil {
		return true
	}
	for _, d := range state.Holds.Disarmed {
		if d.Trigger == e.name && holds(d, e, state.Seen, state.Score) {
			return false
		}
	}
	return true
}

// lastFiring returns when e last fired for the lead in state, as its
// Cooldown entry says; the zero time without one.
func lastFiring(e *entry, state LeadState) time.Time {
	if state.Holds == nil {
		return time.Time{}
	}
	for _, c := range state.Holds.Cooldowns {
		if c.Trigger == e.name && c.UID == e.uid && c.Epoch == e.epoch {
			return c.FiredAt
		}
	}
	return time.Time{}
}

func formatAt(t time.Time) string {
	return t.UTC().Format(time.RFC3339Nano)
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
