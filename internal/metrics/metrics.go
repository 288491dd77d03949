// Package metrics defines the operator's Prometheus metrics and registers
// them on controller-runtime's registry, so that the manager's metrics
// endpoint (--metrics-bind-address) serves them beside its own.
//
// Every name starts with milestone_triggers_. Labels are bounded: no OU,
// lead, trigger, event or firing id (an operator serves hundreds of OUs and
// any number of leads); a channel is one of the few notification channels,
// a rejection reason one of the RejectReason codes of the stream package,
// a REST route one of the shim's registered mux patterns. The call sites
// use the small helpers below, one line each. docs/metrics.md describes
// every metric and the alerts built on them.
package metrics

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

const namespace = "milestone_triggers"

// Delivery outcomes, the outcome label of DeliveriesTotal.
const (
	// OutcomeDelivered is an attempt that succeeded.
	OutcomeDelivered = "delivered"
	// OutcomeRetry is a failed attempt that will be retried.
	OutcomeRetry = "retry"
	// OutcomeDeadLettered is a failed attempt after which the channel gave
	// the firing up: a permanent failure or the retry schedule exhausted.
	OutcomeDeadLettered = "dead-lettered"
)

// UnmatchedRoute is the route label of a REST request the shim's mux
// matched to no registered pattern.
const UnmatchedRoute = "unmatched"

