package controllers

import (
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	triggersv1alpha1 "github.com/leadvibe/milestone-triggers-operator/api/v1alpha1"
)

// markReady records that the trigger's current generation was accepted.
func markReady(obj *triggersv1alpha1.MilestoneTrigger) {
	reason, message := triggersv1alpha1.ReasonAccepted, "The trigger is evaluated on every event of its OU"
	if !obj.IsActive() {
		reason, message = triggersv1alpha1.ReasonInactive, "The trigger is accepted but inactive: it does not fire until active is true"
	}
	setReady(obj, metav1.ConditionTrue, reason, message)
}

// markNotReady records why the trigger's current generation was refused.
func markNotReady(obj *triggersv1alpha1.MilestoneTrigger, reason, message string) {
	setReady(obj, metav1.ConditionFalse, reason, message)
}

func setReady(obj *triggersv1alpha1.MilestoneTrigger, status metav1.ConditionStatus, reason, message string) {
	meta.SetStatusCondition(&obj.Status.Conditions, metav1.Condition{
		Type:               triggersv1alpha1.ReadyCondition,
		Status:             status,
		Reason:             reason,
		Message:            message,
		ObservedGeneration: obj.Generation,
	})
	obj.Status.ObservedGeneration = obj.Generation
}

// deliveringCondition derives the Delivering condition from the channels'
// health and what the operator can send: False while any channel's last
// attempt failed (DeadLettered when deadLettered says that attempt gave
// its firing up), else False with EmailDisabled when the trigger has
// emails and the operator sends none, else True once every channel has
// delivered. It is nil while there is nothing to say: no attempt yet and
// every channel possible.
func deliveringCondition(obj *triggersv1alpha1.MilestoneTrigger, emailEnabled bool, deadLettered map[triggersv1alpha1.Channel]bool) *metav1.Condition {
	cond := &metav1.Condition{
		Type:               triggersv1alpha1.DeliveringCondition,
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
		return cond
	}
	if len(obj.Spec.Emails) > 0 && !emailEnabled {
		cond.Status = metav1.ConditionFalse
		cond.Reason = triggersv1alpha1.ReasonEmailDisabled
		cond.Message = emailDisabledMessage
		return cond
	}
	if len(obj.Status.Deliveries) == 0 {
		return nil
	}
	cond.Status = metav1.ConditionTrue
	cond.Reason = triggersv1alpha1.ReasonDelivered
	cond.Message = "The last attempt on every channel succeeded"
	return cond
}

// emailDisabledMessage says why a trigger's emails are never sent.
const emailDisabledMessage = "Channel email: this operator sends no email (it runs without --smtp-addr), so the trigger's emails are never sent"
