package evaluator

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// benchStream is a precomputed stream of events over many leads, with the
// leads' states indexed by lead number.
type benchStream struct {
	events []Event
	leads  []int32 // leads[i] is the lead number of events[i]
	states []LeadState
}

const (
	benchLeads    = 4096
	benchEvents   = 1 << 18
	benchMaxScore = 1000
)

var benchEventTypes = []string{"click", "open", "view", "submit"}

// benchTriggers returns n triggers with thresholds across 0..1000, half of
// them untyped, the rest typed with one of four event types.
func benchTriggers(r *rand.Rand, n int) []Trigger {
	triggers := make([]Trigger, n)
	for i := range triggers {
		eventType := ""
		if r.IntN(2) == 0 {
			eventType = benchEventTypes[r.IntN(len(benchEventTypes))]
		}
		name := fmt.Sprintf("trigger-%06d", i)
		triggers[i] = Trigger{
			Name:      name,
			UID:       name + "-uid",
			EventType: eventType,
			Threshold: int64(r.IntN(benchMaxScore + 1)),
			Active:    r.IntN(20) != 0,
		}
	}
	return triggers
}

// newBenchStream walks each lead's score by small steps (-5..+5, reflected
// at the ends of a range slightly wider than the thresholds'). The second
// half of the stream replays the first backwards, so every lead ends where
// it started and passes over the stream join without a jump; leads start
// seen at their score before the stream.
func newBenchStream(r *rand.Rand) *benchStream {
	s := &benchStream{
		events: make([]Event, benchEvents),
		leads:  make([]int32, benchEvents),
		states: make([]LeadState, benchLeads),
	}
	ids := make([]string, benchLeads)
	scores := make([]int64, benchLeads)
	for i := range ids {
		ids[i] = fmt.Sprintf("lead-%05d", i)
		scores[i] = int64(r.IntN(benchMaxScore + 1))
	}
	start := slices.Clone(scores)
	const half = benchEvents / 2
	for i := range half {
		lead := r.IntN(benchLeads)
		scores[lead] = fold(scores[lead]+int64(r.IntN(11)-5), -20, benchMaxScore+20)
		s.leads[i] = int32(lead)
		s.events[i] = Event{LeadID: ids[lead], Score: scores[lead]}
	}
	for i := range half {
		s.leads[benchEvents-1-i] = s.leads[i]
		s.events[benchEvents-1-i] = s.events[i]
	}
	for i := range s.events {
		s.events[i].ID = fmt.Sprintf("event-%07d", i)
		s.events[i].Type = benchEventTypes[r.IntN(len(benchEventTypes))]
	}
	for i := range s.states {
		s.states[i] = LeadState{Seen: true, Score: start[i]}
	}
	return s
}

// fold folds v back into [lo, hi].
func fold(v, lo, hi int64) int64 {
	switch {
	case v < lo:
		return 2*lo - v
	case v > hi:
		return 2*hi - v
	}
	return v
}

// evaluate evaluates the i-th event of the endless stream, updating its
// lead's state, and returns the firings in buf.
func (s *benchStream) evaluate(ix *Index, i int, buf []Firing) []Firing {
	j := i & (benchEvents - 1)
	lead := s.leads[j]
	s.states[lead], buf = ix.Evaluate(s.states[lead], s.events[j], buf[:0])
	return buf
}

// benchStart is the time of the first event of BenchmarkEvaluatePolicies.
var benchStart = time.Date(2025, 1, 15, 10, 0, 0, 0, time.UTC)

// evaluateTimed is evaluate with the i-th event at benchStart + i
// seconds: with 4096 leads, a lead's events are about an hour apart.
func (s *benchStream) evaluateTimed(ix *Index, i int, buf []Firing) []Firing {
	j := i & (benchEvents - 1)
	lead := s.leads[j]
	ev := s.events[j]
	ev.At = benchStart.Add(time.Duration(i) * time.Second)
	s.states[lead], buf = ix.Evaluate(s.states[lead], ev, buf[:0])
	return buf
}

// withPolicies gives a third of triggers a rearm level 1 to 50 below their
// threshold, and another third a cooldown of 1 to 180 minutes.
func withPolicies(r *rand.Rand, triggers []Trigger) []Trigger {
	for i := range triggers {
		switch i % 3 {
		case 0:
			rearm := triggers[i].Threshold - 1 - int64(r.IntN(50))
			triggers[i].RearmBelow = &rearm
		case 1:
			triggers[i].Cooldown = time.Duration(1+r.IntN(180)) * time.Minute
		}
	}
	return triggers
}

func BenchmarkEvaluate(b *testing.B) {
	benchmarkEvaluate(b, false)
}

// BenchmarkEvaluatePolicies is BenchmarkEvaluate with rearm levels and
// cooldowns on two thirds of the triggers, and event times.
func BenchmarkEvaluatePolicies(b *testing.B) {
	benchmarkEvaluate(b, true)
}

func benchmarkEvaluate(b *testing.B, policies bool) {
	sizes := []int{10, 1000, 100000}
	if policies {
		// With policies, a lead holds entries for about a hundredth of the
		// triggers (a third have rearm bands averaging 25 points of the
		// 1000): 100000 triggers would take minutes to warm up.
		sizes = []int{10, 1000, 10000}
	}
	for _, n := range sizes {
		b.Run(fmt.Sprintf("triggers=%d", n), func(b *testing.B) {
			r := rand.New(rand.NewPCG(uint64(n), 42))
			triggers := benchTriggers(r, n)
			evaluate := (*benchStream).evaluate
			if policies {
				triggers = withPolicies(r, triggers)
				evaluate = (*benchStream).evaluateTimed
			}
			ix := NewIndex(triggers)
			s := newBenchStream(r)
			var buf []Firing
			// Two passes grow the buffers and pending lists to their
			// steady size, outside the timer.
			for i := range 2 * benchEvents {
				buf = evaluate(s, ix, i, buf)
			}
			b.ReportAllocs()
			i, fired := 0, 0
			for b.Loop() {
				buf = evaluate(s, ix, i, buf)
				fired += len(buf)
				i++
			}
			b.ReportMetric(float64(i)/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64(fired)/float64(i), "firings/event")
		})
	}
}
