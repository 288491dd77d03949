package controllers

import (
	"context"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	triggersv1alpha1 "github.com/leadvibe/milestone-triggers-operator/api/v1alpha1"
)

// StartupGate opens once the reconciler has handled every trigger that
// existed when the replica started: until then the trigger set is
// incomplete, and an event evaluated against it would move its lead past
// a threshold without firing the trigger that is not in the set yet, a
// crossing lost for good. The evaluator and the dispatcher of the replica
// wait for it.
type StartupGate struct {
	// Cache lists the triggers (the manager's cache, synced before the
	// runnables start).
	Cache client.Reader
	Log   logr.Logger
	// Poll is how often the gate checks; 50 ms when zero.
	Poll time.Duration

	mu         sync.Mutex
	reconciled map[types.NamespacedName]bool
	done       chan struct{}
	once       sync.Once
}

var _ manager.LeaderElectionRunnable = (*StartupGate)(nil)

func (g *StartupGate) init() {
	g.once.Do(func() {
		g.reconciled = map[types.NamespacedName]bool{}
		g.done = make(chan struct{})
	})
}

// Reconciled records that the reconciler finished with key: the trigger
// set holds its definition, or knows it is not accepted or is gone.
func (g *StartupGate) Reconciled(key types.NamespacedName) {
	if g == nil {
		return
	}
	g.init()
	g.mu.Lock()
	g.reconciled[key] = true
	g.mu.Unlock()
}

// Done is closed once the gate is open.
func (g *StartupGate) Done() <-chan struct{} {
	g.init()
	return g.done
}

// NeedLeaderElection is false: every replica reconciles into its own
// trigger set, and evaluates and delivers once it is complete.
func (g *StartupGate) NeedLeaderElection() bool { return false }

// Start lists the triggers and opens the gate once each has been
// reconciled or has gone. It waits as long as that takes, saying which
// triggers it waits for every 30 s: proceeding without them would lose
// their crossings.
func (g *StartupGate) Start(ctx context.Context) error {
	g.init()
	var list triggersv1alpha1.MilestoneTriggerList
	if err := g.Cache.List(ctx, &list); err != nil {
		return err
	}
	waiting := make([]types.NamespacedName, 0, len(list.Items))
	for i := range list.Items {
		waiting = append(waiting, client.ObjectKeyFromObject(&list.Items[i]))
	}
	poll := g.Poll
	if poll <= 0 {
		poll = 50 * time.Millisecond
	}
	start := time.Now()
	lastReport := start
	for {
		waiting = g.stillWaiting(ctx, waiting)
		if len(waiting) == 0 {
			break
		}
		if time.Since(lastReport) >= 30*time.Second {
			lastReport = time.Now()
			g.Log.Info("Evaluation waits for triggers not reconciled yet", "count", len(waiting), "first", waiting[0].String())
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(poll):
		}
	}
	g.Log.Info("Every trigger is in the trigger set; evaluation may start", "triggers", len(list.Items), "waited", time.Since(start).String())
	close(g.done)
	<-ctx.Done()
	return nil
}

// stillWaiting drops from keys the triggers reconciled or gone.
func (g *StartupGate) stillWaiting(ctx context.Context, keys []types.NamespacedName) []types.NamespacedName {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := keys[:0]
	for _, key := range keys {
		if g.reconciled[key] {
			continue
		}
		if err := g.Cache.Get(ctx, key, &triggersv1alpha1.MilestoneTrigger{}); client.IgnoreNotFound(err) == nil && err != nil {
			continue // deleted meanwhile
		}
		out = append(out, key)
	}
	return out
}
