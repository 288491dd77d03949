package evaluator

// This file is Evaluate's plain path, for the common case: an OU none of
// whose triggers has a RearmBelow or a Cooldown, and a lead that holds
// nothing for one. There SPEC's rules alone decide, with no Holds to read
// or write, and the general path's bookkeeping costs about a fifth more
// time per event (docs/benchmarks.md, "Trigger policies").
// TestPlainPathMatchesReference checks that both paths decide alike
// wherever this one is taken.

// plain reports whether Evaluate may take the plain path for a lead whose
// state holds h.
func (ix *Index) plain(h *Holds) bool {
	return !ix.policies && h == nil
}

// evaluatePlain is Evaluate on the plain path, for tests; Evaluate writes
// it out.
func (ix *Index) evaluatePlain(state LeadState, ev Event, buf []Firing) (LeadState, []Firing) {
	start := len(buf)
	kept, buf := ix.settlePlain(state.Pending, state.Seen, state.Score, ev.Score, ev.Type, buf)
	buf = orderPendingFirings(buf, start)
	kept, buf = ix.crossPlain(state.Seen, state.Score, ev.Score, ev.Type, kept, buf)
	return LeadState{Seen: true, Score: ev.Score, Pending: kept}, buf
}

// settlePlain drops the pending crossings of a lead (seen, at score p) that
// are invalid or re-armed by the new score n, fires those an event of type
// typ matches, and returns the rest, compacted in place in pending's
// backing array.
func (ix *Index) settlePlain(pending []Pending, seen bool, p, n int64, typ string, buf []Firing) ([]Pending, []Firing) {
	kept := pending[:0]
	for _, c := range pending {
		if c.Threshold > n {
			continue // re-armed (rule 3): dropped
		}
		e, ok := ix.validPlain(seen, p, c)
		switch {
		case !ok:
			// The trigger was deleted, re-created, deactivated or
			// re-thresholded (rules 4 and 5): dropped without firing.
		case matches(e.eventType, typ):
			buf = append(buf, Firing{Trigger: e.name, UID: e.uid, Threshold: e.threshold, FromPending: true})
		default:
			kept = append(kept, c)
		}
	}
	clear(pending[len(kept):])
	return kept, buf
}

// validPlain returns the trigger of c when c may still fire for a lead
// (seen, at score p): the trigger exists with the same UID and epoch, is
// active, has the recorded threshold, and the lead was at or above it.
func (ix *Index) validPlain(seen bool, p int64, c Pending) (*entry, bool) {
	if !seen || p < c.Threshold {
		return nil, false
	}
	e, ok := ix.lookup(c.Trigger)
	if !ok || e.uid != c.UID || e.threshold != c.Threshold || e.epoch != c.Epoch {
		return nil, false
	}
	return e, true
}

// crossPlain handles the triggers whose thresholds a lead (seen, at score
// p) crosses by moving to n on an event of type typ: matching ones fire,
// the others become pending.
func (ix *Index) crossPlain(seen bool, p, n int64, typ string, kept []Pending, buf []Firing) ([]Pending, []Firing) {
	lo, hi := ix.crossed(seen, p, n)
	for i := lo; i < hi; i++ {
		e := &ix.entries[i]
		if matches(e.eventType, typ) {
			buf = append(buf, Firing{Trigger: e.name, UID: e.uid, Threshold: e.threshold})
		} else {
			kept = append(kept, Pending{Trigger: e.name, UID: e.uid, Threshold: e.threshold, Epoch: e.epoch})
		}
	}
	return kept, buf
}
