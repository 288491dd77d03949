package controllers

import (
	"context"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	triggersv1alpha1 "github.com/leadvibe/milestone-triggers-operator/api/v1alpha1"
)

// The gate opens only once every trigger present at start has been
// reconciled or has gone, whatever the order.
func TestStartupGateWaitsForEveryTrigger(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := triggersv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	mt := func(ns, name string) *triggersv1alpha1.MilestoneTrigger {
		return &triggersv1alpha1.MilestoneTrigger{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	}
	gone := mt("ou-b", "deleted-soon")
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(mt("ou-a", "one"), mt("ou-a", "two"), gone).Build()
	g := &StartupGate{Cache: c, Log: testr.New(t), Poll: time.Millisecond}

	// Reconciled before the gate even lists: it still counts.
	g.Reconciled(types.NamespacedName{Namespace: "ou-a", Name: "one"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	started := make(chan error, 1)
	go func() { started <- g.Start(ctx) }()

	closedWithin := func(d time.Duration) bool {
		select {
		case <-g.Done():
			return true
		case <-time.After(d):
			return false
		}
	}
	if closedWithin(50 * time.Millisecond) {
		t.Fatal("the gate opened with two triggers not reconciled")
	}
	g.Reconciled(types.NamespacedName{Namespace: "ou-a", Name: "two"})
	if closedWithin(50 * time.Millisecond) {
		t.Fatal("the gate opened with a trigger not reconciled")
	}
	if err := c.Delete(ctx, gone); err != nil {
		t.Fatal(err)
	}
	if !closedWithin(5 * time.Second) {
		t.Fatal("the gate stayed shut with every trigger reconciled or gone")
	}
	cancel()
	if err := <-started; err != nil {
		t.Fatal(err)
	}
}

func TestStartupGateOpensWithNoTriggers(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := triggersv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	g := &StartupGate{Cache: fake.NewClientBuilder().WithScheme(scheme).Build(), Log: testr.New(t)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = g.Start(ctx) }()
	select {
	case <-g.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the gate stayed shut with no triggers")
	}
}
