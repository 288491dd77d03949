package backtest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/leadvibe/milestone-triggers-operator/internal/event"
	"github.com/leadvibe/milestone-triggers-operator/internal/stream"
	"github.com/leadvibe/milestone-triggers-operator/internal/stream/streamtest"
)

var start = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

// events is n events of an OU a minute apart, over
// 60 leads whose scores wander around 50, of two types.
func events(r *rand.Rand, ou string, n int) []event.Event {
	scores := map[string]int64{}
	out := make([]event.Event, n)
	for i := range out {
		lead := fmt.Sprintf("%s-lead-%02d", ou, r.IntN(60))
		s := scores[lead] + int64(r.IntN(21)-10)
		if r.IntN(10) == 0 {
			s = int64(r.IntN(100))
		}
		scores[lead] = s
		typ := "page_view"
		if r.IntN(3) == 0 {
			typ = "demo_request"
		}
		out[i] = event.Event{ID: fmt.Sprintf("%s-e%d", ou, i), LeadID: lead, EventType: typ, Score: s,
			CreatedAt: start.Add(time.Duration(i) * time.Minute)}
	}
	return out
}

// count is an independent count of a trigger's firings over evs, written
// from SPEC's rules and the words rather than from the evaluator:
// a lead fires when it reaches the threshold while armed (never at or
// above it, or dropped below the rearm level since), on a matching event,
// or later on one while it stays at or above the rearm level; not within
// the cooldown of its last firing, when a crossing is lost.
func count(d Definition, evs []event.Event, since, until time.Time) (fired []Firing) {
	type lead struct {
		seen, armed, pending bool
		lastFired            time.Time
		hasFired             bool
	}
	rearm := d.Threshold
	if d.RearmBelow != nil && *d.RearmBelow < d.Threshold {
		rearm = *d.RearmBelow
	}
	leads := map[string]*lead{}
	for _, ev := range evs {
		l := leads[ev.LeadID]
		if l == nil {
			l = &lead{armed: true}
			leads[ev.LeadID] = l
		}
		s, matches := ev.Score, d.EventType == "" || d.EventType == ev.EventType
		fire := false
		if s < rearm {
			l.armed, l.pending = true, false
		}
		if l.pending && s >= d.Threshold && matches {
			fire, l.pending = true, false
		}
		if l.armed && s >= d.Threshold {
			cooling := d.Cooldown > 0 && l.hasFired && ev.CreatedAt.Sub(l.lastFired) < d.Cooldown
			switch {
			case cooling:
			case matches:
				fire = true
			default:
				l.pending = true
			}
		}
		if s >= d.Threshold {
			l.armed = false
		}
		l.seen = true
		if fire {
			l.hasFired, l.lastFired = true, ev.CreatedAt
			if !ev.CreatedAt.Before(since) && !ev.CreatedAt.After(until) {
				fired = append(fired, Firing{LeadID: ev.LeadID, EventID: ev.ID, Score: s, At: ev.CreatedAt})
			}
		}
	}
	return fired
}

func distinctLeads(fs []Firing) int {
	m := map[string]bool{}
	for _, f := range fs {
		m[f.LeadID] = true
	}
	return len(m)
}

