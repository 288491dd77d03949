package evaluator

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// withRearm returns t with RearmBelow r.
func withRearm(t Trigger, r int64) Trigger {
	t.RearmBelow = &r
	return t
}

// withCooldown returns t with Cooldown d.
func withCooldown(t Trigger, d time.Duration) Trigger {
	t.Cooldown = d
	return t
}

// withThreshold returns t with another threshold.
func withThreshold(t Trigger, threshold int64) Trigger {
	t.Threshold = threshold
	return t
}

// disarm is the Disarmed entry of trigger t.
func disarm(t Trigger) Disarmed {
	return Disarmed{Trigger: t.Name, UID: t.UID, Threshold: t.Threshold, Epoch: t.Epoch}
}

// cool is the Cooldown entry of trigger t fired at stepTime + at.
func cool(t Trigger, at time.Duration) Cooldown {
	return Cooldown{Trigger: t.Name, UID: t.UID, Epoch: t.Epoch, FiredAt: stepTime.Add(at)}
}

// when returns s with its event at stepTime + d.
func (s step) when(d time.Duration) step {
	s.at = d
	return s
}

// withDisarmed returns s expecting the lead's Disarmed entries after it.
func (s step) withDisarmed(d ...Disarmed) step {
	s.disarmed = d
	return s
}

// withCooldowns returns s expecting the lead's Cooldown entries after it.
func (s step) withCooldowns(c ...Cooldown) step {
	s.cooldowns = c
	return s
}

