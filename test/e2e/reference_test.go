package e2e

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// refTrigger is a trigger as the reference model sees it.
type refTrigger struct {
	ID        string
	Threshold int64
	EventType string // empty: any type
}

// expectedCrossings is a reference model of SPEC section 4, rules 1 to 4,
// written apart from the operator's evaluator: the crossings that fire,
// in order, for events evaluated in order (only each lead's own order
// matters) against triggers that stay active throughout.
//
//  1. p < t <= n is a crossing (an unseen lead is below every
//     threshold); it fires when the trigger has no event type or the
//     event is of its type, and is pending otherwise.
//  2. While the lead stays at or above t, the first later event of the
//     trigger's type fires a pending crossing and clears it.
//  3. A drop below t clears a pending crossing.
//  4. Nothing else fires.
func expectedCrossings(triggers []refTrigger, events []event) []crossing {
	type lead struct {
		score   int64
		pending map[string]bool
	}
	leads := map[string]*lead{}
	var out []crossing
	for _, ev := range events {
		l, seen := leads[ev.LeadID]
		if !seen {
			l = &lead{pending: map[string]bool{}}
			leads[ev.LeadID] = l
		}
		for _, t := range triggers {
			wasAbove := seen && l.score >= t.Threshold
			isAbove := ev.Score >= t.Threshold
			typeMatches := t.EventType == "" || t.EventType == ev.EventType
			fire := false
			switch {
			case !isAbove:
				delete(l.pending, t.ID)
			case !wasAbove && typeMatches:
				fire = true
			case !wasAbove:
				l.pending[t.ID] = true
			case l.pending[t.ID] && typeMatches:
				fire = true
				delete(l.pending, t.ID)
			}
			if fire {
				out = append(out, crossing{Trigger: t.ID, Lead: ev.LeadID, Event: ev.ID})
			}
		}
		l.score = ev.Score
	}
	return out
}

// generateEvents makes perLead events for each of leads leads, interleaved
// at random across leads, each lead's score a random walk that crosses the
// thresholds around 50 to 100 up and down, with random event types.
func generateEvents(rng *rand.Rand, prefix string, leads, perLead int) []event {
	types := []string{"page_view", "page_view", "page_view", "form_submit", "form_submit", "demo_request"}
	scores := make([]int64, leads)
	left := make([]int, leads)
	order := make([]int, 0, leads*perLead)
	for i := range leads {
		scores[i] = rng.Int64N(40)
		left[i] = perLead
		for range perLead {
			order = append(order, i)
		}
	}
	rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	events := make([]event, 0, len(order))
	for n, i := range order {
		scores[i] = min(150, max(0, scores[i]+rng.Int64N(71)-30))
		left[i]--
		events = append(events, event{
			ID:        fmt.Sprintf("%s-evt-%05d", prefix, n),
			LeadID:    fmt.Sprintf("%s-lead-%03d", prefix, i),
			EventType: types[rng.IntN(len(types))],
			Score:     scores[i],
			Metadata:  map[string]any{"n": n},
		})
	}
	return events
}

// TestReferenceModel checks the reference model itself on the cases SPEC
// section 4 and the seed describe.
func TestReferenceModel(t *testing.T) {
	hot := refTrigger{ID: "hot", Threshold: 75, EventType: "demo_request"}
	anyType := refTrigger{ID: "any", Threshold: 40}
	ev := func(id string, typ string, score int64) event {
		return event{ID: id, LeadID: "ld", EventType: typ, Score: score}
	}
	cases := []struct {
		name   string
		events []event
		want   []crossing
	}{{
		name:   "an unseen lead is below every threshold",
		events: []event{ev("e1", "demo_request", 90)},
		want:   []crossing{{"hot", "ld", "e1"}, {"any", "ld", "e1"}},
	}, {
		name:   "a crossing on another type is pending until an event of the type",
		events: []event{ev("e1", "page_view", 80), ev("e2", "form_submit", 85), ev("e3", "demo_request", 82), ev("e4", "demo_request", 90)},
		want:   []crossing{{"any", "ld", "e1"}, {"hot", "ld", "e3"}},
	}, {
		name:   "a drop below clears the pending crossing",
		events: []event{ev("e1", "page_view", 80), ev("e2", "page_view", 70), ev("e3", "demo_request", 74)},
		want:   []crossing{{"any", "ld", "e1"}},
	}, {
		name:   "a drop below re-arms",
		events: []event{ev("e1", "demo_request", 80), ev("e2", "demo_request", 90), ev("e3", "page_view", 10), ev("e4", "demo_request", 75)},
		want:   []crossing{{"hot", "ld", "e1"}, {"any", "ld", "e1"}, {"hot", "ld", "e4"}, {"any", "ld", "e4"}},
	}, {
		name:   "reaching the threshold exactly is a crossing",
		events: []event{ev("e1", "page_view", 39), ev("e2", "page_view", 40), ev("e3", "page_view", 40)},
		want:   []crossing{{"any", "ld", "e2"}},
	}}
	for _, c := range cases {
		if got := expectedCrossings([]refTrigger{hot, anyType}, c.events); !slices.Equal(got, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
}
