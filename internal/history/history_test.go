package history

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/leadvibe/milestone-triggers-operator/internal/event"
	"github.com/leadvibe/milestone-triggers-operator/internal/ledger"
	"github.com/leadvibe/milestone-triggers-operator/internal/notify"
	"github.com/leadvibe/milestone-triggers-operator/internal/stream"
	"github.com/leadvibe/milestone-triggers-operator/internal/stream/streamtest"
)

func open(t *testing.T) *Store {
	t.Helper()
	_, streams := streamtest.Open(t, streamtest.WithLayout(stream.Layout{History: time.Hour}))
	return New(streams)
}

func TestRecordsAndQueries(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	rec := s.Recorder(5 * time.Second)
	base := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	for i := range 6 {
		trigger := []string{"hot", "cold"}[i%2]
		lead := fmt.Sprintf("ld_%d", i%3)
		f := ledger.Firing{ID: fmt.Sprintf("f%d", i), OU: "demo", Trigger: trigger, FiredAt: base.Add(time.Duration(i) * time.Minute),
			Event: event.Event{ID: fmt.Sprintf("e%d", i), LeadID: lead, EventType: "demo_request"}, Score: int64(70 + i)}
		if err := rec.Firing(f)(); err != nil {
			t.Fatal(err)
		}
		if err := rec.Firing(f)(); err != nil { // a redelivery: kept once
			t.Fatal(err)
		}
		for n := 1; n <= 2; n++ {
			a := notify.Attempt{FiringID: f.ID, OU: "demo", Trigger: trigger, LeadID: lead, Channel: notify.ChannelWebhook,
				Destination: "https://hooks.example.com/<redacted>", Attempt: n, At: f.FiredAt.Add(time.Duration(n) * time.Second),
				StatusCode: []int{503, 200}[n-1], Outcome: []string{notify.OutcomePending, notify.OutcomeDelivered}[n-1]}
			if n == 1 {
				a.Error = "status 503"
			}
			if err := rec.Attempt(a)(); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Another OU is never seen.
	if err := rec.Firing(ledger.Firing{ID: "other", OU: "elsewhere", Trigger: "hot", FiredAt: base})(); err != nil {
		t.Fatal(err)
	}

	count := func(q Query) (int, Page) {
		t.Helper()
		p, err := s.Find(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		return len(p.Records), p
	}
	if n, _ := count(Query{OU: "demo"}); n != 18 {
		t.Errorf("OU demo: %d records, want 18 (6 firings, 12 attempts)", n)
	}
	if n, p := count(Query{OU: "demo", Trigger: "hot"}); n != 9 || p.Records[0].Kind != KindFiring || p.Records[1].StatusCode != 503 {
		t.Errorf("trigger hot: %d records, first %+v", n, p.Records[:min(2, n)])
	}
	if n, _ := count(Query{OU: "demo", LeadID: "ld_0"}); n != 6 {
		t.Errorf("lead ld_0: %d records, want 6", n)
	}
	if n, _ := count(Query{OU: "demo", Since: base.Add(150 * time.Second), Until: base.Add(270 * time.Second)}); n != 6 {
		t.Errorf("time range: %d records, want 6 (firings 3 and 4 with their attempts)", n)
	}

	// Pages of 5 cover everything once, in order.
	var all []Record
	q := Query{OU: "demo", Limit: 5}
	for pages := 0; ; pages++ {
		_, p := count(q)
		all = append(all, p.Records...)
		if p.Next == "" {
			break
		}
		if pages > 10 {
			t.Fatal("pagination does not end")
		}
		q.Cursor = p.Next
	}
	if len(all) != 18 {
		t.Fatalf("pages gave %d records, want 18", len(all))
	}
	if _, err := s.Find(ctx, Query{OU: "demo", Cursor: "not-a-cursor"}); err != ErrBadCursor {
		t.Errorf("bad cursor: %v", err)
	}
}
