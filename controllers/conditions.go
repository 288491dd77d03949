package controllers

import (
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