// A backtest over a real stream counts what the independent count counts,
// for the OU's events only, with and without rearm levels and cooldowns,
// and lists the earliest firings; the events the evaluator would reject
// are counted apart and change nothing.
func TestBacktestMatchesAnIndependentCount(t *testing.T) {
	srv := streamtest.Start(t)
	ctx := context.Background()
	r := rand.New(rand.NewPCG(14, 14))
	mine, theirs := events(r, "acme", 3000), events(r, "globex", 2000)
	for _, part := range []struct {
		ou  string
		evs []event.Event
	}{{"acme", mine[:1500]}, {"globex", theirs}, {"acme", mine[1500:]}} {
		if _, err := stream.Publish(ctx, srv.Streams.Events, part.ou, part.evs...); err != nil {
			t.Fatal(err)
		}
	}
	// Two the evaluator rejects: not an event, and another lead's.
	other := mine[0]
	other.ID, other.LeadID = "mismatch", "acme-lead-99"
	if _, err := srv.Streams.Events.Write(ctx,
		stream.Msg{Subject: stream.LeadSubject("acme", "acme-lead-01"), Data: []byte(`{"not":"an event"}`), ID: "poison"},
		stream.Msg{Subject: stream.LeadSubject("acme", "acme-lead-01"), Data: other.Encode(), ID: "mismatch"},
	); err != nil {
		t.Fatal(err)
	}
	const rejected = 2

	rearm := int64(35)
	since, until := start.Add(10*time.Hour), start.Add(30*time.Hour)
	for _, d := range []Definition{
		{Name: "t", UID: "u", Threshold: 50, EventType: "demo_request"},
		{Name: "t", UID: "u", Threshold: 50},
		{Name: "t", UID: "u", Threshold: 50, RearmBelow: &rearm},
		{Name: "t", UID: "u", Threshold: 50, EventType: "demo_request", RearmBelow: &rearm, Cooldown: 3 * time.Hour},
		{Name: "t", UID: "u", Threshold: 70, Cooldown: 90 * time.Minute},
	} {
		t.Run(fmt.Sprintf("threshold %d type %q rearm %v cooldown %v", d.Threshold, d.EventType, d.RearmBelow != nil, d.Cooldown), func(t *testing.T) {
			want := count(d, mine, since, until)
			if len(want) < 10 {
				t.Fatalf("the independent count found %d firings: too few to test with", len(want))
			}
			res, err := Run(ctx, Stream{JS: srv.Streams.JS}, Request{OU: "acme", Definition: d, Since: since, Until: until}, DefaultLimits)
			if err != nil {
				t.Fatal(err)
			}
			if res.EventsScanned != len(mine)+rejected || res.EventsRejected != rejected || !res.Complete {
				t.Errorf("scanned %d, rejected %d, complete %v; want %d, %d, true", res.EventsScanned, res.EventsRejected, res.Complete, len(mine)+rejected, rejected)
			}
			if res.Firings != len(want) || res.Leads != distinctLeads(want) {
				t.Errorf("firings %d for %d leads; the independent count has %d for %d", res.Firings, res.Leads, len(want), distinctLeads(want))
			}
			first := slices.Clone(want)
			slices.SortStableFunc(first, func(a, b Firing) int { return a.At.Compare(b.At) })
			first = first[:min(len(first), MaxFirstFirings)]
			if !slices.Equal(res.FirstFirings, first) {
				t.Errorf("first firings %+v\nwant %+v", res.FirstFirings, first)
			}
		})
	}
}

// The event limit and the time limit stop a backtest with a result that
// says so; the counts then cover the events read.
func TestBacktestLimits(t *testing.T) {
	srv := streamtest.Start(t)
	ctx := context.Background()
	evs := events(rand.New(rand.NewPCG(1, 2)), "acme", 1500)
	if _, err := stream.Publish(ctx, srv.Streams.Events, "acme", evs...); err != nil {
		t.Fatal(err)
	}
	d := Definition{Name: "t", UID: "u", Threshold: 50}
	src := Stream{JS: srv.Streams.JS}
	req := Request{OU: "acme", Definition: d, Since: start, Until: start.Add(100 * time.Hour), MaxEvents: 700}
	res, err := Run(ctx, src, req, DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	if res.Complete || res.StoppedBy != StoppedByMaxEvents || res.EventsScanned != 700 || res.Firings != len(count(d, evs[:700], req.Since, req.Until)) {
		t.Errorf("with max_events 700: %+v", res)
	}
	if res.ScannedThrough == nil {
		t.Error("no scanned_through")
	}
	res, err = Run(ctx, src, Request{OU: "acme", Definition: d, Since: req.Since, Until: req.Until}, Limits{MaxEvents: 1000, TimeLimit: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Complete || res.StoppedBy != StoppedByTimeLimit {
		t.Errorf("with a time limit of 1ns: %+v", res)
	}
	// A request cannot raise the operator's limit.
	res, err = Run(ctx, src, Request{OU: "acme", Definition: d, Since: req.Since, Until: req.Until, MaxEvents: 5000}, Limits{MaxEvents: 1000})
	if err != nil || res.EventsScanned != 1000 || res.StoppedBy != StoppedByMaxEvents {
		t.Errorf("max_events above the operator's: %+v, %v", res, err)
	}
	// A small OU's events are read with the server's filter (a twentieth
	// of the stream here), a large one's from the whole stream: both
	// count alike.
	small := events(rand.New(rand.NewPCG(5, 6)), "initech", 75)
	if _, err := stream.Publish(ctx, srv.Streams.Events, "initech", small...); err != nil {
		t.Fatal(err)
	}
	res, err = Run(ctx, src, Request{OU: "initech", Definition: d, Since: req.Since, Until: req.Until}, DefaultLimits)
	if err != nil || res.EventsScanned != len(small) || res.EventsRejected != 0 || res.Firings != len(count(d, small, req.Since, req.Until)) {
		t.Errorf("a small OU: %+v, %v; want %d events and %d firings", res, err, len(small), len(count(d, small, req.Since, req.Until)))
	}
	// An OU without events answers at once with nothing.
	res, err = Run(ctx, src, Request{OU: "umbrella", Definition: d, Since: req.Since, Until: req.Until}, DefaultLimits)
	if err != nil || res.EventsScanned != 0 || !res.Complete || res.FirstFirings == nil {
		t.Errorf("an OU without events: %+v, %v", res, err)
	}
}