func TestEvaluateRearmBelow(t *testing.T) {
	hot := withRearm(trig("hot", "", 75), 60)
	demo := withRearm(trig("demo", "demo_request", 75), 60)
	warm := withRearm(trig("warm", "", 50), 40)
	plainHot := trig("hot", "", 75)

	tests := []struct {
		name     string
		triggers []Trigger
		steps    []step
	}{
		{
			name:     "a rise back to the threshold without a drop below rearmBelow does not fire",
			triggers: []Trigger{hot},
			steps: []step{
				ev("x", 80, fire(hot)),
				ev("x", 72).withDisarmed(disarm(hot)),
				ev("x", 78),
				ev("x", 70).withDisarmed(disarm(hot)),
				ev("x", 60).withDisarmed(disarm(hot)),
				ev("x", 59),
				ev("x", 74),
				ev("x", 75, fire(hot)),
			},
		},
		{
			name:     "a drop below rearmBelow re-arms at once",
			triggers: []Trigger{hot},
			steps: []step{
				ev("x", 80, fire(hot)),
				ev("x", 10),
				ev("x", 76, fire(hot)),
			},
		},
		{
			name:     "a lead first seen between rearmBelow and the threshold is armed",
			triggers: []Trigger{hot},
			steps: []step{
				ev("x", 70),
				ev("x", 76, fire(hot)),
			},
		},
		{
			name:     "a lead rising from below rearmBelow through the band is armed",
			triggers: []Trigger{hot},
			steps: []step{
				ev("x", 50),
				ev("x", 70),
				ev("x", 74),
				ev("x", 75, fire(hot)),
			},
		},
		{
			name:     "rearmBelow at or above the threshold is the threshold",
			triggers: []Trigger{withRearm(trig("hot", "", 75), 75), withRearm(trig("hotter", "", 90), 95)},
			steps: []step{
				ev("x", 95, fire(withRearm(trig("hot", "", 75), 75)), fire(withRearm(trig("hotter", "", 90), 95))),
				ev("x", 72),
				ev("x", 78, fire(withRearm(trig("hot", "", 75), 75))),
			},
		},
		{
			name:     "a pending crossing survives the band and fires back at the threshold",
			triggers: []Trigger{demo},
			steps: []step{
				ev("page_view", 80).withPending(pend(demo)),
				ev("demo_request", 72).withPending(pend(demo)).withDisarmed(disarm(demo)),
				ev("page_view", 78).withPending(pend(demo)),
				ev("demo_request", 78, firePending(demo)),
				ev("page_view", 70).withDisarmed(disarm(demo)),
				ev("demo_request", 80),
			},
		},
		{
			name:     "a pending crossing fires at exactly the threshold",
			triggers: []Trigger{demo},
			steps: []step{
				ev("page_view", 80).withPending(pend(demo)),
				ev("page_view", 60).withPending(pend(demo)).withDisarmed(disarm(demo)),
				ev("demo_request", 75, firePending(demo)),
			},
		},
		{
			name:     "a drop below rearmBelow clears the pending crossing",
			triggers: []Trigger{demo},
			steps: []step{
				ev("page_view", 80).withPending(pend(demo)),
				ev("page_view", 55),
				ev("demo_request", 76, fire(demo)),
			},
		},
		{
			name:     "re-thresholded above the lead: the disarm is dropped and the new threshold crosses",
			triggers: []Trigger{hot},
			steps: []step{
				ev("x", 80, fire(hot)),
				ev("x", 72).withDisarmed(disarm(hot)),
				ev("x", 85).after(withThreshold(hot, 90)),
				ev("x", 91, fire(withThreshold(hot, 90))),
			},
		},
		{
			name:     "rearmBelow raised above the lead re-arms it",
			triggers: []Trigger{hot},
			steps: []step{
				ev("x", 80, fire(hot)),
				ev("x", 72).withDisarmed(disarm(hot)),
				ev("x", 78, fire(hot)).after(withRearm(hot, 73)),
			},
		},
		{
			name:     "rearmBelow lowered keeps the lead disarmed",
			triggers: []Trigger{hot},
			steps: []step{
				ev("x", 80, fire(hot)),
				ev("x", 72).withDisarmed(disarm(hot)),
				ev("x", 65).after(withRearm(hot, 50)).withDisarmed(disarm(hot)),
				ev("x", 78),
			},
		},
		{
			name:     "rearmBelow removed re-arms a lead below the threshold",
			triggers: []Trigger{hot},
			steps: []step{
				ev("x", 80, fire(hot)),
				ev("x", 72).withDisarmed(disarm(hot)),
				ev("x", 78, fire(plainHot)).after(plainHot),
			},
		},
		{
			name:     "rearmBelow added while the lead is above disarms it on the way down",
			triggers: []Trigger{plainHot},
			steps: []step{
				ev("x", 80, fire(plainHot)),
				ev("x", 72).after(hot).withDisarmed(disarm(hot)),
				ev("x", 78),
			},
		},
		{
			name: "a trigger created while the lead is above needs a drop below rearmBelow",
			steps: []step{
				ev("x", 80),
				ev("x", 72).after(hot).withDisarmed(disarm(hot)),
				ev("x", 78),
				ev("x", 50),
				ev("x", 78, fire(hot)),
			},
		},
		{
			name:     "a new epoch drops the disarm",
			triggers: []Trigger{hot},
			steps: []step{
				ev("x", 80, fire(hot)),
				ev("x", 72).withDisarmed(disarm(hot)),
				ev("x", 78, fire(inEpoch(hot, 1))).after(inEpoch(hot, 1)),
			},
		},
		{
			name:     "a re-created trigger drops the disarm",
			triggers: []Trigger{hot},
			steps: []step{
				ev("x", 80, fire(hot)),
				ev("x", 72).withDisarmed(disarm(hot)),
				ev("x", 78, fire(withUID(hot, "hot#2"))).after(withUID(hot, "hot#2")),
			},
		},
		{
			name:     "a deleted or deactivated trigger's disarm is dropped: back, it is armed",
			triggers: []Trigger{hot},
			steps: []step{
				ev("x", 80, fire(hot)),
				ev("x", 72).withDisarmed(disarm(hot)),
				ev("x", 71).after(),
				ev("x", 80, fire(hot)).after(hot),
				ev("x", 72).withDisarmed(disarm(hot)),
				ev("x", 71).after(inactive(hot)),
			},
		},
		{
			name:     "one drop below several thresholds disarms those with rearmBelow in their band",
			triggers: []Trigger{hot, warm, any10},
			steps: []step{
				ev("x", 80, fire(any10), fire(warm), fire(hot)),
				ev("x", 45).withDisarmed(disarm(warm)),
				ev("x", 55),
				ev("x", 76, fire(hot)),
				ev("x", 30),
				ev("x", 50, fire(warm)),
			},
		},
		{
			name:     "leads are independent",
			triggers: []Trigger{hot},
			steps: []step{
				{lead: "A", typ: "x", score: 80, want: []Firing{fire(hot)}},
				{lead: "A", typ: "x", score: 72, disarmed: []Disarmed{disarm(hot)}},
				{lead: "B", typ: "x", score: 72},
				{lead: "B", typ: "x", score: 78, want: []Firing{fire(hot)}},
				{lead: "A", typ: "x", score: 78},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runSteps(t, tt.triggers, tt.steps)
		})
	}
}

