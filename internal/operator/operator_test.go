package operator

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	triggersv1alpha1 "github.com/leadvibe/milestone-triggers-operator/api/v1alpha1"
	"github.com/leadvibe/milestone-triggers-operator/internal/envtesting"
)

// TestRunAssemblesTheWholeOperator runs the one assembly against a real
// API server with an embedded stream: a trigger becomes Ready (the
// controller, its startup gate and the trigger set are wired), and the
// operator stops cleanly when its context ends.
func TestRunAssemblesTheWholeOperator(t *testing.T) {
	cfg := envtesting.Start(t)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, cfg, Config{
			MetricsAddr: "0", ProbeAddr: "0", PprofAddr: "0", APIAddr: "0",
			DataDir: t.TempDir(), StreamSync: "always", StatusInterval: time.Second,
		})
	}()

	c, err := client.New(cfg, client.Options{Scheme: Scheme})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "demo"}}); err != nil {
		t.Fatal(err)
	}
	mt := &triggersv1alpha1.MilestoneTrigger{
		ObjectMeta: metav1.ObjectMeta{Name: "hot", Namespace: "demo"},
		Spec: triggersv1alpha1.MilestoneTriggerSpec{
			DisplayName: "Hot", ScoreThreshold: ptr.To[int64](75),
			WebhookURL: ptr.To(triggersv1alpha1.HTTPURL("https://hooks.example.com/x")),
		},
	}
	if err := c.Create(ctx, mt); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		got := &triggersv1alpha1.MilestoneTrigger{}
		if err := c.Get(ctx, client.ObjectKeyFromObject(mt), got); err != nil {
			t.Fatal(err)
		}
		if meta.IsStatusConditionTrue(got.Status.Conditions, triggersv1alpha1.ReadyCondition) {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("the operator stopped: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the trigger is not Ready after 60s: %+v", got.Status.Conditions)
		}
		time.Sleep(200 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("the operator did not stop cleanly: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the operator did not stop within 60s")
	}
}
