package evaluator

import (
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// trig is an active trigger whose UID is its name with "#1".
func trig(name, eventType string, threshold int64) Trigger {
	return Trigger{Name: name, UID: name + "#1", EventType: eventType, Threshold: threshold, Active: true}
}

// inactive returns t deactivated.
func inactive(t Trigger) Trigger {
	t.Active = false
	return t
}

// inEpoch returns t in another epoch, as after it was deactivated and
// re-activated, or re-thresholded and changed back.
func inEpoch(t Trigger, epoch uint64) Trigger {
	t.Epoch = epoch
	return t
}

// withUID returns t with another UID, as for a re-created trigger.
func withUID(t Trigger, uid string) Trigger {
	t.UID = uid
	return t
}

// fire is the crossing firing of trigger t.
func fire(t Trigger) Firing {
	return Firing{Trigger: t.Name, UID: t.UID, Threshold: t.Threshold}
}

// firePending is the pending firing of trigger t.
func firePending(t Trigger) Firing {
	f := fire(t)
	f.FromPending = true
	return f
}

// pend is the pending crossing of trigger t.
func pend(t Trigger) Pending {
	return Pending{Trigger: t.Name, UID: t.UID, Threshold: t.Threshold}
}

// step is one event of a scenario. When triggers is not nil, the OU's
// triggers are replaced by them before the event ([]Trigger{} for none).
type step struct {
	triggers []Trigger
	lead     string // "L" when empty
	typ      string
	score    int64
	want     []Firing
	pending  []Pending // the lead's pending crossings after the event
	// at is the event's time, after stepTime.
	at time.Duration
	// disarmed and cooldowns are the lead's Disarmed and Cooldowns entries
	// after the event, in any order.
	disarmed  []Disarmed
	cooldowns []Cooldown
}

// stepTime is the time of a step whose at is 0.
var stepTime = time.Date(2025, 1, 15, 10, 0, 0, 0, time.UTC)

// ev is a step with an event of type typ and score.
func ev(typ string, score int64, want ...Firing) step {
	return step{typ: typ, score: score, want: want}
}

// withPending returns s expecting the lead's pending crossings after it.
func (s step) withPending(p ...Pending) step {
	s.pending = p
	return s
}

// after returns s preceded by a change of the OU's triggers.
func (s step) after(triggers ...Trigger) step {
	if triggers == nil {
		triggers = []Trigger{}
	}
	s.triggers = triggers
	return s
}

var (
	any10   = trig("any10", "", 10)
	click10 = trig("click10", "click", 10)
	open20  = trig("open20", "open", 20)
	any20   = trig("any20", "", 20)
	a20     = trig("a20", "", 20)
	click30 = trig("click30", "click", 30)
	neg10   = trig("neg", "", -10)
)

func TestEvaluateRules(t *testing.T) {
	click15 := click10
	click15.Threshold = 15
	any15 := any10
	any15.Threshold = 15
	any30 := any10
	any30.Threshold = 30
	click10v2 := withUID(click10, "click10#2")

	tests := []struct {
		name     string
		triggers []Trigger
		steps    []step
	}{
		{
			name:     "untyped crossing fires on any type",
			triggers: []Trigger{any10},
			steps: []step{
				ev("open", 5),
				ev("view", 12, fire(any10)),
			},
		},
		{
			name:     "typed crossing on matching type fires",
			triggers: []Trigger{click10},
			steps: []step{
				ev("click", 5),
				ev("click", 10, fire(click10)),
			},
		},
		{
			name:     "typed crossing on another type is pending then fires on first matching event",
			triggers: []Trigger{click10},
			steps: []step{
				ev("open", 5),
				ev("open", 12).withPending(pend(click10)),
				ev("open", 13).withPending(pend(click10)),
				ev("click", 14, firePending(click10)),
				ev("click", 15),
			},
		},
		{
			name:     "pending does not fire on later events of other types",
			triggers: []Trigger{click10},
			steps: []step{
				ev("open", 12).withPending(pend(click10)),
				ev("view", 20).withPending(pend(click10)),
				ev("", 20).withPending(pend(click10)),
				ev("clicks", 11).withPending(pend(click10)),
				ev("click", 10, firePending(click10)),
			},
		},
		{
			name:     "pending fires on an event that keeps the score",
			triggers: []Trigger{click10, any20},
			steps: []step{
				ev("open", 12).withPending(pend(click10)),
				ev("click", 12, firePending(click10)),
				ev("click", 12),
			},
		},
		{
			name:     "drop below clears pending and re-arms",
			triggers: []Trigger{click10},
			steps: []step{
				ev("open", 12).withPending(pend(click10)),
				ev("open", 9),
				ev("click", 9),
				ev("click", 11, fire(click10)),
			},
		},
		{
			name:     "drop below re-arms untyped trigger",
			triggers: []Trigger{any10},
			steps: []step{
				ev("open", 12, fire(any10)),
				ev("open", 8),
				ev("open", 12, fire(any10)),
			},
		},
		{
			name:     "pending survives a drop to exactly the threshold",
			triggers: []Trigger{click10},
			steps: []step{
				ev("open", 12).withPending(pend(click10)),
				ev("open", 10).withPending(pend(click10)),
				ev("click", 10, firePending(click10)),
			},
		},
		{
			name:     "no refire while above",
			triggers: []Trigger{any10, click10},
			steps: []step{
				ev("click", 12, fire(any10), fire(click10)),
				ev("click", 15),
				ev("open", 20),
				ev("click", 10),
				ev("click", 100),
			},
		},
		{
			name: "trigger created while lead is above does not fire",
			steps: []step{
				ev("open", 20),
				ev("open", 25).after(any10, click10),
				ev("click", 30),
				ev("click", 5),
				ev("click", 12, fire(any10), fire(click10)),
			},
		},
		{
			name:     "trigger re-activated while lead is above does not fire",
			triggers: []Trigger{inactive(any10)},
			steps: []step{
				ev("open", 20),
				ev("open", 25).after(any10),
				ev("open", 5),
				ev("open", 10, fire(any10)),
			},
		},
		{
			name:     "trigger re-thresholded below the lead does not fire",
			triggers: []Trigger{any30},
			steps: []step{
				ev("open", 20),
				ev("open", 25).after(any15),
				ev("open", 29),
				ev("open", 14),
				ev("open", 15, fire(any15)),
			},
		},
		{
			name:     "trigger re-thresholded above the lead fires on the new crossing",
			triggers: []Trigger{any10},
			steps: []step{
				ev("open", 20, fire(any10)),
				ev("open", 25).after(any30),
				ev("open", 30, fire(any30)),
			},
		},
		{
			name:     "pending of a deactivated trigger is dropped",
			triggers: []Trigger{click10},
			steps: []step{
				ev("open", 12).withPending(pend(click10)),
				ev("open", 13).after(inactive(click10)),
				ev("click", 14).after(click10),
				ev("click", 15),
			},
		},
		{
			// Deactivated and re-activated between two events of the lead:
			// the trigger set moves the trigger to a new epoch, which drops
			// the pending crossing (rule 5: inactive keeps no pending).
			name:     "pending of a trigger deactivated and re-activated between events is dropped",
			triggers: []Trigger{click10},
			steps: []step{
				ev("open", 12).withPending(pend(click10)),
				ev("click", 13).after(inEpoch(click10, 1)),
				ev("click", 14),
			},
		},
		{
			name:     "pending of a deactivated trigger does not fire on a matching event",
			triggers: []Trigger{click10},
			steps: []step{
				ev("open", 12).withPending(pend(click10)),
				ev("click", 13).after(inactive(click10)),
			},
		},
		{
			name:     "pending of a re-thresholded trigger is dropped",
			triggers: []Trigger{click10},
			steps: []step{
				ev("open", 20).withPending(pend(click10)),
				ev("click", 20).after(click15),
				ev("click", 21),
			},
		},
		{
			name:     "pending of a deleted trigger is dropped",
			triggers: []Trigger{click10, any20},
			steps: []step{
				ev("open", 12).withPending(pend(click10)),
				ev("click", 13).after(any20),
				ev("click", 14).after(click10, any20),
			},
		},
		{
			name:     "pending of a re-created trigger is dropped",
			triggers: []Trigger{click10},
			steps: []step{
				ev("open", 12).withPending(pend(click10)),
				ev("click", 13).after(click10v2),
				ev("click", 9),
				ev("click", 10, fire(click10v2)),
			},
		},
		{
			name:     "inactive triggers never fire and keep no pending",
			triggers: []Trigger{inactive(any10), inactive(click10)},
			steps: []step{
				ev("open", 5),
				ev("open", 12),
				ev("click", 13),
				ev("open", 5),
				ev("click", 50),
			},
		},
		{
			name:     "one event crossing several thresholds fires each once in order",
			triggers: []Trigger{click30, any20, any10, a20, open20, click10},
			steps: []step{
				ev("open", 0),
				ev("open", 35, fire(any10), fire(a20), fire(any20), fire(open20)).withPending(pend(click10), pend(click30)),
				ev("click", 36, firePending(click10), firePending(click30)),
				ev("click", 40),
			},
		},
		{
			name:     "pending firings come before crossings",
			triggers: []Trigger{click10, any20, click30},
			steps: []step{
				ev("open", 12).withPending(pend(click10)),
				ev("click", 30, firePending(click10), fire(any20), fire(click30)),
			},
		},
		{
			name:     "score equal to the threshold counts",
			triggers: []Trigger{any10},
			steps: []step{
				ev("open", 9),
				ev("open", 10, fire(any10)),
			},
		},
		{
			name:     "first-seen lead counts as below every threshold",
			triggers: []Trigger{neg10, any10, click10, any20},
			steps: []step{
				ev("open", 10, fire(neg10), fire(any10)).withPending(pend(click10)),
			},
		},
		{
			name:     "first-seen lead below a threshold does not fire it",
			triggers: []Trigger{any10},
			steps: []step{
				ev("open", 9),
				ev("open", 9),
			},
		},
		{
			name:     "first-seen lead at a very low score",
			triggers: []Trigger{neg10, trig("min", "", -1<<63)},
			steps: []step{
				ev("open", -1<<63, fire(trig("min", "", -1<<63))),
				ev("open", 1<<63-1, fire(neg10)),
			},
		},
		{
			name:     "negative scores and thresholds",
			triggers: []Trigger{neg10},
			steps: []step{
				ev("open", -20),
				ev("open", -10, fire(neg10)),
				ev("open", -30),
				ev("open", -5, fire(neg10)),
				ev("open", -1),
			},
		},
		{
			name:     "drop and re-cross in consecutive events",
			triggers: []Trigger{any10},
			steps: []step{
				ev("open", 12, fire(any10)),
				ev("open", 9),
				ev("open", 10, fire(any10)),
				ev("open", 9),
				ev("open", 11, fire(any10)),
			},
		},
		{
			name:     "typed drop and re-cross in consecutive events",
			triggers: []Trigger{click10},
			steps: []step{
				ev("click", 12, fire(click10)),
				ev("view", 9),
				ev("view", 10).withPending(pend(click10)),
				ev("view", 9),
				ev("view", 10).withPending(pend(click10)),
				ev("click", 10, firePending(click10)),
			},
		},
		{
			name:     "same score crosses nothing",
			triggers: []Trigger{any10},
			steps: []step{
				ev("open", 10, fire(any10)),
				ev("open", 10),
			},
		},
		{
			name:     "leads are independent",
			triggers: []Trigger{any10},
			steps: []step{
				{lead: "A", typ: "open", score: 12, want: []Firing{fire(any10)}},
				{lead: "B", typ: "open", score: 5},
				{lead: "B", typ: "open", score: 12, want: []Firing{fire(any10)}},
				{lead: "A", typ: "open", score: 13},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runSteps(t, tt.triggers, tt.steps)
		})
	}
}

// runSteps plays steps against an index built from triggers.
func runSteps(t *testing.T, triggers []Trigger, steps []step) {
	t.Helper()
	ix := NewIndex(triggers)
	states := map[string]LeadState{}
	for i, s := range steps {
		if s.triggers != nil {
			ix = NewIndex(s.triggers)
		}
		lead := s.lead
		if lead == "" {
			lead = "L"
		}
		e := Event{ID: "e", LeadID: lead, Type: s.typ, Score: s.score, At: stepTime.Add(s.at)}
		st, got := ix.Evaluate(states[lead], e, nil)
		states[lead] = st
		if !sameFirings(got, s.want) {
			t.Errorf("step %d (%s %d): firings = %+v, want %+v", i, s.typ, s.score, got, s.want)
		}
		if !samePending(st.Pending, s.pending) {
			t.Errorf("step %d (%s %d): pending = %+v, want %+v", i, s.typ, s.score, st.Pending, s.pending)
		}
		if !sameDisarmed(disarmedIn(st), s.disarmed) {
			t.Errorf("step %d (%s %d): disarmed = %+v, want %+v", i, s.typ, s.score, disarmedIn(st), s.disarmed)
		}
		if !sameCooldowns(cooldownsIn(st), s.cooldowns) {
			t.Errorf("step %d (%s %d): cooldowns = %+v, want %+v", i, s.typ, s.score, cooldownsIn(st), s.cooldowns)
		}
		if !st.Seen || st.Score != s.score {
			t.Errorf("step %d: state = seen %v score %d, want seen at %d", i, st.Seen, st.Score, s.score)
		}
	}
}

func sameFirings(got, want []Firing) bool {
	return len(got) == 0 && len(want) == 0 || reflect.DeepEqual(got, want)
}

func samePending(got, want []Pending) bool {
	return len(got) == 0 && len(want) == 0 || reflect.DeepEqual(got, want)
}

// disarmedIn returns the Disarmed entries of s.
func disarmedIn(s LeadState) []Disarmed {
	if s.Holds == nil {
		return nil
	}
	return s.Holds.Disarmed
}

// cooldownsIn returns the Cooldown entries of s.
func cooldownsIn(s LeadState) []Cooldown {
	if s.Holds == nil {
		return nil
	}
	return s.Holds.Cooldowns
}

// sameDisarmed compares Disarmed entries in any order.
func sameDisarmed(got, want []Disarmed) bool {
	by := func(a, b Disarmed) int { return strings.Compare(a.Trigger, b.Trigger) }
	got, want = slices.SortedFunc(slices.Values(got), by), slices.SortedFunc(slices.Values(want), by)
	return len(got) == 0 && len(want) == 0 || reflect.DeepEqual(got, want)
}

// sameCooldowns compares Cooldown entries in any order.
func sameCooldowns(got, want []Cooldown) bool {
	by := func(a, b Cooldown) int { return strings.Compare(a.Trigger, b.Trigger) }
	got, want = slices.SortedFunc(slices.Values(got), by), slices.SortedFunc(slices.Values(want), by)
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Trigger != w.Trigger || g.UID != w.UID || g.Epoch != w.Epoch || !g.FiredAt.Equal(w.FiredAt) {
			return false
		}
	}
	return true
}