func TestEvaluateCooldown(t *testing.T) {
	const h, m = time.Hour, time.Minute
	cold := withCooldown(trig("cold", "", 75), h)
	demo := withCooldown(trig("demo", "demo_request", 75), h)
	both := withRearm(withCooldown(trig("both", "", 75), h), 60)
	plainCold := trig("cold", "", 75)

	tests := []struct {
		name     string
		triggers []Trigger
		steps    []step
	}{
		{
			name:     "a crossing within the cooldown does not fire; one at its end does",
			triggers: []Trigger{cold},
			steps: []step{
				ev("x", 80, fire(cold)).when(0).withCooldowns(cool(cold, 0)),
				ev("x", 70).when(10 * m).withCooldowns(cool(cold, 0)),
				ev("x", 80).when(20 * m).withCooldowns(cool(cold, 0)),
				ev("x", 70).when(30 * m).withCooldowns(cool(cold, 0)),
				ev("x", 80, fire(cold)).when(h).withCooldowns(cool(cold, h)),
			},
		},
		{
			name:     "a cooldown that ran out is dropped at the lead's next event",
			triggers: []Trigger{cold},
			steps: []step{
				ev("x", 80, fire(cold)).when(0).withCooldowns(cool(cold, 0)),
				ev("x", 81).when(59 * m).withCooldowns(cool(cold, 0)),
				ev("x", 82).when(h),
			},
		},
		{
			name:     "a typed crossing within the cooldown leaves no pending crossing",
			triggers: []Trigger{demo},
			steps: []step{
				ev("demo_request", 80, fire(demo)).when(0).withCooldowns(cool(demo, 0)),
				ev("page_view", 70).when(10 * m).withCooldowns(cool(demo, 0)),
				ev("page_view", 80).when(20 * m).withCooldowns(cool(demo, 0)),
				ev("demo_request", 81).when(30 * m).withCooldowns(cool(demo, 0)),
				ev("demo_request", 82).when(2 * h),
			},
		},
		{
			name:     "a pending firing starts the cooldown",
			triggers: []Trigger{demo},
			steps: []step{
				ev("page_view", 80).when(0).withPending(pend(demo)),
				ev("demo_request", 81, firePending(demo)).when(5 * m).withCooldowns(cool(demo, 5*m)),
				ev("page_view", 70).when(10 * m).withCooldowns(cool(demo, 5*m)),
				ev("demo_request", 80).when(20 * m).withCooldowns(cool(demo, 5*m)),
				ev("page_view", 70).when(h).withCooldowns(cool(demo, 5*m)),
				ev("demo_request", 80, fire(demo)).when(h + 5*m).withCooldowns(cool(demo, h+5*m)),
			},
		},
		{
			name:     "an event dated before the firing is within the cooldown",
			triggers: []Trigger{cold},
			steps: []step{
				ev("x", 80, fire(cold)).when(0).withCooldowns(cool(cold, 0)),
				ev("x", 70).when(-h).withCooldowns(cool(cold, 0)),
				ev("x", 80).when(-30 * m).withCooldowns(cool(cold, 0)),
			},
		},
		{
			name:     "a cooldown removed lets the next crossing fire",
			triggers: []Trigger{cold},
			steps: []step{
				ev("x", 80, fire(cold)).when(0).withCooldowns(cool(cold, 0)),
				ev("x", 70).when(10 * m).withCooldowns(cool(cold, 0)),
				ev("x", 80, fire(plainCold)).when(20 * m).after(plainCold),
			},
		},
		{
			name:     "a cooldown shortened applies to a running one",
			triggers: []Trigger{cold},
			steps: []step{
				ev("x", 80, fire(cold)).when(0).withCooldowns(cool(cold, 0)),
				ev("x", 70).when(10 * m).withCooldowns(cool(cold, 0)),
				ev("x", 80, fire(cold)).when(20 * m).after(withCooldown(cold, 15*m)).withCooldowns(cool(cold, 20*m)),
			},
		},
		{
			name:     "a cooldown lengthened after it ran out does not come back",
			triggers: []Trigger{withCooldown(cold, 15*m)},
			steps: []step{
				ev("x", 80, fire(cold)).when(0).withCooldowns(cool(cold, 0)),
				ev("x", 70).when(20 * m),
				ev("x", 80, fire(cold)).when(30 * m).after(cold).withCooldowns(cool(cold, 30*m)),
			},
		},
		{
			name:     "a new epoch or a re-created trigger drops the cooldown",
			triggers: []Trigger{cold},
			steps: []step{
				ev("x", 80, fire(cold)).when(0).withCooldowns(cool(cold, 0)),
				ev("x", 70).when(10 * m).withCooldowns(cool(cold, 0)),
				ev("x", 80, fire(inEpoch(cold, 1))).when(20 * m).after(inEpoch(cold, 1)).withCooldowns(cool(inEpoch(cold, 1), 20*m)),
				ev("x", 70).when(30 * m).withCooldowns(cool(inEpoch(cold, 1), 20*m)),
				ev("x", 80, fire(withUID(cold, "cold#2"))).when(40 * m).after(withUID(cold, "cold#2")).withCooldowns(cool(withUID(cold, "cold#2"), 40*m)),
			},
		},
		{
			name:     "a deactivated trigger's cooldown is dropped",
			triggers: []Trigger{cold},
			steps: []step{
				ev("x", 80, fire(cold)).when(0).withCooldowns(cool(cold, 0)),
				ev("x", 70).when(10 * m).after(inactive(cold)),
				ev("x", 80, fire(cold)).when(20 * m).after(cold).withCooldowns(cool(cold, 20*m)),
			},
		},
		{
			name:     "a swallowed crossing still disarms the lead",
			triggers: []Trigger{both},
			steps: []step{
				ev("x", 80, fire(both)).when(0).withCooldowns(cool(both, 0)),
				ev("x", 55).when(10 * m).withCooldowns(cool(both, 0)),
				ev("x", 80).when(20 * m).withCooldowns(cool(both, 0)),
				ev("x", 72).when(30 * m).withCooldowns(cool(both, 0)).withDisarmed(disarm(both)),
				ev("x", 78).when(h + 10*m),
				ev("x", 50).when(h + 20*m),
				ev("x", 76, fire(both)).when(h + 30*m).withCooldowns(cool(both, h+30*m)),
			},
		},
		{
			name:     "a zero or negative cooldown is none",
			triggers: []Trigger{withCooldown(trig("zero", "", 75), 0), withCooldown(trig("neg", "", 75), -h)},
			steps: []step{
				ev("x", 80, fire(trig("neg", "", 75)), fire(trig("zero", "", 75))),
				ev("x", 70),
				ev("x", 80, fire(trig("neg", "", 75)), fire(trig("zero", "", 75))),
			},
		},
		{
			name:     "leads cool down independently",
			triggers: []Trigger{cold},
			steps: []step{
				{lead: "A", typ: "x", score: 80, want: []Firing{fire(cold)}, cooldowns: []Cooldown{cool(cold, 0)}},
				{lead: "A", typ: "x", score: 70, at: m, cooldowns: []Cooldown{cool(cold, 0)}},
				{lead: "B", typ: "x", score: 80, at: 2 * m, want: []Firing{fire(cold)}, cooldowns: []Cooldown{cool(cold, 2*m)}},
				{lead: "A", typ: "x", score: 80, at: 3 * m, cooldowns: []Cooldown{cool(cold, 0)}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runSteps(t, tt.triggers, tt.steps)
		})
	}
}

func TestEvaluatePolicyOddInputs(t *testing.T) {
	demo := withRearm(trig("demo", "demo_request", 75), 60)
	hot := withRearm(trig("hot", "", 75), 60)
	cold := withCooldown(trig("cold", "", 75), time.Hour)
	tests := []struct {
		name  string
		ix    *Index
		state LeadState
		ev    Event
		want  []Firing
	}{
		{
			name:  "a pending crossing in the band without its Disarmed entry is dropped: one firing",
			ix:    NewIndex([]Trigger{demo}),
			state: LeadState{Seen: true, Score: 70, Pending: []Pending{pend(demo)}},
			ev:    Event{Type: "demo_request", Score: 80},
			want:  []Firing{fire(demo)},
		},
		{
			name:  "a pending crossing in the band with its Disarmed entry fires once",
			ix:    NewIndex([]Trigger{demo}),
			state: LeadState{Seen: true, Score: 70, Pending: []Pending{pend(demo), pend(demo)}, Holds: &Holds{Disarmed: []Disarmed{disarm(demo)}}},
			ev:    Event{Type: "demo_request", Score: 80},
			want:  []Firing{firePending(demo)},
		},
		{
			name:  "Disarmed entries out of order still disarm",
			ix:    NewIndex([]Trigger{hot, withRearm(trig("warm", "", 73), 60), withRearm(trig("cool", "", 71), 60)}),
			state: LeadState{Seen: true, Score: 70, Holds: &Holds{Disarmed: []Disarmed{disarm(withRearm(trig("cool", "", 71), 60)), disarm(hot), disarm(withRearm(trig("warm", "", 73), 60))}}},
			ev:    Event{Score: 80},
		},
		{
			name:  "Cooldown entries out of order still hold",
			ix:    NewIndex([]Trigger{cold, withCooldown(trig("a", "", 75), time.Hour), withCooldown(trig("z", "", 75), time.Hour)}),
			state: LeadState{Seen: true, Score: 10, Holds: &Holds{Cooldowns: []Cooldown{cool(trig("z", "", 75), 0), cool(cold, 0), cool(trig("a", "", 75), 0)}}},
			ev:    Event{Score: 80, At: stepTime},
		},
		{
			name:  "a Disarmed entry above the threshold is ignored",
			ix:    NewIndex([]Trigger{hot}),
			state: LeadState{Seen: true, Score: 50, Holds: &Holds{Disarmed: []Disarmed{disarm(hot)}}},
			ev:    Event{Score: 80},
			want:  []Firing{fire(hot)},
		},
		{
			name:  "a Disarmed entry of an unseen lead is ignored",
			ix:    NewIndex([]Trigger{hot}),
			state: LeadState{Score: 70, Holds: &Holds{Disarmed: []Disarmed{disarm(hot)}}},
			ev:    Event{Score: 80},
			want:  []Firing{fire(hot)},
		},
		{
			name:  "a Disarmed entry of another threshold is ignored",
			ix:    NewIndex([]Trigger{hot}),
			state: LeadState{Seen: true, Score: 70, Holds: &Holds{Disarmed: []Disarmed{disarm(withThreshold(hot, 72))}}},
			ev:    Event{Score: 80},
			want:  []Firing{fire(hot)},
		},
		{
			name:  "an expired and a running Cooldown entry of one trigger: the running one holds",
			ix:    NewIndex([]Trigger{cold}),
			state: LeadState{Seen: true, Score: 10, Holds: &Holds{Cooldowns: []Cooldown{cool(cold, -2*time.Hour), cool(cold, -time.Minute)}}},
			ev:    Event{Score: 80, At: stepTime},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, got := tt.ix.Evaluate(tt.state, tt.ev, nil)
			if !sameFirings(got, tt.want) {
				t.Errorf("firings = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// A lead without holds encodes as before rearmBelow and cooldown existed,
// and one whose holds emptied does too.
func TestLeadStateJSONLeavesOutEmptyHolds(t *testing.T) {
	for _, s := range []LeadState{
		{Seen: true, Score: 82},
		{Seen: true, Score: 82, Holds: &Holds{}},
		{Seen: true, Score: 82, Holds: &Holds{Disarmed: make([]Disarmed, 0, 4)}},
	} {
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if want := `{"Seen":true,"Score":82,"Pending":null}`; string(b) != want {
			t.Errorf("encoding = %s, want %s", b, want)
		}
	}
	hot := withRearm(trig("hot", "", 75), 60)
	s := LeadState{Seen: true, Score: 72, Holds: &Holds{Disarmed: []Disarmed{disarm(hot)}, Cooldowns: []Cooldown{cool(hot, 0)}}}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var back LeadState
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, s) {
		t.Errorf("round trip of %s = %+v, want %+v", b, back, s)
	}
}

func TestCloneSharesNothing(t *testing.T) {
	hot := withRearm(trig("hot", "", 75), 60)
	s := LeadState{Seen: true, Score: 72, Pending: []Pending{pend(hot)}, Holds: &Holds{Disarmed: []Disarmed{disarm(hot)}, Cooldowns: []Cooldown{cool(hot, 0)}}}
	c := s.Clone()
	if !reflect.DeepEqual(c, s) {
		t.Fatalf("Clone = %+v, want %+v", c, s)
	}
	c.Pending[0].Trigger, c.Holds.Disarmed[0].Trigger, c.Holds.Cooldowns[0].Trigger = "x", "x", "x"
	if s.Pending[0].Trigger != "hot" || s.Holds.Disarmed[0].Trigger != "hot" || s.Holds.Cooldowns[0].Trigger != "hot" {
		t.Errorf("Clone shares memory: %+v", s)
	}
	if c := (LeadState{Holds: &Holds{}}).Clone(); c.Holds != nil {
		t.Errorf("Clone of empty holds = %+v, want none", c.Holds)
	}
}
