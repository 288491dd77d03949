package main

import (
	"github.com/leadvibe/milestone-triggers-operator/internal/evaluator"
	"github.com/leadvibe/milestone-triggers-operator/internal/event"
	"github.com/leadvibe/milestone-triggers-operator/internal/ledger"
)

// oracle predicts the firings of the published events with the operator's
// own pure evaluator, over the same triggers, so the tool knows the exact
// webhook-id of every delivery it must receive: nothing may be missing,
// nothing unexpected, nothing twice.
type oracle struct {
	ous     []string
	indexes []*evaluator.Index
	leads   map[string]evaluator.LeadState
	buf     []evaluator.Firing
}

func newOracle(ous []ouTriggers) *oracle {
	o := &oracle{leads: map[string]evaluator.LeadState{}}
	for _, ou := range ous {
		ts := make([]evaluator.Trigger, 0, len(ou.triggers))
		for _, t := range ou.triggers {
			ts = append(ts, evaluator.Trigger{
				Name: t.name, UID: t.uid, EventType: t.eventType, Threshold: t.threshold,
				Active: true, Epoch: t.epoch,
			})
		}
		o.ous = append(o.ous, ou.namespace)
		o.indexes = append(o.indexes, evaluator.NewIndex(ts))
	}
	return o
}

// apply evaluates ev, an event of OU ou, and returns the delivery ids
// (webhook-id) of its firings, appended to ids.
func (o *oracle) apply(ou int, ev event.Event, ids []string) []string {
	key := o.ous[ou] + "/" + ev.LeadID
	state, fired := o.indexes[ou].Evaluate(o.leads[key], evaluator.Event{
		ID: ev.ID, LeadID: ev.LeadID, Type: ev.EventType, Score: ev.Score,
	}, o.buf[:0])
	o.leads[key] = state
	o.buf = fired
	for _, f := range fired {
		ids = append(ids, ledger.FiringID(o.ous[ou], f.UID, ev.LeadID, ev.ID))
	}
	return ids
}