var (
	// EventsConsumed counts the messages the evaluator read from the events
	// stream, whatever became of them. No OU label: OUs are unbounded.
	EventsConsumed = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace,
		Name:      "events_consumed_total",
		Help:      "Messages the evaluator read from the events stream (evaluated, rejected or already applied).",
	})
	// EventsRejected counts the events the evaluator recorded as
	// undecodable and skipped, by reason code.
	EventsRejected = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace,
		Name:      "events_rejected_total",
		Help:      "Events from the stream that could not be decoded, recorded in LEADVIBE_REJECTED and skipped, by reason code.",
	}, []string{"reason"})
	// EvaluatorPending is how far behind the stream's head each partition
	// this replica owns is. A partition has a bounded number (--partitions).
	EvaluatorPending = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace,
		Name:      "evaluator_pending_events",
		Help:      "Events stored in a partition of the events stream after the last one its evaluator on this replica committed (its lag, in messages), by partition.",
	}, []string{"partition"})
	// PartitionsOwned is how many partitions this replica evaluates.
	PartitionsOwned = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace,
		Name:      "partitions_owned",
		Help:      "Partitions of the events stream this replica owns and evaluates.",
	})
	// LeadCacheEntries is how many lead states this replica holds in
	// memory, and LeadCacheMisses how often one had to be read from the
	// bucket.
	LeadCacheEntries = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace,
		Name:      "lead_cache_entries",
		Help:      "Lead states held in this replica's lead cache (bounded by --lead-cache-size).",
	})
	LeadCacheMisses = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace,
		Name:      "lead_cache_misses_total",
		Help:      "Lead states read from the LEADVIBE_LEADS bucket because the lead cache did not hold them.",
	})
	// Backtests counts the backtests this replica ran, by whether they
	// read every stored event (result "complete") or a limit stopped them
	// ("max_events", "time_limit"); BacktestEvents counts the events they
	// read.
	Backtests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace,
		Name:      "backtests_total",
		Help:      "Backtests run by this replica, by result: complete, or the limit that stopped it (max_events, time_limit).",
	}, []string{"result"})
	BacktestEvents = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace,
		Name:      "backtest_events_scanned_total",
		Help:      "Stored events read by this replica's backtests.",
	})
	// EventAge observes each evaluated event's age: how long after the
	// stream stored it the evaluator evaluated it.
	EventAge = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: namespace,
		Name:      "evaluator_event_age_seconds",
		Help:      "Time from the events stream storing an event to the evaluator evaluating it, in seconds.",
		Buckets:   []float64{0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600},
	})
	// Firings counts the firings written to the outbox, each once.
	Firings = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace,
		Name:      "firings_total",
		Help:      "Firings written to the outbox (LEADVIBE_FIRINGS); a firing offered again after a restart is not counted twice.",
	})
	// FiringDuplicates counts firings offered to the outbox again and
	// refused because it already held them.
	FiringDuplicates = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace,
		Name:      "firing_duplicates_total",
		Help:      "Firings offered to the outbox again (events re-evaluated after a restart) and refused because the outbox already held them.",
	})
	// Deliveries counts delivery attempts by channel and outcome.
	Deliveries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace,
		Name:      "deliveries_total",
		Help:      "Delivery attempts by channel and outcome (delivered, retry, dead-lettered).",
	}, []string{"channel", "outcome"})
	// DeadLetters counts the channels that gave a firing up.
	DeadLetters = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace,
		Name:      "dead_letters_total",
		Help:      "Firings a channel gave up on (a permanent failure or retries exhausted), by channel.",
	}, []string{"channel"})
	// AttemptDuration observes how long each delivery attempt took.
	AttemptDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace,
		Name:      "delivery_attempt_duration_seconds",
		Help:      "Duration of one delivery attempt, successful or not, by channel, in seconds.",
		Buckets:   []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
	}, []string{"channel"})
	// FiringToDelivery observes, for each successful delivery, the time
	// from the firing (the firing event's stream time) to the delivery.
	FiringToDelivery = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace,
		Name:      "firing_to_delivery_seconds",
		Help:      "Time from a firing (its event stored in the stream) to its successful delivery, retries included, by channel, in seconds.",
		Buckets:   []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 1800, 3600, 7200, 21600, 43200, 86400, 172800},
	}, []string{"channel"})
	// DeliveriesInFlight is the number of attempts being sent.
	DeliveriesInFlight = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace,
		Name:      "deliveries_in_flight",
		Help:      "Delivery attempts being sent right now, by channel.",
	}, []string{"channel"})
	// StreamBatches counts the commits of each stream's writer (an atomic
	// batch, or a message written on its own), and StreamBatchMessages the
	// messages written.
	StreamBatches = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace,
		Name:      "stream_batches_total",
		Help:      "Commits of the operator's writer of each JetStream stream: atomic batches, and single messages written on their own (one fsync each with --stream-sync=always).",
	}, []string{"stream"})
	StreamBatchMessages = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace,
		Name:      "stream_batch_messages_total",
		Help:      "Messages written by the operator's writer of each JetStream stream, in atomic batches or one by one.",
	}, []string{"stream"})
	// StreamBatchFallbacks counts the batches the stream refused whole (a
	// duplicate message id, a subject already written) and that the
	// writer then wrote one message at a time.
	StreamBatchFallbacks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace,
		Name:      "stream_batch_fallbacks_total",
		Help:      "Atomic batches a stream refused whole (a duplicate message id or a failed expected-sequence check, after a crash or a redelivery) and the writer then wrote one message at a time.",
	}, []string{"stream"})
	// RESTRequests counts the REST shim's requests by route and status.
	RESTRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace,
		Name:      "rest_requests_total",
		Help:      "Requests to the REST API by route (the matched mux pattern) and HTTP status code.",
	}, []string{"route", "code"})
	// RESTDuration observes the REST shim's request durations by route.
	RESTDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace,
		Name:      "rest_request_duration_seconds",
		Help:      "Duration of requests to the REST API by route (the matched mux pattern), in seconds.",
		Buckets:   prometheus.DefBuckets,
	}, []string{"route"})
)

func init() {
	ctrlmetrics.Registry.MustRegister(
		EventsConsumed, EventsRejected, EvaluatorPending, PartitionsOwned, LeadCacheEntries, LeadCacheMisses, EventAge,
		Firings, FiringDuplicates,
		Deliveries, DeadLetters, AttemptDuration, FiringToDelivery, DeliveriesInFlight,
		StreamBatches, StreamBatchMessages, StreamBatchFallbacks,
		RESTRequests, RESTDuration,
		Backtests, BacktestEvents,
	)
	for _, r := range []string{BacktestComplete, "max_events", "time_limit"} {
		Backtests.WithLabelValues(r)
	}
}

// BacktestComplete is the result label of a backtest that read every
// stored event; the others are the backtest package's StoppedBy values.
const BacktestComplete = "complete"

