package controllers

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	triggersv1alpha1 "github.com/leadvibe/milestone-triggers-operator/api/v1alpha1"
	"github.com/leadvibe/milestone-triggers-operator/internal/notify"
)

// maxErrorLength bounds a delivery error kept in status.
const maxErrorLength = 1024

// DeliveryStatusWriter keeps each trigger's status.deliveries: per channel,
// the last success, the last error, consecutive failures and dead letters.
// The dispatcher reports every attempt to Record; the writer folds them
// and patches each trigger at most once per Interval. It is the only
// writer of status.deliveries. It is a manager Runnable that needs leader
// election, like the dispatcher that feeds it.
type DeliveryStatusWriter struct {
	Client client.Client
	Log    logr.Logger
	// Interval between patches of one trigger (default 2s).
	Interval time.Duration

	mu      sync.Mutex
	pending map[types.NamespacedName][]notify.Attempt
}

// NeedLeaderElection implements manager.LeaderElectionRunnable.
func (w *DeliveryStatusWriter) NeedLeaderElection() bool { return true }

// Record takes one attempt; it never blocks on the API server.
func (w *DeliveryStatusWriter) Record(a notify.Attempt) {
	if a.Channel == notify.WaitingForTrigger {
		return // not a channel: there is no health to report
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.pending == nil {
		w.pending = map[types.NamespacedName][]notify.Attempt{}
	}
	key := types.NamespacedName{Namespace: a.OU, Name: a.Trigger}
	w.pending[key] = append(w.pending[key], a)
}

// Start patches until ctx ends.
func (w *DeliveryStatusWriter) Start(ctx context.Context) error {
	if w.Interval <= 0 {
		w.Interval = 2 * time.Second
	}
	tick := time.NewTicker(w.Interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			w.flush(ctx)
		}
	}
}

func (w *DeliveryStatusWriter) flush(ctx context.Context) {
	w.mu.Lock()
	batch := w.pending
	w.pending = nil
	w.mu.Unlock()
	for key, attempts := range batch {
		err := w.patch(ctx, key, attempts)
		switch {
		case err == nil, apierrors.IsNotFound(err):
		default:
			w.Log.V(1).Info("Delivery status patch failed; retrying at the next interval", "trigger", key, "error", err.Error())
			w.mu.Lock()
			if w.pending == nil {
				w.pending = map[types.NamespacedName][]notify.Attempt{}
			}
			w.pending[key] = append(attempts, w.pending[key]...)
			w.mu.Unlock()
		}
	}
}

func (w *DeliveryStatusWriter) patch(ctx context.Context, key types.NamespacedName, attempts []notify.Attempt) error {
	obj := &triggersv1alpha1.MilestoneTrigger{}
	if err := w.Client.Get(ctx, key, obj); err != nil {
		return err
	}
	base := obj.DeepCopy()
	deadLettered := map[triggersv1alpha1.Channel]bool{}
	for _, a := range attempts {
		applyAttempt(&obj.Status, a)
		deadLettered[triggersv1alpha1.Channel(a.Channel)] = a.Outcome == notify.OutcomeDeadLettered
	}
	setDelivering(obj, deadLettered)
	return w.Client.Status().Patch(ctx, obj, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{}))
}

// applyAttempt folds one attempt into the channel's health.
func applyAttempt(status *triggersv1alpha1.MilestoneTriggerStatus, a notify.Attempt) {
	channel := triggersv1alpha1.Channel(a.Channel)
	var h *triggersv1alpha1.DeliveryHealth
	for i := range status.Deliveries {
		if status.Deliveries[i].Channel == channel {
			h = &status.Deliveries[i]
		}
	}
	if h == nil {
		status.Deliveries = append(status.Deliveries, triggersv1alpha1.DeliveryHealth{Channel: channel})
		h = &status.Deliveries[len(status.Deliveries)-1]
	}
	at := metav1.NewTime(a.At.Truncate(time.Second))
	if a.Error == "" {
		h.LastSuccessTime = &at
		h.ConsecutiveFailures = 0
		return
	}
	h.LastErrorTime = &at
	h.LastError = clipError(a.Error)
	h.ConsecutiveFailures++
	if a.Outcome == notify.OutcomeDeadLettered {
		h.DeadLettered++
	}
}

// setDelivering derives the Delivering condition from the channels'
// health: False while any channel's last attempt failed (DeadLettered when
// that attempt gave the firing up), True once all deliver again.
func setDelivering(obj *triggersv1alpha1.MilestoneTrigger, deadLettered map[triggersv1alpha1.Channel]bool) {
	cond := metav1.Condition{
		Type:               triggersv1alpha1.DeliveringCondition,
		Status:             metav1.ConditionTrue,
		Reason:             triggersv1alpha1.ReasonDelivered,
		Message:            "The last attempt on every channel succeeded",
		ObservedGeneration: obj.Generation,
	}
	for _, h := range obj.Status.Deliveries {
		if h.ConsecutiveFailures == 0 {
			continue
		}
		cond.Status = metav1.ConditionFalse
		cond.Reason = triggersv1alpha1.ReasonDeliveryFailing
		if deadLettered[h.Channel] {
			cond.Reason = triggersv1alpha1.ReasonDeadLettered
		}
		cond.Message = fmt.Sprintf("Channel %s: %d consecutive failed attempts; last error: %s", h.Channel, h.ConsecutiveFailures, h.LastError)
		break
	}
	meta.SetStatusCondition(&obj.Status.Conditions, cond)
}

func clipError(s string) string {
	if len(s) <= maxErrorLength {
		return s
	}
	return s[:maxErrorLength-3] + "..."
}
