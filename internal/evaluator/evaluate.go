package evaluator

import (
	"cmp"
	"slices"
	"strings"
)

// emptyIndex stands in for a nil *Index.
var emptyIndex Index

// Evaluate applies ev to the lead's state. It returns the lead's new state
// and appends the firings to buf, returning the extended slice.
// It may reuse state.Pending's backing array for the new state (callers pass
// ownership). Firings are ordered by threshold, then name.
//
// The steps, in order: pending crossings that are no longer valid (see the
// package documentation) or whose threshold is above ev.Score (re-arm) are
// dropped; pending crossings whose trigger matches ev.Type fire and are
// cleared; then every active trigger whose threshold the lead crosses fires
// if it matches ev.Type or else becomes pending. A trigger matches an event
// type when its EventType is empty or equal to it. The new state is seen,
// with ev.Score as its score.
//
// A pending crossing in state is only honoured while the lead was seen at or
// above its threshold, which is always so for a state Evaluate returned; a
// trigger fires at most once per call even when state repeats a pending
// crossing.
func (ix *Index) Evaluate(state LeadState, ev Event, buf []Firing) (LeadState, []Firing) {
	if ix == nil {
		ix = &emptyIndex
	}
	start := len(buf)
	kept, buf := ix.settlePending(state, ev, buf)
	buf = orderPendingFirings(buf, start)
	kept, buf = ix.cross(state, ev, kept, buf)
	return LeadState{Seen: true, Score: ev.Score, Pending: kept}, buf
}

// settlePending drops the pending crossings of state that are invalid or
// re-armed, fires those ev matches, and returns the rest, compacted in place
// in state.Pending's backing array.
func (ix *Index) settlePending(state LeadState, ev Event, buf []Firing) ([]Pending, []Firing) {
	kept := state.Pending[:0]
	for _, p := range state.Pending {
		if p.Threshold > ev.Score {
			continue // re-armed (rule 3): dropped
		}
		e, ok := ix.validPending(state, p)
		switch {
		case !ok:
			// The trigger was deleted, re-created, deactivated or
			// re-thresholded (rules 4 and 5): dropped without firing.
		case matches(e.eventType, ev.Type):
			buf = append(buf, Firing{Trigger: e.name, UID: e.uid, Threshold: e.threshold, FromPending: true})
		default:
			kept = append(kept, p)
		}
	}
	clear(state.Pending[len(kept):])
	return kept, buf
}

// validPending returns the trigger of p when p may still fire: the trigger
// exists with the same UID and epoch, is active, has the recorded threshold, and the
// lead was at or above that threshold.
func (ix *Index) validPending(state LeadState, p Pending) (*entry, bool) {
	if !state.Seen || state.Score < p.Threshold {
		return nil, false
	}
	e, ok := ix.lookup(p.Trigger)
	if !ok || e.uid != p.UID || e.threshold != p.Threshold || e.epoch != p.Epoch {
		return nil, false
	}
	return e, true
}

// orderPendingFirings sorts the firings appended to buf after start by
// threshold, then name, and removes repeats of one trigger, which only a
// state listing a pending crossing twice can produce.
func orderPendingFirings(buf []Firing, start int) []Firing {
	fired := buf[start:]
	if len(fired) < 2 {
		return buf
	}
	if !slices.IsSortedFunc(fired, compareFirings) {
		slices.SortFunc(fired, compareFirings)
	}
	fired = slices.CompactFunc(fired, sameTrigger)
	return buf[:start+len(fired)]
}

// cross handles the triggers whose thresholds the lead crosses with ev:
// matching ones fire, the others become pending.
func (ix *Index) cross(state LeadState, ev Event, kept []Pending, buf []Firing) ([]Pending, []Firing) {
	lo, hi := ix.crossed(state, ev.Score)
	for i := lo; i < hi; i++ {
		e := &ix.entries[i]
		if matches(e.eventType, ev.Type) {
			buf = append(buf, Firing{Trigger: e.name, UID: e.uid, Threshold: e.threshold})
		} else {
			kept = append(kept, Pending{Trigger: e.name, UID: e.uid, Threshold: e.threshold, Epoch: e.epoch})
		}
	}
	return kept, buf
}

// matches reports whether a trigger with eventType fires for an event of
// type evType.
func matches(eventType, evType string) bool {
	return eventType == "" || eventType == evType
}

// compareFirings orders firings by threshold, then name.
func compareFirings(a, b Firing) int {
	if c := cmp.Compare(a.Threshold, b.Threshold); c != 0 {
		return c
	}
	return strings.Compare(a.Trigger, b.Trigger)
}

// sameTrigger reports whether two firings are of the same trigger.
func sameTrigger(a, b Firing) bool {
	return a.Trigger == b.Trigger
}