// BacktestRan counts one backtest that scanned events and ended with
// result.
func BacktestRan(result string, scanned int) {
	Backtests.WithLabelValues(result).Inc()
	BacktestEvents.Add(float64(scanned))
}

// InitRejectReasons creates the rejection series of every reason at zero,
// so that rate() and increase() see the first rejection of each.
func InitRejectReasons(reasons ...string) {
	for _, r := range reasons {
		EventsRejected.WithLabelValues(r)
	}
}

// InitChannel creates a channel's delivery series at zero.
func InitChannel(channel string) {
	for _, o := range []string{OutcomeDelivered, OutcomeRetry, OutcomeDeadLettered} {
		Deliveries.WithLabelValues(channel, o)
	}
	DeadLetters.WithLabelValues(channel)
	DeliveriesInFlight.WithLabelValues(channel)
}

// ConsumedEvents counts n messages read from the events stream.
func ConsumedEvents(n int) { EventsConsumed.Add(float64(n)) }

// RejectedEvent counts one event rejected for reason, a bounded code.
func RejectedEvent(reason string) { EventsRejected.WithLabelValues(reason).Inc() }

// SetEvaluatorPending records how many events of a partition remain after
// the last one evaluated.
func SetEvaluatorPending(partition int, n uint64) {
	EvaluatorPending.WithLabelValues(strconv.Itoa(partition)).Set(float64(n))
}

// ForgetPartition removes the series of a partition this replica no longer
// owns.
func ForgetPartition(partition int) { EvaluatorPending.DeleteLabelValues(strconv.Itoa(partition)) }

// ObserveEventAge records the age of an event being evaluated.
func ObserveEventAge(age time.Duration) { EventAge.Observe(max(age, 0).Seconds()) }

// WrittenFirings counts firings newly written to the outbox, and firings
// it refused as already written.
func WrittenFirings(written, duplicates int) {
	Firings.Add(float64(written))
	FiringDuplicates.Add(float64(duplicates))
}

// DeliveryAttempt counts one attempt on channel with its outcome (one of
// the Outcome constants).
func DeliveryAttempt(channel, outcome string) {
	Deliveries.WithLabelValues(channel, outcome).Inc()
	if outcome == OutcomeDeadLettered {
		DeadLetters.WithLabelValues(channel).Inc()
	}
}

// ObserveAttemptDuration records how long an attempt on channel took.
func ObserveAttemptDuration(channel string, d time.Duration) {
	AttemptDuration.WithLabelValues(channel).Observe(max(d, 0).Seconds())
}

// ObserveFiringToDelivery records the time from a firing to its
// successful delivery on channel.
func ObserveFiringToDelivery(channel string, d time.Duration) {
	FiringToDelivery.WithLabelValues(channel).Observe(max(d, 0).Seconds())
}

// DeliveryStarted counts an attempt under way on channel until the
// returned function is called.
func DeliveryStarted(channel string) (done func()) {
	g := DeliveriesInFlight.WithLabelValues(channel)
	g.Inc()
	return g.Dec
}

// InitStream creates a stream writer's series at zero.
func InitStream(stream string) {
	StreamBatches.WithLabelValues(stream)
	StreamBatchMessages.WithLabelValues(stream)
	StreamBatchFallbacks.WithLabelValues(stream)
}

// WroteStream counts messages written to stream with commits commits:
// one for an atomic batch, one per message for messages written one at a
// time.
func WroteStream(stream string, messages, commits int) {
	StreamBatchMessages.WithLabelValues(stream).Add(float64(messages))
	StreamBatches.WithLabelValues(stream).Add(float64(commits))
}

// StreamFellBack counts an atomic batch the stream refused whole, which
// the writer then wrote one message at a time.
func StreamFellBack(stream string) { StreamBatchFallbacks.WithLabelValues(stream).Inc() }

// RESTRequest records one REST request: route is the matched mux pattern
// (never the raw path) or UnmatchedRoute.
func RESTRequest(route string, code int, d time.Duration) {
	RESTRequests.WithLabelValues(route, strconv.Itoa(code)).Inc()
	RESTDuration.WithLabelValues(route).Observe(max(d, 0).Seconds())
}
