package notify

import (
	"context"
	"net/http"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/leadvibe/milestone-triggers-operator/internal/event"
	"github.com/leadvibe/milestone-triggers-operator/internal/ledger"
	"github.com/leadvibe/milestone-triggers-operator/internal/metrics"
	"github.com/leadvibe/milestone-triggers-operator/internal/metrics/metricstest"
)

// deliveryCounts reads the delivery metrics of one channel, so a test can
// compare before and after.
type deliveryCounts struct {
	delivered, retry, deadLettered, deadLetters float64
	attempts, firingToDelivery                  uint64
	firingToDeliverySum                         float64
}

func readDeliveryCounts(t *testing.T, channel string) deliveryCounts {
	t.Helper()
	var c deliveryCounts
	c.delivered = metricstest.Value(t, metrics.Deliveries.WithLabelValues(channel, metrics.OutcomeDelivered))
	c.retry = metricstest.Value(t, metrics.Deliveries.WithLabelValues(channel, metrics.OutcomeRetry))
	c.deadLettered = metricstest.Value(t, metrics.Deliveries.WithLabelValues(channel, metrics.OutcomeDeadLettered))
	c.deadLetters = metricstest.Value(t, metrics.DeadLetters.WithLabelValues(channel))
	c.attempts, _ = metricstest.Histogram(t, metrics.AttemptDuration.WithLabelValues(channel))
	c.firingToDelivery, c.firingToDeliverySum = metricstest.Histogram(t, metrics.FiringToDelivery.WithLabelValues(channel))
	return c
}

func (c deliveryCounts) minus(o deliveryCounts) deliveryCounts {
	return deliveryCounts{
		delivered: c.delivered - o.delivered, retry: c.retry - o.retry,
		deadLettered: c.deadLettered - o.deadLettered, deadLetters: c.deadLetters - o.deadLetters,
		attempts: c.attempts - o.attempts, firingToDelivery: c.firingToDelivery - o.firingToDelivery,
		firingToDeliverySum: c.firingToDeliverySum - o.firingToDeliverySum,
	}
}

// fireAt commits a firing whose event the stream stored at firedAt.
func (f *fixture) fireAt(id string, firedAt time.Time) ledger.Firing {
	firing := ledger.Firing{ID: id, OU: "demo", Trigger: "hot", TriggerUID: "uid-hot", TriggerName: "Hot", Threshold: 75,
		Event: event.Event{ID: "evt-" + id, LeadID: "ld_1", EventType: "demo_request", Score: 80, CreatedAt: firedAt.UTC()},
		Score: 80, FiredAt: firedAt.UTC()}
	if err := f.ledger.CommitFirings(context.Background(), []ledger.Firing{firing}); err != nil {
		f.t.Fatal(err)
	}
	return firing
}

// A slow 500 then a 200: one retry and one delivery counted, two attempt
// durations, one firing-to-delivery time from the firing, and an attempt
// in flight while the receiver takes its time.
func TestDeliveryMetricsOfARetryThenADelivery(t *testing.T) {
	rcv := newReceiver(t, func(n int) (int, time.Duration, http.Header) {
		if n == 1 {
			return 500, 400 * time.Millisecond, nil
		}
		return 200, 0, nil
	})
	rcv.up(t)
	f := newFixture(t, rcv.url())
	before := readDeliveryCounts(t, ChannelWebhook)
	inFlight := metrics.DeliveriesInFlight.WithLabelValues(ChannelWebhook)
	stop := f.start(2 * time.Second)
	defer stop()

	firing := f.fireAt("f-metrics", time.Now().Add(-3*time.Second))
	sawInFlight := false
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline) && !sawInFlight; time.Sleep(5 * time.Millisecond) {
		sawInFlight = metricstest.Value(t, inFlight) == 1
	}
	if !sawInFlight {
		t.Error("the slow attempt was never counted in flight")
	}
	f.waitOutcome(firing.ID, OutcomeDelivered)

	got := readDeliveryCounts(t, ChannelWebhook).minus(before)
	if got.retry != 1 || got.delivered != 1 || got.deadLettered != 0 || got.deadLetters != 0 {
		t.Errorf("deliveries moved by %+v, want one retry and one delivery", got)
	}
	if got.attempts != 2 {
		t.Errorf("%d attempt durations observed, want 2", got.attempts)
	}
	if got.firingToDelivery != 1 || got.firingToDeliverySum < 3 || got.firingToDeliverySum > 60 {
		t.Errorf("firing to delivery: %d observations summing %vs, want one of 3s and a little more", got.firingToDelivery, got.firingToDeliverySum)
	}
	if v := metricstest.Value(t, inFlight); v != 0 {
		t.Errorf("%v attempts in flight after the delivery, want 0", v)
	}
}

// A 400 dead-letters the firing at once: counted as an attempt
// dead-lettered and as a dead letter, with no delivery time.
func TestDeliveryMetricsOfADeadLetter(t *testing.T) {
	rcv := newReceiver(t, func(int) (int, time.Duration, http.Header) { return 400, 0, nil })
	rcv.up(t)
	f := newFixture(t, rcv.url())
	before := readDeliveryCounts(t, ChannelWebhook)
	stop := f.start(2 * time.Second)
	defer stop()

	firing := f.fireAt("f-metrics-400", time.Now())
	f.waitOutcome(firing.ID, OutcomeDeadLettered)

	got := readDeliveryCounts(t, ChannelWebhook).minus(before)
	if got.deadLettered != 1 || got.deadLetters != 1 || got.retry != 0 || got.delivered != 0 {
		t.Errorf("deliveries moved by %+v, want one dead letter", got)
	}
	if got.attempts != 1 || got.firingToDelivery != 0 {
		t.Errorf("%d attempt durations and %d delivery times observed, want 1 and 0", got.attempts, got.firingToDelivery)
	}
}

// While the trigger is unavailable, the waits count on the "trigger"
// channel as retries, without attempt durations: nothing was sent.
func TestDeliveryMetricsWhileWaitingForTheTrigger(t *testing.T) {
	rcv := newReceiver(t, func(int) (int, time.Duration, http.Header) { return 200, 0, nil })
	rcv.up(t)
	f := newFixture(t, rcv.url())
	def, _ := f.triggers.Get(types.NamespacedName{Namespace: "demo", Name: "hot"})
	f.triggers.Delete(def.Key)
	waiting := readDeliveryCounts(t, WaitingForTrigger)
	webhook := readDeliveryCounts(t, ChannelWebhook)
	stop := f.start(2 * time.Second)
	defer stop()

	firing := f.fireAt("f-metrics-wait", time.Now())
	time.Sleep(150 * time.Millisecond)
	f.triggers.Upsert(def)
	f.waitOutcome(firing.ID, OutcomeDelivered)

	gotWaiting := readDeliveryCounts(t, WaitingForTrigger).minus(waiting)
	if gotWaiting.retry < 1 || gotWaiting.delivered != 0 || gotWaiting.attempts != 0 {
		t.Errorf("the trigger channel moved by %+v, want retries without durations", gotWaiting)
	}
	if got := readDeliveryCounts(t, ChannelWebhook).minus(webhook); got.delivered != 1 || got.attempts != 1 {
		t.Errorf("the webhook channel moved by %+v, want one delivery", got)
	}
}
