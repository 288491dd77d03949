package evaluator

import (
	"cmp"
	"slices"
	"strings"
	"time"
)

// emptyIndex stands in for a nil *Index.
var emptyIndex Index

// Evaluate applies ev to the lead's state. It returns the lead's new state
// and appends the firings to buf, returning the extended slice.
// It may reuse state's memory (the backing arrays of its slices, its Holds)
// for the new state: callers pass ownership, and clone a state they keep
// (LeadState.Clone). Firings are ordered by threshold, then name.
//
// The steps, in order: cooldowns that ended by ev.At, or whose trigger
// changed, are dropped; pending crossings that are no longer valid (see the
// package documentation) or whose rearm level is above ev.Score (re-arm)
// are dropped; pending crossings whose trigger matches ev.Type fire and are
// cleared if ev.Score is at or above their threshold; then every active
// trigger whose threshold the lead crosses, and that it is armed for, fires
// if it matches ev.Type or else becomes pending, unless the trigger's
// cooldown for the lead still runs, which swallows the crossing. A trigger
// matches an event type when its EventType is empty or equal to it. Last,
// the triggers the lead stays disarmed for below their thresholds are
// recorded. The new state is seen, with ev.Score as its score. The new
// state's Disarmed entries are sorted by threshold, then name, descending,
// and its Cooldowns by name (as Holds documents); Evaluate sorts a
// state's that are not.
//
// A pending crossing in state is only honoured while the lead was seen at or
// above its rearm level, and, below its threshold, with the Disarmed entry
// that goes with it; both are always so for a state Evaluate returned. A
// trigger fires at most once per call even when state repeats a pending
// crossing.
func (ix *Index) Evaluate(state LeadState, ev Event, buf []Firing) (LeadState, []Firing) {
	if ix == nil {
		ix = &emptyIndex
	}
	if !ix.plain(state.Holds) {
		return ix.evaluate(state, ev, buf)
	}
	// The plain path (plain.go), written out here so that the state and
	// the event are not copied once more.
	start := len(buf)
	kept, buf := ix.settlePlain(state.Pending, state.Seen, state.Score, ev.Score, ev.Type, buf)
	buf = orderPendingFirings(buf, start)
	kept, buf = ix.crossPlain(state.Seen, state.Score, ev.Score, ev.Type, kept, buf)
	return LeadState{Seen: true, Score: ev.Score, Pending: kept}, buf
}

// evaluate is Evaluate on the general path, which every state and index may
// take.
func (ix *Index) evaluate(state LeadState, ev Event, buf []Firing) (LeadState, []Firing) {
	x := evaluation{ix: ix, seen: state.Seen, p: state.Score, pending: state.Pending, n: ev.Score, typ: ev.Type, at: ev.At}
	h := state.Holds
	if h != nil {
		// Emptied, the slices keep their backing arrays.
		x.cooldowns, x.stay = h.Cooldowns[:0], h.Disarmed[:0]
		if len(h.Cooldowns) > 0 {
			x.cooldowns = ix.runningCooldowns(h.Cooldowns, ev.At)
		}
		if len(h.Disarmed) > 0 {
			x.stay, x.back = ix.disarmedBefore(h.Disarmed, state.Seen, state.Score, ev.Score)
		}
	}
	start := len(buf)
	buf = x.settlePending(buf)
	buf = orderPendingFirings(buf, start)
	fromPending := len(buf) - start
	buf = x.cross(buf)
	if fromPending > 0 && len(buf)-start > fromPending && len(ix.rearms) > 0 {
		// A pending crossing fired between its rearm level and its
		// threshold may have a threshold above a crossing's; without
		// rearm levels, pending crossings fire at or below the lead's
		// previous score and crossings above it.
		if fired := buf[start:]; !slices.IsSortedFunc(fired, compareFirings) {
			slices.SortFunc(fired, compareFirings)
		}
	}
	x.next.Seen, x.next.Score = true, ev.Score
	disarmed := x.disarmedAfter()
	if h == nil && (len(x.cooldowns) > 0 || len(disarmed) > 0) {
		h = &Holds{}
	}
	if h != nil {
		h.Cooldowns, h.Disarmed = x.cooldowns, disarmed
		if !ix.policies && h.IsZero() {
			// The lead's holds outlived their triggers' settings: nil
			// puts it back on the plain path.
			h = nil
		}
	}
	x.next.Holds = h
	return x.next, buf
}

