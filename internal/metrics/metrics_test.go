package metrics

import (
	"strings"
	"testing"
	"time"

	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/leadvibe/milestone-triggers-operator/internal/metrics/metricstest"
)

// names are every metric this package defines, as served.
var names = []string{
	"milestone_triggers_events_consumed_total",
	"milestone_triggers_events_rejected_total",
	"milestone_triggers_evaluator_pending_events",
	"milestone_triggers_evaluator_event_age_seconds",
	"milestone_triggers_firings_total",
	"milestone_triggers_firing_duplicates_total",
	"milestone_triggers_deliveries_total",
	"milestone_triggers_dead_letters_total",
	"milestone_triggers_delivery_attempt_duration_seconds",
	"milestone_triggers_firing_to_delivery_seconds",
	"milestone_triggers_deliveries_in_flight",
	"milestone_triggers_rest_requests_total",
	"milestone_triggers_rest_request_duration_seconds",
	"milestone_triggers_partitions_owned",
	"milestone_triggers_lead_cache_entries",
	"milestone_triggers_lead_cache_misses_total",
}

// Every metric is served by controller-runtime's registry (what the
// manager's metrics endpoint serves), has help text and passes promlint.
func TestMetricsAreRegisteredAndLintFree(t *testing.T) {
	// Vectors show only once they have a series.
	InitRejectReasons("other")
	InitChannel("webhook")
	ObserveAttemptDuration("webhook", time.Millisecond)
	ObserveFiringToDelivery("webhook", time.Second)
	RESTRequest("GET /triggers", 200, time.Millisecond)
	ObserveEventAge(time.Millisecond)
	SetEvaluatorPending(0, 0)

	families, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	served := map[string]string{}
	for _, f := range families {
		served[f.GetName()] = f.GetHelp()
	}
	for _, n := range names {
		help, ok := served[n]
		if !ok {
			t.Errorf("%s is not served by the controller-runtime registry", n)
			continue
		}
		if strings.TrimSpace(help) == "" {
			t.Errorf("%s has no help text", n)
		}
	}
	for _, p := range metricstest.Lint(t, ctrlmetrics.Registry, names...) {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

func TestHelpers(t *testing.T) {
	dead := metricstest.Value(t, DeadLetters.WithLabelValues("slack"))
	deadAttempts := metricstest.Value(t, Deliveries.WithLabelValues("slack", OutcomeDeadLettered))
	retries := metricstest.Value(t, Deliveries.WithLabelValues("slack", OutcomeRetry))
	DeliveryAttempt("slack", OutcomeRetry)
	DeliveryAttempt("slack", OutcomeDeadLettered)
	if got := metricstest.Value(t, DeadLetters.WithLabelValues("slack")) - dead; got != 1 {
		t.Errorf("dead letters moved by %v, want 1", got)
	}
	if got := metricstest.Value(t, Deliveries.WithLabelValues("slack", OutcomeDeadLettered)) - deadAttempts; got != 1 {
		t.Errorf("dead-lettered attempts moved by %v, want 1", got)
	}
	if got := metricstest.Value(t, Deliveries.WithLabelValues("slack", OutcomeRetry)) - retries; got != 1 {
		t.Errorf("retries moved by %v, want 1", got)
	}

	done := DeliveryStarted("teams")
	if got := metricstest.Value(t, DeliveriesInFlight.WithLabelValues("teams")); got != 1 {
		t.Errorf("in flight = %v during an attempt, want 1", got)
	}
	done()
	if got := metricstest.Value(t, DeliveriesInFlight.WithLabelValues("teams")); got != 0 {
		t.Errorf("in flight = %v after it, want 0", got)
	}

	before, sumBefore := metricstest.Histogram(t, EventAge)
	ObserveEventAge(-time.Second) // a clock step back counts as no age, not a negative one
	ObserveEventAge(1500 * time.Millisecond)
	after, sum := metricstest.Histogram(t, EventAge)
	if after-before != 2 || sum-sumBefore != 1.5 {
		t.Errorf("event ages: %d samples summing %v, want 2 summing 1.5", after-before, sum-sumBefore)
	}

	reqs := metricstest.Value(t, RESTRequests.WithLabelValues("GET /x/{id}", "404"))
	RESTRequest("GET /x/{id}", 404, time.Millisecond)
	if got := metricstest.Value(t, RESTRequests.WithLabelValues("GET /x/{id}", "404")) - reqs; got != 1 {
		t.Errorf("requests moved by %v, want 1", got)
	}
}