func TestIndexLen(t *testing.T) {
	tests := []struct {
		name       string
		ix         *Index
		len, count int
	}{
		{"nil", nil, 0, 0},
		{"empty", NewIndex(nil), 0, 0},
		{"mixed", NewIndex([]Trigger{any10, inactive(click10), any20}), 3, 2},
		{"repeated name", NewIndex([]Trigger{any10, inactive(any10)}), 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.ix.Len(); got != tt.len {
				t.Errorf("Len() = %d, want %d", got, tt.len)
			}
			if got := tt.ix.Active(); got != tt.count {
				t.Errorf("Active() = %d, want %d", got, tt.count)
			}
		})
	}
}

func TestEvaluateOddInputs(t *testing.T) {
	tests := []struct {
		name    string
		ix      *Index
		state   LeadState
		ev      Event
		want    []Firing
		pending []Pending
	}{
		{
			name:  "nil index drops pendings and fires nothing",
			ix:    nil,
			state: LeadState{Seen: true, Score: 12, Pending: []Pending{pend(click10)}},
			ev:    Event{Type: "click", Score: 12},
		},
		{
			name: "repeated name: the last trigger wins",
			ix:   NewIndex([]Trigger{any10, withUID(any20, "x"), trig("any10", "", 30)}),
			ev:   Event{Type: "open", Score: 25},
			want: []Firing{{Trigger: "any20", UID: "x", Threshold: 20}},
		},
		{
			name:    "unseen lead ignores pendings it cannot have",
			ix:      NewIndex([]Trigger{click10}),
			state:   LeadState{Pending: []Pending{pend(click10)}},
			ev:      Event{Type: "open", Score: 12},
			pending: []Pending{pend(click10)},
		},
		{
			name:  "pending above the lead's score is ignored",
			ix:    NewIndex([]Trigger{click10}),
			state: LeadState{Seen: true, Score: 5, Pending: []Pending{pend(click10)}},
			ev:    Event{Type: "click", Score: 12},
			want:  []Firing{fire(click10)},
		},
		{
			name:  "repeated pending fires once",
			ix:    NewIndex([]Trigger{click10, click30}),
			state: LeadState{Seen: true, Score: 40, Pending: []Pending{pend(click30), pend(click10), pend(click30), pend(click10)}},
			ev:    Event{Type: "click", Score: 40},
			want:  []Firing{firePending(click10), firePending(click30)},
		},
		{
			name:  "pending of a trigger made untyped fires on any type",
			ix:    NewIndex([]Trigger{trig("click10", "", 10)}),
			state: LeadState{Seen: true, Score: 12, Pending: []Pending{pend(click10)}},
			ev:    Event{Type: "open", Score: 12},
			want:  []Firing{firePending(click10)},
		},
		{
			name:    "pending of a trigger retyped waits for the new type",
			ix:      NewIndex([]Trigger{trig("click10", "tap", 10)}),
			state:   LeadState{Seen: true, Score: 12, Pending: []Pending{pend(click10)}},
			ev:      Event{Type: "click", Score: 12},
			pending: []Pending{pend(click10)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, got := tt.ix.Evaluate(tt.state, tt.ev, nil)
			if !sameFirings(got, tt.want) {
				t.Errorf("firings = %+v, want %+v", got, tt.want)
			}
			if !samePending(st.Pending, tt.pending) {
				t.Errorf("pending = %+v, want %+v", st.Pending, tt.pending)
			}
		})
	}
}