// evaluation is one call of Evaluate under way.
type evaluation struct {
	ix *Index
	// seen, p and pending are the state before the event; pending's
	// backing array is reused for next.
	seen    bool
	p       int64
	pending []Pending
	// n, typ and at are the event's score, type and time.
	n    int64
	typ  string
	at   time.Time
	next LeadState // the state after the event, being built
	// cooldowns are the running cooldowns, in the Holds' backing array.
	cooldowns []Cooldown
	// stay and back are prev's valid Disarmed entries, the triggers the
	// lead was disarmed for below their thresholds, in the Holds' backing
	// array: stay those the event leaves it disarmed for below
	// their thresholds, back those whose thresholds the event reaches
	// again. Both are in disarmedOrder.
	stay, back []Disarmed
}

// runningCooldowns returns the cooldowns of cds still running at the time
// at, for triggers unchanged since they fired, compacted in place and in
// cooldownOrder.
func (ix *Index) runningCooldowns(cds []Cooldown, at time.Time) []Cooldown {
	kept := cds[:0]
	for _, c := range cds {
		e, ok := ix.lookup(c.Trigger)
		if ok && e.uid == c.UID && e.epoch == c.Epoch && cooling(c, e, at) {
			kept = append(kept, c)
		}
	}
	clear(cds[len(kept):])
	if !slices.IsSortedFunc(kept, cooldownOrder) {
		slices.SortFunc(kept, cooldownOrder)
	}
	return kept
}

// cooling reports whether c, a firing of e, still holds e's cooldown at
// the time at. An event dated before the firing is within the cooldown.
func cooling(c Cooldown, e *entry, at time.Time) bool {
	return e.cooldown > 0 && at.Sub(c.FiredAt) < e.cooldown
}

// cooldownOrder orders Cooldown entries by trigger name.
func cooldownOrder(a, b Cooldown) int { return strings.Compare(a.Trigger, b.Trigger) }

// disarmedBefore returns the Disarmed entries of state that still hold
// (their trigger unchanged, the lead's score in [rearm, threshold)) and
// that the new score n does not re-arm, compacted in place in
// disarmedOrder, split in two: stay, those whose thresholds are above n,
// then back, those whose thresholds n reaches again.
func (ix *Index) disarmedBefore(ds []Disarmed, seen bool, p, n int64) (stay, back []Disarmed) {
	kept := ds[:0]
	for _, d := range ds {
		if e, ok := ix.lookup(d.Trigger); ok && holds(d, e, seen, p) && n >= e.rearm {
			kept = append(kept, d)
		}
	}
	clear(ds[len(kept):])
	if !slices.IsSortedFunc(kept, disarmedOrder) {
		slices.SortFunc(kept, disarmedOrder)
	}
	// Thresholds descend: the first at or below n starts back.
	i, _ := slices.BinarySearchFunc(kept, n, func(d Disarmed, n int64) int {
		return cmp.Compare(n, d.Threshold)
	})
	return kept[:i], kept[i:]
}

// holds reports whether d, recorded for e, says a lead (seen, at score p)
// is disarmed for e.
func holds(d Disarmed, e *entry, seen bool, p int64) bool {
	return e.uid == d.UID && e.epoch == d.Epoch && e.threshold == d.Threshold &&
		seen && e.rearm <= p && p < e.threshold
}

// disarmedOrder orders Disarmed entries by threshold, then name, both
// descending: the reverse of the Index's order, so that the entries a
// falling score adds go at the end.
func disarmedOrder(a, b Disarmed) int {
	if c := cmp.Compare(b.Threshold, a.Threshold); c != 0 {
		return c
	}
	return strings.Compare(b.Trigger, a.Trigger)
}

// hasDisarmed reports whether ds, in disarmedOrder, holds an entry for e.
func hasDisarmed(ds []Disarmed, e *entry) bool {
	_, found := slices.BinarySearchFunc(ds, e, func(d Disarmed, e *entry) int {
		if c := cmp.Compare(e.threshold, d.Threshold); c != 0 {
			return c
		}
		return strings.Compare(e.name, d.Trigger)
	})
	return found
}

// settlePending drops the pending crossings of prev that are invalid or
// re-armed, fires those the event matches at or above their threshold, and
// keeps the rest in next, compacted in place in prev.Pending's backing
// array.
func (x *evaluation) settlePending(buf []Firing) []Firing {
	n := x.n
	kept := x.pending[:0]
	for _, p := range x.pending {
		if p.Threshold > n && len(x.ix.rearms) == 0 {
			continue // re-armed (rule 3): dropped
		}
		e, ok := x.validPending(p)
		switch {
		case !ok:
			// The trigger was deleted, re-created, deactivated or
			// re-thresholded (rules 4 and 5): dropped without firing.
		case n < e.rearm:
			// Re-armed (rule 3): dropped.
		case n >= e.threshold && matches(e.eventType, x.typ):
			buf = append(buf, Firing{Trigger: e.name, UID: e.uid, Threshold: e.threshold, FromPending: true})
			x.startCooldown(e)
		default:
			kept = append(kept, p)
		}
	}
	clear(x.pending[len(kept):])
	x.next.Pending = kept
	return buf
}

