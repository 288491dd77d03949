package simulate

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/leadvibe/milestone-triggers-operator/internal/evaluator"
	"github.com/leadvibe/milestone-triggers-operator/internal/ledger"
	"github.com/leadvibe/milestone-triggers-operator/internal/stream"
	"github.com/leadvibe/milestone-triggers-operator/internal/stream/streamtest"
)

// leadStore is a real ledger on a real embedded JetStream, which stores
// lead states the way the evaluator does.
type leadStore struct {
	*ledger.Ledger
	partitions int
}

func newLedger(t *testing.T) *leadStore {
	t.Helper()
	_, streams := streamtest.Open(t)
	return &leadStore{Ledger: ledger.New(streams), partitions: streams.Partitions}
}

// store makes st the stored state of lead of OU ou, covering the events
// through seq, as a partition's owner does: it claims the lead's
// partition and snapshots it.
func (s *leadStore) store(t *testing.T, ou, lead string, st evaluator.LeadState, seq uint64) {
	t.Helper()
	ctx := context.Background()
	p := stream.PartitionOf(ou, lead, s.partitions)
	pt, err := s.Claim(ctx, p, "simulate-test")
	if err != nil {
		t.Fatal(err)
	}
	if err := pt.Snapshot(ctx, map[string]ledger.LeadState{ledger.LeadKey(p, ou, lead): {State: st, AppliedSeq: seq}}, seq); err != nil {
		t.Fatal(err)
	}
}

func seen(score int64, pending ...evaluator.Pending) evaluator.LeadState {
	return evaluator.LeadState{Seen: true, Score: score, Pending: pending}
}

// Without a previous_score, a simulation starts from the lead's stored
// state: its score, and its pending crossing of the trigger only if it was
// recorded for the trigger as it is now; the answer says which state it
// used and as of when. A previous_score overrides the stored state; a lead
// without one, or one of another OU only, is new.
func TestRunUsesTheLeadsStoredState(t *testing.T) {
	leads := newLedger(t)
	const epoch = 3
	mine := evaluator.Pending{Trigger: "trigger-456", UID: "uid-456", Threshold: 75, Epoch: epoch}
	older, namesake, other, rethresholded := mine, mine, mine, mine
	older.Epoch = epoch - 1
	namesake.UID = "uid-deleted"
	other.Trigger = "trigger-other"
	rethresholded.Threshold = 70

	before := time.Now().Add(-time.Second)
	for lead, st := range map[string]evaluator.LeadState{
		"at-80": seen(80), "at-60": seen(60), "pending": seen(80, other, mine),
		"older-epoch": seen(80, older), "namesake": seen(80, namesake), "other-trigger": seen(80, other),
		"rethresholded": seen(80, rethresholded),
	} {
		leads.store(t, "acme", lead, st, 42)
	}
	leads.store(t, "other-ou", "elsewhere", seen(80), 43)
	after := time.Now().Add(time.Second)

	cases := []struct {
		name, lead string
		previous   *int64
		active     bool
		rule       string
		fires      bool
		source     string
		score      *int64
		pending    bool
	}{
		{"stored above does not cross again", "at-80", nil, true, "already_above", false, SourceStored, score(80), false},
		{"stored below crosses", "at-60", nil, true, "crossing", true, SourceStored, score(60), false},
		{"a stored pending crossing fires", "pending", nil, true, "pending_fired", true, SourceStored, score(80), true},
		{"a pending crossing of an older epoch is dropped", "older-epoch", nil, true, "already_above", false, SourceStored, score(80), false},
		{"a pending crossing of a deleted namesake is dropped", "namesake", nil, true, "already_above", false, SourceStored, score(80), false},
		{"another trigger's pending crossing does not count", "other-trigger", nil, true, "already_above", false, SourceStored, score(80), false},
		{"a pending crossing of another threshold is dropped", "rethresholded", nil, true, "already_above", false, SourceStored, score(80), false},
		{"an inactive trigger keeps no pending crossing", "pending", nil, false, "inactive", false, SourceStored, score(80), false},
		{"previous_score overrides the stored state", "at-80", score(40), true, "crossing", true, SourcePreviousScore, score(40), false},
		{"a lead without a stored state is new", "never-seen", nil, true, "crossing", true, SourceNew, nil, false},
		{"another OU's lead is not read", "elsewhere", nil, true, "crossing", true, SourceNew, nil, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			def := definition("https://hooks.example.com/x", "", "", c.active, "demo_request")
			def.Epoch = epoch
			if !c.active {
				def.Epoch = 0 // status.armedGeneration of an inactive trigger
			}
			ev := newEvent("demo_request", 85)
			ev.LeadID = c.lead
			res, err := Run(context.Background(), Config{Leads: leads}, def, Request{Event: ev, PreviousScore: c.previous}, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if res.Rule != c.rule || res.WouldFire != c.fires {
				t.Errorf("rule %s, would_fire %v; want %s, %v (%s)", res.Rule, res.WouldFire, c.rule, c.fires, res.Reason)
			}
			got := res.LeadState
			if got.Source != c.source || got.PendingCrossing != c.pending || !equal(got.Score, c.score) {
				t.Errorf("lead_state %s, want source %s, score %v, pending %v", asJSON(t, got), c.source, deref(c.score), c.pending)
			}
			if c.source != SourceStored {
				if got.AppliedSequence != nil || got.AsOf != nil {
					t.Errorf("lead_state %s: applied_sequence and as_of are only for stored states", asJSON(t, got))
				}
				return
			}
			if got.AppliedSequence == nil || *got.AppliedSequence != 42 {
				t.Errorf("applied_sequence %v, want 42", got.AppliedSequence)
			}
			if got.AsOf == nil || got.AsOf.Before(before) || got.AsOf.After(after) || got.AsOf.Location() != time.UTC {
				t.Errorf("as_of %v, want the UTC time it was stored, between %v and %v", got.AsOf, before, after)
			}
		})
	}
}