func TestEvaluateAppendsToBuf(t *testing.T) {
	ix := NewIndex([]Trigger{any10, any20})
	prior := Firing{Trigger: "earlier", Threshold: 99}
	buf := make([]Firing, 1, 8)
	buf[0] = prior
	_, got := ix.Evaluate(LeadState{Seen: true, Score: 0}, Event{Type: "open", Score: 20}, buf)
	want := []Firing{prior, fire(any10), fire(any20)}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("firings = %+v, want %+v", got, want)
	}
}

func TestEvaluateAllocations(t *testing.T) {
	hot := withRearm(trig("hot", "", 35), 25)
	cold := withCooldown(trig("cold", "open", 28), time.Hour)
	ix := NewIndex([]Trigger{any10, click10, any20, open20, click30, hot, cold})
	fired := stepTime.Add(-time.Minute)
	tests := []struct {
		name  string
		state LeadState
		ev    Event
	}{
		{"no firing", LeadState{Seen: true, Score: 12}, Event{Type: "open", Score: 15}},
		{"drop below", LeadState{Seen: true, Score: 12, Pending: []Pending{pend(click10)}}, Event{Type: "open", Score: 5}},
		{"crossings", LeadState{Seen: true, Score: 0}, Event{Type: "open", Score: 40}},
		{"unseen", LeadState{}, Event{Type: "click", Score: 40}},
		{"pending fires", LeadState{Seen: true, Score: 12, Pending: []Pending{pend(click10)}}, Event{Type: "click", Score: 25}},
		{"drop into a band", LeadState{Seen: true, Score: 40}, Event{Type: "open", Score: 30}},
		{"disarmed back above", LeadState{Seen: true, Score: 30, Holds: &Holds{Disarmed: []Disarmed{disarm(hot)}}}, Event{Type: "open", Score: 40}},
		{"crossing in the cooldown", LeadState{Seen: true, Score: 0, Holds: &Holds{Cooldowns: []Cooldown{{Trigger: "cold", UID: "cold#1", FiredAt: fired}}}}, Event{Type: "open", Score: 29, At: stepTime}},
		{"cooldown ran out", LeadState{Seen: true, Score: 0, Holds: &Holds{Cooldowns: []Cooldown{{Trigger: "cold", UID: "cold#1", FiredAt: fired}}}}, Event{Type: "open", Score: 29, At: stepTime.Add(time.Hour)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pending := make([]Pending, 0, 8)
			holds := &Holds{Disarmed: make([]Disarmed, 0, 8), Cooldowns: make([]Cooldown, 0, 8)}
			disarmed, cooldowns := holds.Disarmed, holds.Cooldowns
			buf := make([]Firing, 0, 8)
			allocs := testing.AllocsPerRun(100, func() {
				st := tt.state
				st.Pending = append(pending[:0], tt.state.Pending...)
				holds.Disarmed = append(disarmed[:0], disarmedIn(tt.state)...)
				holds.Cooldowns = append(cooldowns[:0], cooldownsIn(tt.state)...)
				st.Holds = holds
				_, buf = ix.Evaluate(st, tt.ev, buf[:0])
			})
			if allocs != 0 {
				t.Errorf("allocs per Evaluate = %v, want 0", allocs)
			}
			if tt.state.Holds != nil {
				return
			}
			// A lead without holds that needs none gets none, for nothing.
			st := tt.state
			if after, _ := ix.Evaluate(st.Clone(), tt.ev, nil); after.Holds != nil {
				return // it needs some: a cooldown started, or a disarm
			}
			allocs = testing.AllocsPerRun(100, func() {
				st := tt.state
				st.Pending = append(pending[:0], tt.state.Pending...)
				_, buf = ix.Evaluate(st, tt.ev, buf[:0])
			})
			if allocs != 0 {
				t.Errorf("allocs per Evaluate without holds = %v, want 0", allocs)
			}
		})
	}
}

func TestIndexConcurrentUse(t *testing.T) {
	ix := NewIndex([]Trigger{any10, click10, any20, open20, click30})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			var st LeadState
			var buf []Firing
			for i := range 1000 {
				score := int64((i*7 + g) % 40)
				st, buf = ix.Evaluate(st, Event{Type: eventTypes[i%len(eventTypes)], Score: score}, buf[:0])
			}
		})
	}
	wg.Wait()
}
