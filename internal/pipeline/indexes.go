package pipeline

import (
	"github.com/leadvibe/milestone-triggers-operator/internal/evaluator"
	"github.com/leadvibe/milestone-triggers-operator/internal/triggerset"
)

// indexes keeps an evaluator index per OU, rebuilt from the trigger set
// when the OU's revision changes: an applied, edited, deactivated or
// deleted trigger takes effect on the OU's next event.
type indexes struct {
	set  triggerset.Set
	byOU map[string]*ouIndex
}

type ouIndex struct {
	revision     uint64
	index        *evaluator.Index
	displayNames map[string]string
}

func (x *indexes) get(ou string) *ouIndex {
	rev := x.set.Revision(ou)
	if cached := x.byOU[ou]; cached != nil && cached.revision == rev {
		return cached
	}
	// Read the revision before the list: if the set changes in between,
	// the index is rebuilt once more on the next event.
	defs := x.set.List(ou)
	triggers := make([]evaluator.Trigger, 0, len(defs))
	names := make(map[string]string, len(defs))
	for _, d := range defs {
		triggers = append(triggers, evaluator.Trigger{
			Name:       d.Key.Name,
			UID:        string(d.UID),
			EventType:  d.EventType,
			Threshold:  d.Threshold,
			RearmBelow: d.RearmBelow,
			Cooldown:   d.Cooldown,
			Active:     d.Active,
			Epoch:      d.Epoch,
		})
		names[d.Key.Name] = d.DisplayName
	}
	built := &ouIndex{revision: rev, index: evaluator.NewIndex(triggers), displayNames: names}
	x.byOU[ou] = built
	return built
}
