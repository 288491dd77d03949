// Package controllers reconciles MilestoneTrigger resources into the
// evaluator's trigger set.
package controllers

import (
	"context"
	"errors"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	kerrors "k8s.io/apimachinery/pkg/util/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	triggersv1alpha1 "github.com/leadvibe/milestone-triggers-operator/api/v1alpha1"
	"github.com/leadvibe/milestone-triggers-operator/internal/resolve"
	"github.com/leadvibe/milestone-triggers-operator/internal/triggerset"
)

// MilestoneTriggerReconciler keeps the trigger set in step with the
// MilestoneTrigger resources and reports, in each one's Ready condition,
// whether it was accepted.
type MilestoneTriggerReconciler struct {
	client.Client
	// APIReader reads Secrets straight from the API server. The manager's
	// cache holds only Secret metadata, so no credential sits in memory
	// longer than one reconcile.
	APIReader client.Reader
	// Triggers receives the effective definitions.
	Triggers triggerset.Set
	// Gate, when set, learns which triggers have been reconciled, so that
	// evaluation starts only once the set is complete.
	Gate *StartupGate
	// AllowUnlabeledSecrets lets triggers reference Secrets that lack the
	// label triggers.leadvibe.io/referenceable: "true"; off by default
	// (--require-referenceable-secrets), see resolve.Resolver.
	AllowUnlabeledSecrets bool
	// EmailEnabled says the operator sends email (--smtp-addr). Without
	// it, a trigger with emails is told so at once: Delivering False with
	// reason EmailDisabled, and a Warning Event.
	EmailEnabled bool
	// Warnings records Warning Events for triggers that are not accepted
	// (a missing or invalid Secret) or cannot email (none when nil).
	Warnings *Warnings
	// Elected, when set, is closed once this replica is the leader
	// (manager.Elected). Every replica reconciles, so that each has the
	// whole trigger set for the partitions it evaluates and the firings
	// it delivers; only the leader writes status.
	Elected <-chan struct{}
}

// leading reports whether elected is closed, or nil: this replica writes
// status and records Events.
func leading(elected <-chan struct{}) bool {
	if elected == nil {
		return true
	}
	select {
	case <-elected:
		return true
	default:
		return false
	}
}

// +kubebuilder:rbac:groups=triggers.leadvibe.io,resources=milestonetriggers,verbs=get;list;watch
// +kubebuilder:rbac:groups=triggers.leadvibe.io,resources=milestonetriggers/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch

