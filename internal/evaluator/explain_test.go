package evaluator

import (
	"strings"
	"testing"
	"time"
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
	hyst := withRearm(Trigger{Name: "hyst", UID: "u4", Threshold: 75, Epoch: 2}, 60)
	hystDemo := withRearm(Trigger{Name: "hyst-demo", UID: "u5", EventType: "demo_request", Threshold: 75}, 60)
	hystDisarmed := func(score int64) LeadState {
		return LeadState{Seen: true, Score: score, Holds: &Holds{Disarmed: []Disarmed{disarm(hyst)}}}
	}
	inBand := func(score int64, pending ...Pending) LeadState {
		return LeadState{Seen: true, Score: score, Pending: pending, Holds: &Holds{Disarmed: []Disarmed{disarm(hystDemo)}}}
	}
	cold := withCooldown(Trigger{Name: "cold", UID: "u6", Threshold: 50}, time.Hour)
	coolingAt := func(score int64, firedAt time.Duration) LeadState {
		return LeadState{Seen: true, Score: score, Holds: &Holds{Cooldowns: []Cooldown{cool(cold, firedAt)}}}
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
		{"drop into the band is not a re-arm", hyst, seen(80), Event{Type: "x", Score: 72}, false, false, RuleNotRearmed, 3, "below the threshold 75 but not below rearm_below 60"},
		{"back at the threshold from the band", hyst, hystDisarmed(72), Event{Type: "x", Score: 78}, false, false, RuleNotRearmed, 3, "has not dropped below rearm_below 60"},
		{"still in the band", hyst, hystDisarmed(72), Event{Type: "x", Score: 65}, false, false, RuleNotRearmed, 3, "re-arms only below 60"},
		{"drop below rearm_below re-arms", hyst, hystDisarmed(72), Event{Type: "x", Score: 59}, false, false, RuleRearm, 3, "below rearm_below 60: the trigger is re-armed for the next crossing of 75"},
		{"armed in the band crosses", hyst, seen(72), Event{Type: "x", Score: 75}, true, false, RuleCrossing, 1, "from 72 to 75"},
		{"pending waits in the band", hystDemo, inBand(70, pendingOf(hystDemo)), Event{Type: "demo_request", Score: 72}, false, false, RulePending, 2, "below the threshold but not below rearm_below 60"},
		{"pending fires back at the threshold", hystDemo, inBand(70, pendingOf(hystDemo)), Event{Type: "demo_request", Score: 76}, true, true, RulePendingFired, 2, "was pending"},
		{"pending cleared below rearm_below", hystDemo, inBand(70, pendingOf(hystDemo)), Event{Type: "demo_request", Score: 10}, false, false, RuleRearm, 3, "pending crossing is cleared"},
		{"crossing within the cooldown", cold, coolingAt(40, 0), Event{Type: "x", Score: 90, At: stepTime.Add(10 * time.Minute)}, false, false, RuleCooldown, 1, "fired for this lead at 2025-01-15T10:00:00Z, less than its cooldown of 1h0m0s before this event (at 2025-01-15T10:10:00Z)"},
		{"crossing after the cooldown", cold, coolingAt(40, 0), Event{Type: "x", Score: 90, At: stepTime.Add(time.Hour)}, true, false, RuleCrossing, 1, "crossing the threshold 50"},
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

// Explain decides as Evaluate does, on the same inputs, and names a rule
// that fits the decision.
func TestExplainAgreesWithEvaluate(t *testing.T) {
	plain := Trigger{Name: "t", UID: "u", EventType: "b", Threshold: 0, Active: true}
	policies := withCooldown(withRearm(plain, -2), time.Minute)
	at := func(d time.Duration) time.Time { return stepTime.Add(d) }
	for _, tr := range []Trigger{plain, withRearm(plain, -2), withCooldown(plain, time.Minute), policies} {
		pending := []Pending{{Trigger: "t", UID: "u"}}
		states := []LeadState{
			{}, {Seen: true, Score: -5}, {Seen: true, Score: 3}, {Seen: true, Score: 3, Pending: pending},
			{Seen: true, Score: -1}, {Seen: true, Score: -1, Pending: pending},
			{Seen: true, Score: -1, Holds: &Holds{Disarmed: []Disarmed{disarm(tr)}}},
			{Seen: true, Score: -5, Holds: &Holds{Cooldowns: []Cooldown{cool(tr, 0)}}},
			{Seen: true, Score: -1, Holds: &Holds{Disarmed: []Disarmed{disarm(tr)}, Cooldowns: []Cooldown{cool(tr, 0)}}},
		}
		for _, st := range states {
			for _, typ := range []string{"a", "b"} {
				for _, when := range []time.Time{at(30 * time.Second), at(time.Minute)} {
					for score := int64(-3); score <= 3; score++ {
						ev := Event{Type: typ, Score: score, At: when}
						wantState, want := NewIndex([]Trigger{tr}).Evaluate(clone(st), ev, nil)
						x := Explain(tr, clone(st), ev)
						if x.Fires != (len(want) == 1) || len(want) > 1 || (x.Fires && x.Firing != want[0]) ||
							len(x.State.Pending) != len(wantState.Pending) || len(disarmedIn(x.State)) != len(disarmedIn(wantState)) ||
							len(cooldownsIn(x.State)) != len(cooldownsIn(wantState)) {
							t.Errorf("trigger %+v, state %+v, event %+v: Explain %+v, Evaluate %+v %+v", tr, st, ev, x, want, wantState)
						}
						if !fitsRule(x) {
							t.Errorf("trigger %+v, state %+v, event %+v: rule %s (%d) does not fit: %s", tr, st, ev, x.Rule, x.SpecRule, x.Reason)
						}
					}
				}
			}
		}
	}
}

// fitsRule reports whether the rule of x agrees with its decision.
func fitsRule(x Explanation) bool {
	switch x.Rule {
	case RuleCrossing, RulePendingFired:
		return x.Fires && x.Firing.FromPending == (x.Rule == RulePendingFired)
	case RulePending:
		return !x.Fires && len(x.State.Pending) == 1
	case RuleCooldown:
		return !x.Fires && len(x.State.Pending) == 0 && len(cooldownsIn(x.State)) == 1
	default:
		return !x.Fires
	}
}

func clone(s LeadState) LeadState {
	return s.Clone()
}
