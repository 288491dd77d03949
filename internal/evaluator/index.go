package evaluator

import (
	"cmp"
	"slices"
	"strings"
	"time"
)

// Index holds the triggers of one OU prepared for evaluation. It is
// immutable once built and safe for concurrent use.
//
// A nil *Index behaves as an index without triggers.
type Index struct {
	// entries are the active triggers, sorted by threshold, then name.
	entries []entry
	// thresholds[i] is entries[i].threshold, kept apart so the binary
	// search reads a dense slice.
	thresholds []int64
	// byName maps a trigger name to its position in entries.
	byName map[string]int
	// rearms are the positions in entries of the triggers with a rearm
	// level below their threshold, in entries' order, and
	// rearmThresholds[i] is the threshold of entries[rearms[i]]: the
	// triggers a lead may stay disarmed for below their thresholds.
	rearms          []int
	rearmThresholds []int64
	// policies is set when an active trigger has a rearm level below its
	// threshold or a cooldown: Evaluate then always takes the general path.
	policies bool
	// total counts the distinct trigger names, active or not.
	total int
}

// entry is an active trigger inside an Index.
type entry struct {
	name      string
	uid       string
	epoch     uint64
	eventType string
	threshold int64
	// rearm is the score a lead must drop below to re-arm: the trigger's
	// RearmBelow when below its threshold, else the threshold.
	rearm int64
	// cooldown is the trigger's Cooldown; 0 for none.
	cooldown time.Duration
}

// NewIndex prepares triggers for evaluation. It copies what it needs, so the
// caller may reuse the slice. Names should be unique; when a name repeats,
// the last trigger with that name wins, as if the list were applied in order.
func NewIndex(triggers []Trigger) *Index {
	last := make(map[string]int, len(triggers))
	for i, t := range triggers {
		last[t.Name] = i
	}
	ix := &Index{total: len(last)}
	for i, t := range triggers {
		if t.Active && last[t.Name] == i {
			ix.entries = append(ix.entries, entry{
				name:      t.Name,
				uid:       t.UID,
				epoch:     t.Epoch,
				eventType: t.EventType,
				threshold: t.Threshold,
				rearm:     rearmLevel(t),
				cooldown:  max(t.Cooldown, 0),
			})
		}
	}
	slices.SortFunc(ix.entries, compareEntries)
	ix.thresholds = make([]int64, len(ix.entries))
	ix.byName = make(map[string]int, len(ix.entries))
	for i, e := range ix.entries {
		ix.thresholds[i] = e.threshold
		ix.byName[e.name] = i
		if e.rearm < e.threshold {
			ix.rearms = append(ix.rearms, i)
			ix.rearmThresholds = append(ix.rearmThresholds, e.threshold)
		}
		ix.policies = ix.policies || e.rearm < e.threshold || e.cooldown > 0
	}
	return ix
}

// rearmLevel is the score below which a lead re-arms for t.
func rearmLevel(t Trigger) int64 {
	if t.RearmBelow != nil && *t.RearmBelow < t.Threshold {
		return *t.RearmBelow
	}
	return t.Threshold
}

// Len returns the number of triggers in the index, active or not, counting
// a repeated name once.
func (ix *Index) Len() int {
	if ix == nil {
		return 0
	}
	return ix.total
}

// Active returns the number of active triggers in the index: those that can
// fire.
func (ix *Index) Active() int {
	if ix == nil {
		return 0
	}
	return len(ix.entries)
}

// compareEntries orders entries by threshold, then name: the firing order.
func compareEntries(a, b entry) int {
	if c := cmp.Compare(a.threshold, b.threshold); c != 0 {
		return c
	}
	return strings.Compare(a.name, b.name)
}

// lookup returns the active trigger named name.
func (ix *Index) lookup(name string) (*entry, bool) {
	i, ok := ix.byName[name]
	if !ok {
		return nil, false
	}
	return &ix.entries[i], true
}

// crossed returns the half-open range [lo, hi) of entries whose thresholds a
// lead crosses by moving to score n: (p, n] for a seen lead with score p,
// (-inf, n] for an unseen one.
func (ix *Index) crossed(seen bool, p, n int64) (lo, hi int) {
	if seen && n <= p {
		return 0, 0
	}
	hi = upperBound(ix.thresholds, n)
	if seen {
		lo = upperBound(ix.thresholds[:hi], p)
	}
	return lo, hi
}

// upperBound returns the index of the first element of the sorted slice s
// that is greater than v, or len(s) when there is none.
func upperBound(s []int64, v int64) int {
	lo, hi := 0, len(s)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if s[mid] <= v {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}