// The answer's lead_state, as the REST API returns it.
func TestLeadStateJSON(t *testing.T) {
	asOf := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	seq := uint64(1234)
	for _, c := range []struct {
		st   LeadState
		want string
	}{
		{LeadState{Source: SourceStored, Score: score(80), PendingCrossing: true, AppliedSequence: &seq, AsOf: &asOf},
			`{"source":"stored","score":80,"pending_crossing":true,"applied_sequence":1234,"as_of":"2026-03-01T12:00:00Z"}`},
		{LeadState{Source: SourcePreviousScore, Score: score(0)}, `{"source":"previous_score","score":0,"pending_crossing":false}`},
		{LeadState{Source: SourceNew}, `{"source":"new","pending_crossing":false}`},
	} {
		if got := asJSON(t, c.st); got != c.want {
			t.Errorf("%s, want %s", got, c.want)
		}
	}
}

// A simulation that cannot read the lead's stored state fails, rather
// than taking the lead for a new one; one with a previous_score does not
// read it.
func TestRunWithoutTheStoredState(t *testing.T) {
	def := definition("https://hooks.example.com/x", "", "", true, "")
	req := Request{Event: newEvent("x", 85)}
	if _, err := Run(context.Background(), Config{}, def, req, time.Now()); err == nil {
		t.Error("no reader of lead states: the simulation ran")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Run(ctx, Config{Leads: newLedger(t)}, def, req, time.Now())
	var input *InputError
	if err == nil || errors.As(err, &input) {
		t.Errorf("the stored state could not be read: err = %v, want a server fault", err)
	}
	req.PreviousScore = score(40)
	res, err := Run(ctx, Config{}, def, req, time.Now())
	if err != nil || res.LeadState.Source != SourcePreviousScore {
		t.Errorf("with a previous_score: %+v, %v", res.LeadState, err)
	}
}

func TestPendingOf(t *testing.T) {
	tr := evaluator.Trigger{Name: "t", UID: "u", Threshold: 75, Epoch: 2, EventType: "demo_request", Active: true}
	p := evaluator.Pending{Trigger: "t", UID: "u", Threshold: 75, Epoch: 2}
	for name, c := range map[string]struct {
		st   evaluator.LeadState
		want bool
	}{
		"its own":               {seen(80, p), true},
		"none":                  {seen(80), false},
		"another epoch":         {seen(80, evaluator.Pending{Trigger: "t", UID: "u", Threshold: 75, Epoch: 1}), false},
		"another UID":           {seen(80, evaluator.Pending{Trigger: "t", UID: "v", Threshold: 75, Epoch: 2}), false},
		"another threshold":     {seen(80, evaluator.Pending{Trigger: "t", UID: "u", Threshold: 70, Epoch: 2}), false},
		"among others":          {seen(80, evaluator.Pending{Trigger: "x", UID: "x", Threshold: 10, Epoch: 1}, p), true},
		"another trigger alone": {seen(80, evaluator.Pending{Trigger: "x", UID: "u", Threshold: 75, Epoch: 2}), false},
	} {
		if got := pendingOf(c.st, tr); got != c.want {
			t.Errorf("%s: %v, want %v", name, got, c.want)
		}
	}
}

func equal(a, b *int64) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }

func deref(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}

func asJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A simulation applies the trigger's rearmBelow and cooldown to the lead's
// stored state, with the event's created_at as the clock: a lead that has
// not dropped below the rearm level does not cross again, one within the
// cooldown of its last firing neither fires nor becomes pending, and the
// same leads fire once re-armed or after the cooldown.
func TestRunAppliesRearmAndCooldownToTheStoredState(t *testing.T) {
	leads := newLedger(t)
	const epoch = 2
	at := newEvent("demo_request", 85).CreatedAt
	disarmed := evaluator.Disarmed{Trigger: "trigger-456", UID: "uid-456", Threshold: 75, Epoch: epoch}
	cooldown := func(ago time.Duration) *evaluator.Holds {
		return &evaluator.Holds{Cooldowns: []evaluator.Cooldown{{Trigger: "trigger-456", UID: "uid-456", Epoch: epoch, FiredAt: at.Add(-ago)}}}
	}
	for lead, st := range map[string]evaluator.LeadState{
		"not-rearmed":   {Seen: true, Score: 70, Holds: &evaluator.Holds{Disarmed: []evaluator.Disarmed{disarmed}}},
		"rearmed":       seen(50),
		"cooling":       {Seen: true, Score: 50, Holds: cooldown(30 * time.Minute)},
		"cooled":        {Seen: true, Score: 50, Holds: cooldown(2 * time.Hour)},
		"between-armed": seen(70),
	} {
		leads.store(t, "acme", lead, st, 7)
	}
	for _, c := range []struct {
		lead, rule string
		fires      bool
	}{
		{"not-rearmed", "not_rearmed", false},
		{"rearmed", "crossing", true},
		{"cooling", "cooldown", false},
		{"cooled", "crossing", true},
		{"between-armed", "crossing", true},
	} {
		t.Run(c.lead, func(t *testing.T) {
			def := definition("https://hooks.example.com/x", "", "", true, "")
			def.Epoch = epoch
			rearm := int64(60)
			def.RearmBelow, def.Cooldown = &rearm, time.Hour
			ev := newEvent("demo_request", 85)
			ev.LeadID = c.lead
			// The request's time is a day later: the cooldown is measured
			// by the event's created_at, not by the clock.
			res, err := Run(context.Background(), Config{Leads: leads}, def, Request{Event: ev}, at.Add(24*time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			if res.Rule != c.rule || res.WouldFire != c.fires || res.LeadState.Source != SourceStored {
				t.Errorf("rule %s, would_fire %v, source %s; want %s, %v, stored (%s)", res.Rule, res.WouldFire, res.LeadState.Source, c.rule, c.fires, res.Reason)
			}
		})
	}
}
