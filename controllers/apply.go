package controllers

import (
	"context"
	"encoding/json"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	triggersv1alpha1 "github.com/leadvibe/milestone-triggers-operator/api/v1alpha1"
)

// Field managers of a trigger's status, one per concern. Each applies the
// fields it owns with server-side apply and nothing else, so no writer can
// undo another's, and none needs an optimistic lock: the API server merges
// the conditions by type (a listType=map), and each writer owns its own.
const (
	// ReconcilerFieldManager owns observedGeneration, armedGeneration and
	// the Ready condition (and Delivering while it says EmailDisabled, an
	// ownership shared with StatusFieldManager when both say so).
	ReconcilerFieldManager = "milestone-triggers-reconciler"
	// StatusFieldManager is the status projector's: the firing summary
	// (firedCount, lastFiredTime, lastFiring, firingSequence) and delivery
	// health (deliveries, historySequence and the Delivering condition).
	StatusFieldManager = "milestone-triggers-status"
)

// applyStatus applies status, which holds only the fields manager owns, to
// obj's status by server-side apply. A field the manager applied before and
// leaves out now is removed, so status must hold every field the manager
// owns (a zero value, which the API omits, is the field's absence). The
// trigger's uid goes with it, so an apply never lands on a trigger that was
// deleted and created again under the same name.
func applyStatus(ctx context.Context, c client.Client, obj *triggersv1alpha1.MilestoneTrigger, manager string, status triggersv1alpha1.MilestoneTriggerStatus) error {
	fields, err := statusFields(status)
	if err != nil {
		return err
	}
	metadata := map[string]any{"name": obj.Name, "namespace": obj.Namespace}
	if obj.UID != "" {
		metadata["uid"] = string(obj.UID)
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": triggersv1alpha1.GroupVersion.String(),
		"kind":       "MilestoneTrigger",
		"metadata":   metadata,
		"status":     fields,
	}}
	return c.Status().Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(manager), client.ForceOwnership)
}

// statusFields turns a status into the fields it sets: every field of the
// status is omitempty, so the JSON form holds exactly those.
func statusFields(status triggersv1alpha1.MilestoneTriggerStatus) (map[string]any, error) {
	b, err := json.Marshal(status)
	if err != nil {
		return nil, fmt.Errorf("encoding a status apply: %w", err)
	}
	fields := map[string]any{}
	if err := json.Unmarshal(b, &fields); err != nil {
		return nil, fmt.Errorf("encoding a status apply: %w", err)
	}
	return fields, nil
}
