package main

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/leadvibe/milestone-triggers-operator/internal/stream"
	"github.com/leadvibe/milestone-triggers-operator/internal/stream/streamtest"
)

// TestPublishBatches publishes events of standard input as atomic batches
// to an embedded server with the operator's layout, then the same lines
// again with new ones among them: the second run reports the repeats as
// duplicates and stores only the new events.
func TestPublishBatches(t *testing.T) {
	ctx := context.Background()
	conn, _ := streamtest.Open(t)
	lines := func(from, to int) string {
		var b strings.Builder
		for i := from; i < to; i++ {
			fmt.Fprintf(&b, `{"id":"evt-%d","lead_id":"ld_%d","event_type":"page_view","score":%d}`+"\n\n", i, i%3, i)
		}
		return b.String()
	}
	stored := func() uint64 {
		s, err := conn.JS.Stream(ctx, stream.EventsStream)
		if err != nil {
			t.Fatal(err)
		}
		return s.CachedInfo().State.Msgs
	}

	var out strings.Builder
	if err := publishBatches(conn.JS, "demo", strings.NewReader(lines(0, 7)), &out, 3); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + out.String())
	if got := stored(); got != 7 {
		t.Fatalf("the stream holds %d events, want 7", got)
	}
	for _, want := range []string{
		"batch 1: lines 1-5, 3 events (evt-0 .. evt-2) to leadvibe.events.demo.* in one atomic batch",
		"batch 3: lines 13-13, 1 event (evt-6 .. evt-6) to leadvibe.events.demo.* on its own",
		"total: 3 batches, 7 events published, 0 duplicates",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the output lacks %q", want)
		}
	}

	out.Reset()
	if err := publishBatches(conn.JS, "demo", strings.NewReader(lines(5, 10)), &out, 5); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + out.String())
	if got := stored(); got != 10 {
		t.Fatalf("the stream holds %d events, want 10", got)
	}
	for _, want := range []string{
		"one at a time, the stream having refused the atomic batch over its duplicates",
		"3 published, 2 duplicates",
		"total: 1 batch, 3 events published, 2 duplicates",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the output lacks %q", want)
		}
	}
}
