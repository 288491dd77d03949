package controllers

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	triggersv1alpha1 "github.com/leadvibe/milestone-triggers-operator/api/v1alpha1"
)

// secretRefIndex indexes MilestoneTriggers by the names of the Secrets they
// reference, so a Secret event finds its triggers without a full scan.
const secretRefIndex = ".spec.secretRefs.name"

// SetupWithManager registers the reconciler. Triggers are watched for spec
// changes; Secrets are watched by metadata only and mapped to the triggers
// that reference them, so a Secret created or changed later is picked up at
// once rather than at the next resync.
func (r *MilestoneTriggerReconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	if err := mgr.GetFieldIndexer().IndexField(ctx, &triggersv1alpha1.MilestoneTrigger{}, secretRefIndex, indexSecretRefs); err != nil {
		return err
	}
	b := ctrl.NewControllerManagedBy(mgr).
		For(&triggersv1alpha1.MilestoneTrigger{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.triggersReferencing), builder.OnlyMetadata).
		Named("milestonetrigger")
	if r.Elected != nil {
		// Every replica reconciles into its own trigger set; the one
		// that becomes leader reconciles every trigger once more, to
		// write what the others did not.
		elected := make(chan event.GenericEvent)
		if err := mgr.Add(&electionResync{Reader: mgr.GetCache(), Events: elected}); err != nil {
			return err
		}
		b = b.WithOptions(controller.Options{NeedLeaderElection: ptr.To(false)}).
			WatchesRawSource(source.Channel(elected, &handler.EnqueueRequestForObject{}))
	}
	return b.Complete(r)
}

func indexSecretRefs(o client.Object) []string {
	return secretNames(&o.(*triggersv1alpha1.MilestoneTrigger).Spec)
}

// secretNames lists the Secrets a spec references, without repeats.
func secretNames(spec *triggersv1alpha1.MilestoneTriggerSpec) []string {
	refs := []*triggersv1alpha1.SecretKeyRef{spec.WebhookURLSecretRef, spec.WebhookSigningSecretRef}
	if spec.Slack != nil {
		refs = append(refs, spec.Slack.WebhookURLSecretRef)
	}
	if spec.Teams != nil {
		refs = append(refs, spec.Teams.WebhookURLSecretRef)
	}
	var names []string
	seen := map[string]bool{}
	for _, ref := range refs {
		if ref != nil && !seen[ref.Name] {
			seen[ref.Name] = true
			names = append(names, ref.Name)
		}
	}
	return names
}

func (r *MilestoneTriggerReconciler) triggersReferencing(ctx context.Context, secret client.Object) []reconcile.Request {
	var list triggersv1alpha1.MilestoneTriggerList
	if err := r.List(ctx, &list, client.InNamespace(secret.GetNamespace()), client.MatchingFields{secretRefIndex: secret.GetName()}); err != nil {
		log.FromContext(ctx).Error(err, "Listing the triggers that reference a Secret", "secret", client.ObjectKeyFromObject(secret))
		return nil
	}
	requests := make([]reconcile.Request, 0, len(list.Items))
	for _, t := range list.Items {
		requests = append(requests, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&t)})
	}
	return requests
}