// Reconcile reads the trigger, applies its status once on the way out
// (only the fields the reconciler owns, see ReconcilerFieldManager), and
// hands the work to reconcile.
func (r *MilestoneTriggerReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	obj := &triggersv1alpha1.MilestoneTrigger{}
	if err := r.Get(ctx, req.NamespacedName, obj); err != nil {
		if apierrors.IsNotFound(err) {
			r.Triggers.Delete(req.NamespacedName)
			r.Gate.Reconciled(req.NamespacedName)
			log.FromContext(ctx).V(1).Info("Trigger deleted; removed from the trigger set")
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}
	if !obj.DeletionTimestamp.IsZero() {
		r.Triggers.Delete(req.NamespacedName)
		r.Gate.Reconciled(req.NamespacedName)
		return ctrl.Result{}, nil
	}

	base := obj.DeepCopy()
	defer func() {
		if !leading(r.Elected) || equality.Semantic.DeepEqual(base.Status, obj.Status) {
			return
		}
		if err := r.applyStatus(ctx, obj); err != nil && !apierrors.IsNotFound(err) {
			retErr = kerrors.NewAggregate([]error{retErr, err})
		}
	}()

	if err := r.reconcile(ctx, obj); err != nil {
		return ctrl.Result{}, err
	}
	// The trigger set knows the trigger now, whatever becomes of the
	// status apply: a failing status write must not hold evaluation back.
	r.Gate.Reconciled(req.NamespacedName)
	return ctrl.Result{}, nil
}

// reconcile resolves the trigger's Secrets and publishes its definition.
// A configuration problem is terminal: the trigger leaves the set, Ready
// turns False with the reason, and a change to the trigger or to one of its
// Secrets brings it back. Anything else is returned to be retried.
func (r *MilestoneTriggerReconciler) reconcile(ctx context.Context, obj *triggersv1alpha1.MilestoneTrigger) error {
	key := client.ObjectKeyFromObject(obj)
	arm(obj)
	r.checkEmail(obj)
	def, err := resolve.Resolver{Reader: r.APIReader, AllowUnlabeledSecrets: r.AllowUnlabeledSecrets}.Definition(ctx, obj)
	var invalid *resolve.ConfigError
	switch {
	case errors.As(err, &invalid):
		r.Triggers.Delete(key)
		obj.Status.ArmedGeneration = 0
		markNotReady(obj, invalid.Reason, invalid.Message)
		r.Warnings.Warn(obj, invalid.Reason, "Accept", invalid.Message)
		log.FromContext(ctx).Info("Trigger not accepted", "reason", invalid.Reason, "message", invalid.Message)
		return nil
	case err != nil:
		return err
	}
	r.Triggers.Upsert(def)
	markReady(obj)
	return nil
}

// arm keeps status.armedGeneration: the generation since which the
// accepted trigger has been active without interruption, or 0 while it is
// inactive. It is the trigger's epoch in the evaluator.
func arm(obj *triggersv1alpha1.MilestoneTrigger) {
	switch {
	case !obj.IsActive():
		obj.Status.ArmedGeneration = 0
	case obj.Status.ArmedGeneration == 0:
		obj.Status.ArmedGeneration = obj.Generation
	}
}

// checkEmail keeps the Delivering condition's EmailDisabled: set while the
// trigger has emails and the operator sends none, and dropped from the
// reconciler's apply once it has none. Every other Delivering state is the
// status projector's.
func (r *MilestoneTriggerReconciler) checkEmail(obj *triggersv1alpha1.MilestoneTrigger) {
	cond := deliveringCondition(obj, r.EmailEnabled, nil)
	current := meta.FindStatusCondition(obj.Status.Conditions, triggersv1alpha1.DeliveringCondition)
	switch {
	case cond != nil && cond.Reason == triggersv1alpha1.ReasonEmailDisabled:
		meta.SetStatusCondition(&obj.Status.Conditions, *cond)
		r.Warnings.Warn(obj, triggersv1alpha1.ReasonEmailDisabled, "Accept", emailDisabledMessage)
	case current != nil && current.Reason == triggersv1alpha1.ReasonEmailDisabled:
		meta.RemoveStatusCondition(&obj.Status.Conditions, triggersv1alpha1.DeliveringCondition)
	}
}

// applyStatus applies what the reconciler owns of obj's status:
// observedGeneration, armedGeneration, the Ready condition, and Delivering
// while it says EmailDisabled (left out, it goes, unless the
// status projector owns it too).
func (r *MilestoneTriggerReconciler) applyStatus(ctx context.Context, obj *triggersv1alpha1.MilestoneTrigger) error {
	owned := triggersv1alpha1.MilestoneTriggerStatus{
		ObservedGeneration: obj.Status.ObservedGeneration,
		ArmedGeneration:    obj.Status.ArmedGeneration,
	}
	if c := meta.FindStatusCondition(obj.Status.Conditions, triggersv1alpha1.ReadyCondition); c != nil {
		owned.Conditions = append(owned.Conditions, *c)
	}
	if c := meta.FindStatusCondition(obj.Status.Conditions, triggersv1alpha1.DeliveringCondition); c != nil && c.Reason == triggersv1alpha1.ReasonEmailDisabled {
		owned.Conditions = append(owned.Conditions, *c)
	}
	return applyStatus(ctx, r.Client, obj, ReconcilerFieldManager, owned)
}
