package evaluator

import (
	"slices"
	"strings"
	"testing"
)

func TestExplainNamesTheRule(t *testing.T) {
	demo := Trigger{Name: "hot", UID: "u1", EventType: "demo_request", Threshold: 75, Epoch: 3}
	anyTypeTrigger := Trigger{Name: "warm", UID: "u2", Threshold: 50, Epoch: 1}
	seen := func(score int64, pending ...Pending) LeadState {
		return LeadState{Seen: true, Score: score, Pending: pending}
	}
	pendingOf := func(t Trigger) Pending {
		return Pending{Trigger: t.Name, UID: t.UID, Threshold: t.Threshold, Epoch: t.Epoch}
	}
	cases := []struct {
		name        string
		trigger     Trigger
		state       LeadState
		ev          Event
		fires       bool
		fromPending bool
		rule        Rule
		specRule    int
		reason      string
	}{
		{"unseen lead crosses", anyTypeTrigger, LeadState{}, Event{Type: "page_view", Score: 60}, true, false, RuleCrossing, 1, "from nothing (a lead never seen) to 60"},
		{"crossing of the type", demo, seen(40), Event{Type: "demo_request", Score: 80}, true, false, RuleCrossing, 1, "crossing the threshold 75"},
		{"reaching the threshold exactly", anyTypeTrigger, seen(49), Event{Type: "x", Score: 50}, true, false, RuleCrossing, 1, "from 49 to 50"},
		{"crossing of another type", demo, seen(40), Event{Type: "page_view", Score: 80}, false, false, RulePending, 1, "pending until an event of type \"demo_request\""},
		{"pending fires", demo, seen(80, pendingOf(demo)), Event{Type: "demo_request", Score: 90}, true, true, RulePendingFired, 2, "was pending"},
		{"pending keeps waiting", demo, seen(80, pendingOf(demo)), Event{Type: "email_open", Score: 85}, false, false, RulePending, 2, "still waits"},
		{"another trigger's pending is ignored", demo, seen(80, Pending{Trigger: "other", UID: "x", Threshold: 75}), Event{Type: "demo_request", Score: 85}, false, false, RuleAlreadyAbove, 4, "already at 80"},
		{"drop re-arms", anyTypeTrigger, seen(70), Event{Type: "x", Score: 10}, false, false, RuleRearm, 3, "re-armed"},
		{"drop clears pending", demo, seen(80, pendingOf(demo)), Event{Type: "demo_request", Score: 10}, false, false, RuleRearm, 3, "pending crossing is cleared"},
		{"no refire above", anyTypeTrigger, seen(70), Event{Type: "x", Score: 90}, false, false, RuleAlreadyAbove, 4, "fires once per crossing"},
		{"stays below", anyTypeTrigger, seen(10), Event{Type: "x", Score: 49}, false, false, RuleBelowThreshold, 4, "stays below the threshold 50"},
		{"inactive is evaluated as active", Trigger{Name: "off", UID: "u3", Threshold: 5}, LeadState{}, Event{Type: "x", Score: 5}, true, false, RuleCrossing, 1, "accepts any type"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			x := Explain(c.trigger, c.state, c.ev)
			if x.Fires != c.fires || x.Rule != c.rule || x.SpecRule != c.specRule {
				t.Fatalf("Explain = fires %v, rule %s (%d); want fires %v, rule %s (%d); reason %q",
					x.Fires, x.Rule, x.SpecRule, c.fires, c.rule, c.specRule, x.Reason)
			}
			if c.fires && (x.Firing.Trigger != c.trigger.Name || x.Firing.FromPending != c.fromPending) {
				t.Errorf("firing = %+v, want trigger %s from pending %v", x.Firing, c.trigger.Name, c.fromPending)
			}
			if !strings.Contains(x.Reason, c.reason) {
				t.Errorf("reason %q does not say %q", x.Reason, c.reason)
			}
		})
	}
}

// Explain decides as Evaluate does, on the same inputs.
func TestExplainAgreesWithEvaluate(t *testing.T) {
	tr := Trigger{Name: "t", UID: "u", EventType: "b", Threshold: 0, Active: true}
	states := []LeadState{{}, {Seen: true, Score: -5}, {Seen: true, Score: 3}, {Seen: true, Score: 3, Pending: []Pending{{Trigger: "t", UID: "u"}}}}
	for _, st := range states {
		for _, typ := range []string{"a", "b"} {
			for score := int64(-3); score <= 3; score++ {
				ev := Event{Type: typ, Score: score}
				wantState, want := NewIndex([]Trigger{tr}).Evaluate(clone(st), ev, nil)
				x := Explain(tr, clone(st), ev)
				if x.Fires != (len(want) == 1) || len(want) > 1 || (x.Fires && x.Firing != want[0]) || len(x.State.Pending) != len(wantState.Pending) {
					t.Errorf("state %+v, event %+v: Explain %+v, Evaluate %+v %+v", st, ev, x, want, wantState)
				}
			}
		}
	}
}

func clone(s LeadState) LeadState {
	s.Pending = slices.Clone(s.Pending)
	return s
}