// validPending returns the trigger of p when p may still fire: the trigger
// exists with the same UID and epoch, is active, has the recorded
// threshold, and the lead was at or above its rearm level; below its
// threshold, with a Disarmed entry for it, as a crossing leaves.
func (x *evaluation) validPending(p Pending) (*entry, bool) {
	if !x.seen {
		return nil, false
	}
	e, ok := x.ix.lookup(p.Trigger)
	if !ok || e.uid != p.UID || e.threshold != p.Threshold || e.epoch != p.Epoch || x.p < e.rearm {
		return nil, false
	}
	if x.p < e.threshold && !hasDisarmed(x.stay, e) && !hasDisarmed(x.back, e) {
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

// cross handles the triggers whose thresholds the lead crosses with the
// event and that it is armed for: matching ones fire, the others become
// pending, and those whose cooldown still runs do neither. The firings are
// appended in threshold order.
func (x *evaluation) cross(buf []Firing) []Firing {
	lo, hi := x.ix.crossed(x.seen, x.p, x.n)
	for i := lo; i < hi; i++ {
		e := &x.ix.entries[i]
		switch {
		case !x.armed(e):
			// Not re-armed since it was last at or above the threshold.
		case x.coolingDown(e):
			// Within the cooldown: the crossing is swallowed.
		case matches(e.eventType, x.typ):
			buf = append(buf, Firing{Trigger: e.name, UID: e.uid, Threshold: e.threshold})
			x.startCooldown(e)
		default:
			x.next.Pending = append(x.next.Pending, Pending{Trigger: e.name, UID: e.uid, Threshold: e.threshold, Epoch: e.epoch})
		}
	}
	return buf
}

// armed reports whether the lead, below e's threshold before the event
// and at or above it after, may cross it: it has dropped below e's rearm
// level since it was last at or above the threshold. Below the rearm level
// it is; between it and the threshold, it is unless a Disarmed entry says
// otherwise (back holds those whose thresholds the event reaches).
func (x *evaluation) armed(e *entry) bool {
	return !x.seen || x.p < e.rearm || !hasDisarmed(x.back, e)
}

// coolingDown reports whether e's cooldown for the lead still runs.
func (x *evaluation) coolingDown(e *entry) bool {
	if e.cooldown <= 0 {
		return false
	}
	_, found := x.findCooldown(e)
	return found
}

// findCooldown returns where cooldowns holds e's entry, or would.
func (x *evaluation) findCooldown(e *entry) (int, bool) {
	return slices.BinarySearchFunc(x.cooldowns, e.name, func(c Cooldown, name string) int {
		return strings.Compare(c.Trigger, name)
	})
}

// startCooldown records that e fired at the event's time, when e has a
// cooldown.
func (x *evaluation) startCooldown(e *entry) {
	if e.cooldown <= 0 {
		return
	}
	c := Cooldown{Trigger: e.name, UID: e.uid, Epoch: e.epoch, FiredAt: x.at}
	if i, found := x.findCooldown(e); found {
		x.cooldowns[i] = c
	} else {
		x.cooldowns = slices.Insert(x.cooldowns, i, c)
	}
}

// disarmedAfter returns the Disarmed entries of the state after the event,
// in disarmedOrder: stay, then one for each trigger with a rearm level
// whose threshold the lead dropped below without dropping below its rearm
// level. It reuses the Holds' backing array, back's slots included.
func (x *evaluation) disarmedAfter() []Disarmed {
	n := x.n
	out := x.stay
	clear(x.back)
	if !x.seen || n >= x.p || len(x.ix.rearms) == 0 {
		return out
	}
	// The triggers with a rearm level and a threshold in (n, p]: the lead
	// was at or above them, so disarmed, and is now below. stay's
	// thresholds are above p, so these go after them, highest first.
	lo := upperBound(x.ix.rearmThresholds, n)
	hi := upperBound(x.ix.rearmThresholds, x.p)
	for j := hi - 1; j >= lo; j-- {
		if e := &x.ix.entries[x.ix.rearms[j]]; e.rearm <= n {
			out = append(out, Disarmed{Trigger: e.name, UID: e.uid, Threshold: e.threshold, Epoch: e.epoch})
		}
	}
	return out
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
