package controllers

import (
	"context"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"

	triggersv1alpha1 "github.com/leadvibe/milestone-triggers-operator/api/v1alpha1"
)

// electionResync runs on the leader only: when a replica becomes leader,
// it hands every trigger to the reconciler once more, so that the new
// leader writes the status the replica reconciled without writing.
type electionResync struct {
	Reader client.Reader
	Events chan<- event.GenericEvent
}

// NeedLeaderElection is true: it starts when this replica is elected.
func (e *electionResync) NeedLeaderElection() bool { return true }

// Start lists the triggers and queues each for the reconciler.
func (e *electionResync) Start(ctx context.Context) error {
	var list triggersv1alpha1.MilestoneTriggerList
	if err := e.Reader.List(ctx, &list); err != nil {
		return err
	}
	for i := range list.Items {
		select {
		case e.Events <- event.GenericEvent{Object: &list.Items[i]}:
		case <-ctx.Done():
			return nil
		}
	}
	return nil
}
