package router

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/leadvibe/milestone-triggers-operator/internal/event"
	"github.com/leadvibe/milestone-triggers-operator/internal/stream"
	"github.com/leadvibe/milestone-triggers-operator/internal/stream/streamtest"
)

// TestTwoRoutersRouteEachEventOnce runs two routers at once, as a stale
// leader and a new one would, while events published without their lead
// arrive, some of them undecodable: every good event is routed to its
// lead's partition exactly once, in order per lead, created_at kept; the
// bad ones are recorded as rejected; and a router started afterwards
// routes nothing again.
func TestTwoRoutersRouteEachEventOnce(t *testing.T) {
	conn, streams := streamtest.Open(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 2)
	for i := range 2 {
		r := &Router{Streams: streams, Log: testr.New(t).WithName(fmt.Sprint("router-", i)), BatchSize: 50}
		go func() { done <- r.Start(ctx) }()
	}

	const n, bad = 1500, 15
	created := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	for i := range n {
		ev := event.Event{ID: fmt.Sprint("evt-", i), LeadID: fmt.Sprint("ld_", i%37), EventType: "page_view", Score: int64(i), CreatedAt: created}
		data := ev.Encode()
		if i%(n/bad) == 7 {
			data = []byte(`{"id":"bad","score":"high"}`)
		}
		if _, err := conn.JS.Publish(ctx, stream.EventSubject("demo"), data); err != nil {
			t.Fatal(err)
		}
	}

	routed := map[string]int{}
	lastScore := map[string]int64{}
	c, err := conn.JS.OrderedConsumer(ctx, stream.EventsStream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{"leadvibe.events.*.*.*"}})
	if err != nil {
		t.Fatal(err)
	}
	for len(routed) < n-bad {
		msg, err := c.Next(jetstream.FetchMaxWait(20 * time.Second))
		if err != nil {
			t.Fatalf("after %d routed events: %v", len(routed), err)
		}
		ev, err := event.DecodeEvent(msg.Data(), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		parts, _ := stream.ParseEventSubject(msg.Subject())
		if parts.Partition != stream.PartitionOf("demo", ev.LeadID, streams.Partitions) || !ev.CreatedAt.Equal(created) {
			t.Errorf("%s routed to %s with created_at %v", ev.ID, msg.Subject(), ev.CreatedAt)
		}
		if ev.Score <= lastScore[ev.LeadID] && lastScore[ev.LeadID] != 0 {
			t.Errorf("lead %s: score %d after %d, out of order", ev.LeadID, ev.Score, lastScore[ev.LeadID])
		}
		lastScore[ev.LeadID] = ev.Score
		routed[ev.ID]++
		if from := msg.Headers().Get(stream.HeaderRoutedFrom); from == "" {
			t.Errorf("%s has no %s header", ev.ID, stream.HeaderRoutedFrom)
		}
	}
	// Nothing more comes, and a third router, started now, adds nothing.
	r := &Router{Streams: streams, Log: testr.New(t).WithName("router-late")}
	go func() { done <- r.Start(ctx) }()
	if msg, err := c.Next(jetstream.FetchMaxWait(3 * time.Second)); err == nil {
		ev, _ := event.DecodeEvent(msg.Data(), time.Now())
		t.Errorf("an event was routed twice: %s on %s", ev.ID, msg.Subject())
	}
	for id, k := range routed {
		if k != 1 {
			t.Errorf("%s routed %d times", id, k)
		}
	}
	rejected, err := conn.JS.Stream(ctx, stream.RejectedStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := rejected.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != bad {
		t.Errorf("%d rejected records, want %d", info.State.Msgs, bad)
	}
	through, _, err := stream.RouterCheckpoint(ctx, streams.JS)
	if err != nil || through == 0 {
		t.Errorf("checkpoint %d, %v", through, err)
	}
	cancel()
	for range 3 {
		if err := <-done; err != nil {
			t.Errorf("a router stopped with %v", err)
		}
	}
}
