package pipeline

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/leadvibe/milestone-triggers-operator/internal/event"
	"github.com/leadvibe/milestone-triggers-operator/internal/metrics"
	"github.com/leadvibe/milestone-triggers-operator/internal/metrics/metricstest"
	"github.com/leadvibe/milestone-triggers-operator/internal/stream"
	"github.com/leadvibe/milestone-triggers-operator/internal/triggerset"
)

// Every problem the codec reports maps to one of a few reason codes.
func TestRejectReasons(t *testing.T) {
	const rest = `"lead_id":"ld_1","event_type":"page_view","score":1`
	for _, tc := range []struct{ name, data, want string }{
		{"not JSON", `{"id":`, event.ReasonInvalidJSON},
		{"an array", `[1]`, event.ReasonNotAnObject},
		{"a number", `12`, event.ReasonNotAnObject},
		{"an unknown field", `{"id":"e",` + rest + `,"colour":"red"}`, event.ReasonUnknownField},
		{"a duplicate field", `{"id":"e","id":"f",` + rest + `}`, event.ReasonDuplicateField},
		{"a missing field", `{` + rest + `}`, event.ReasonMissingField},
		{"a wrong type", `{"id":"e","lead_id":"ld_1","event_type":"page_view","score":"high"}`, event.ReasonInvalidValue},
		{"a fractional score", `{"id":"e","lead_id":"ld_1","event_type":"page_view","score":1.5}`, event.ReasonInvalidValue},
		{"a bad time", `{"id":"e",` + rest + `,"created_at":"yesterday"}`, event.ReasonInvalidValue},
		{"a long id", `{"id":"` + strings.Repeat("x", event.MaxIDLength+1) + `",` + rest + `}`, event.ReasonTooLarge},
		{"large metadata", `{"id":"e",` + rest + `,"metadata":{"k":"` + strings.Repeat("x", event.MaxMetadataBytes) + `"}}`, event.ReasonTooLarge},
		{"a large event", `{"id":"e",` + rest + `,"metadata":{"k":"` + strings.Repeat("x", event.MaxEventBytes) + `"}}`, event.ReasonTooLarge},
	} {
		_, err := event.DecodeEvent([]byte(tc.data), time.Now())
		if err == nil {
			t.Errorf("%s: decoded", tc.name)
			continue
		}
		if got := event.RejectReason(err); got != tc.want {
			t.Errorf("%s (%v): reason %q, want %q", tc.name, err, got, tc.want)
		}
	}
	if got := event.RejectReason(fmt.Errorf("subject %q: %w", "x", event.ErrNoOU)); got != event.ReasonNoOU {
		t.Errorf("no OU: reason %q", got)
	}
	if got := event.RejectReason(errors.New("something else")); got != event.ReasonOther {
		t.Errorf("another error: reason %q", got)
	}
}

// The evaluator counts what it consumed, rejected (by reason) and
// evaluated (their ages), and the ledger the firings it wrote.
func TestPipelineMetrics(t *testing.T) {
	s := newSystem(t)
	triggers := triggerset.NewMemory()
	triggers.Upsert(trigger("t", "", 75))

	consumed := metricstest.Value(t, metrics.EventsConsumed)
	invalidValue := metricstest.Value(t, metrics.EventsRejected.WithLabelValues(event.ReasonInvalidValue))
	invalidJSON := metricstest.Value(t, metrics.EventsRejected.WithLabelValues(event.ReasonInvalidJSON))
	firings := metricstest.Value(t, metrics.Firings)
	ages, _ := metricstest.Histogram(t, metrics.EventAge)

	s.publish(newEvent("e1", "ld_1", "page_view", 10))
	for _, bad := range []string{`{"id":"bad","lead_id":"ld_1","event_type":"x","score":"high"}`, `{"id":`} {
		if _, err := s.conn.JS.Publish(context.Background(), stream.LeadSubject(ou, "ld_1"), []byte(bad)); err != nil {
			t.Fatal(err)
		}
	}
	s.publish(newEvent("e4", "ld_1", "page_view", 80), newEvent("e5", "ld_1", "page_view", 90)) // e4 fires
	r := s.start(triggers, s.ledger)
	r.waitFor(t, 5)
	pending := metricstest.Value(t, metrics.EvaluatorPending.WithLabelValues("0"))
	r.stop(t)
	if n := testutil.CollectAndCount(metrics.EvaluatorPending); n != 0 {
		t.Errorf("%d pending-events series left after the partition stopped", n)
	}

	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"events consumed", metricstest.Value(t, metrics.EventsConsumed) - consumed, 5},
		{"rejected invalid_value", metricstest.Value(t, metrics.EventsRejected.WithLabelValues(event.ReasonInvalidValue)) - invalidValue, 1},
		{"rejected invalid_json", metricstest.Value(t, metrics.EventsRejected.WithLabelValues(event.ReasonInvalidJSON)) - invalidJSON, 1},
		{"firings", metricstest.Value(t, metrics.Firings) - firings, 1},
		{"pending events", pending, 0},
	} {
		if c.got != c.want {
			t.Errorf("%s moved by %v, want %v", c.name, c.got, c.want)
		}
	}
	if n, _ := metricstest.Histogram(t, metrics.EventAge); n-ages != 3 {
		t.Errorf("%d event ages observed, want 3 (the evaluated events)", n-ages)
	}
	// Every reason's series exists from the start, at zero or more.
	for _, reason := range event.RejectReasons {
		if metricstest.Value(t, metrics.EventsRejected.WithLabelValues(reason)) < 0 {
			t.Errorf("reason %s", reason)
		}
	}
}

// The pending-events gauge is the evaluator's distance from the stream's
// head: for a backlog published before it starts, the events after each
// committed batch, down to zero.
func TestEvaluatorPendingFollowsTheBacklog(t *testing.T) {
	s := newSystem(t)
	triggers := triggerset.NewMemory()
	triggers.Upsert(trigger("t", "", 50))
	const total = 300
	events := make([]event.Event, total)
	for i := range events {
		events[i] = newEvent(fmt.Sprintf("e%d", i), fmt.Sprintf("ld_%d", i%7), "page_view", int64(i%100))
	}
	s.publish(events...)

	type point struct{ seq, pending uint64 }
	var (
		mu     sync.Mutex
		points []point
	)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	p := &Pipeline{Streams: s.streams, Ledger: s.ledger, Triggers: triggers, Log: testr.New(t), BatchSize: 64,
		OnCommit: func(b Batch) {
			mu.Lock()
			points = append(points, point{b.LastSeq, uint64(metricstest.Value(t, metrics.EvaluatorPending.WithLabelValues("0")))})
			mu.Unlock()
		}}
	go func() { done <- p.Start(ctx) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		finished := len(points) > 0 && points[len(points)-1].seq == total
		mu.Unlock()
		if finished {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the pipeline did not reach the end of the stream")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	mu.Lock()
	defer mu.Unlock()
	if len(points) < 2 {
		t.Fatalf("%d batches for %d events with batches of 64", len(points), total)
	}
	for _, pt := range points {
		if pt.pending != total-pt.seq {
			t.Errorf("after sequence %d the gauge says %d pending, want %d", pt.seq, pt.pending, total-pt.seq)
		}
	}
	if !slices.IsSortedFunc(points, func(a, b point) int { return int(b.pending) - int(a.pending) }) {
		t.Errorf("pending did not fall as the evaluator caught up: %v", points)
	}
}
