package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	triggersv1alpha1 "github.com/leadvibe/milestone-triggers-operator/api/v1alpha1"
)

// ouTriggers is one OU (namespace) the tool created and its triggers.
type ouTriggers struct {
	namespace string
	triggers  []trigger
}

// trigger is what the tool needs of one MilestoneTrigger it created.
type trigger struct {
	name      string
	uid       string
	eventType string
	threshold int64
	epoch     uint64
}

// newKubeClient returns a client for the cluster of kubeconfig (or of
// $KUBECONFIG and the default loading rules when empty), and a clientset
// for what the client does not do (token requests and reviews).
func newKubeClient(kubeconfig string) (client.Client, kubernetes.Interface, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, nil).ClientConfig()
	if err != nil {
		return nil, nil, fmt.Errorf("loading the kubeconfig: %w", err)
	}
	cfg.QPS, cfg.Burst = 200, 400
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(triggersv1alpha1.AddToScheme(scheme))
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, nil, err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, nil, err
	}
	return c, cs, nil
}

// triggerPlan lays out the triggers of OU i: thresholds spread evenly over
// the score range (shifted a little per OU), the first one untyped (the
// sentinel fires it), every typedEvery-th one (the third, sixth, ... with
// 3) waiting for a typed event; typedEvery 0 makes them all untyped.
func triggerPlan(i, perOU, typedEvery int, maxScore int64) []trigger {
	lo, hi := int64(10)+int64(i%4)*2, maxScore-maxScore/10
	ts := make([]trigger, perOU)
	for j := range ts {
		ts[j] = trigger{name: fmt.Sprintf("t%03d", j), threshold: lo}
		if perOU > 1 {
			ts[j].threshold = lo + int64(j)*(hi-lo)/int64(perOU-1)
		}
		if typedEvery > 0 && j > 0 && j%typedEvery == typedEvery-1 {
			ts[j].eventType = typedKinds[(j/typedEvery)%len(typedKinds)]
		}
	}
	return ts
}

// createTriggers creates the namespaces and their triggers, each posting to
// the receiver url(ou index, trigger name).
func createTriggers(ctx context.Context, c client.Client, run string, ous, perOU, typedEvery int, maxScore int64, url func(ou int, name string) string) ([]ouTriggers, error) {
	var out []ouTriggers
	for i := range ous {
		name := fmt.Sprintf("load-%s-%d", run, i)
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
			"leadvibe.io/ou": name, "app.kubernetes.io/created-by": "hack-load",
		}}}
		if err := c.Create(ctx, ns); err != nil {
			return out, fmt.Errorf("creating namespace %s: %w", name, err)
		}
		ou := ouTriggers{namespace: name, triggers: triggerPlan(i, perOU, typedEvery, maxScore)}
		for j := range ou.triggers {
			t := &ou.triggers[j]
			hook := triggersv1alpha1.HTTPURL(url(i, t.name))
			obj := &triggersv1alpha1.MilestoneTrigger{
				ObjectMeta: metav1.ObjectMeta{Name: t.name, Namespace: name},
				Spec: triggersv1alpha1.MilestoneTriggerSpec{
					DisplayName:    fmt.Sprintf("Load %s at %d", name, t.threshold),
					EventType:      t.eventType,
					ScoreThreshold: &t.threshold,
					WebhookURL:     &hook,
				},
			}
			if err := c.Create(ctx, obj); err != nil {
				return out, fmt.Errorf("creating trigger %s/%s: %w", name, t.name, err)
			}
			t.uid = string(obj.UID)
		}
		out = append(out, ou)
	}
	return out, nil
}

// waitReady waits until every trigger has Ready=True for its current
// generation, and records each one's epoch (armedGeneration).
func waitReady(ctx context.Context, c client.Client, ous []ouTriggers, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		notReady := 0
		var last string
		for i := range ous {
			var list triggersv1alpha1.MilestoneTriggerList
			if err := c.List(ctx, &list, client.InNamespace(ous[i].namespace)); err != nil {
				return err
			}
			byName := map[string]*triggersv1alpha1.MilestoneTrigger{}
			for k := range list.Items {
				byName[list.Items[k].Name] = &list.Items[k]
			}
			for j := range ous[i].triggers {
				t := &ous[i].triggers[j]
				obj := byName[t.name]
				if obj == nil {
					notReady++
					last = ous[i].namespace + "/" + t.name + " (not listed yet)"
					continue
				}
				cond := meta.FindStatusCondition(obj.Status.Conditions, triggersv1alpha1.ReadyCondition)
				if cond == nil || cond.Status != metav1.ConditionTrue || obj.Status.ObservedGeneration != obj.Generation {
					notReady++
					last = ous[i].namespace + "/" + t.name
					if cond != nil {
						last += fmt.Sprintf(" (%s: %s)", cond.Reason, cond.Message)
					}
					continue
				}
				t.epoch = uint64(obj.Status.ArmedGeneration)
			}
		}
		if notReady == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d triggers not Ready after %s, for example %s", notReady, timeout, last)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// cleanup deletes the triggers, waits for them to be gone, then deletes
// the namespaces. A control plane without a namespace controller (as the
// local system's) keeps the namespaces Terminating, which is harmless:
// every run uses new names.
func cleanup(ctx context.Context, c client.Client, ous []ouTriggers) error {
	var errs []error
	for _, ou := range ous {
		if err := c.DeleteAllOf(ctx, &triggersv1alpha1.MilestoneTrigger{}, client.InNamespace(ou.namespace)); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("deleting the triggers of %s: %w", ou.namespace, err))
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, ou := range ous {
		for {
			var list triggersv1alpha1.MilestoneTriggerList
			if err := c.List(ctx, &list, client.InNamespace(ou.namespace)); err != nil || len(list.Items) == 0 {
				break
			}
			if time.Now().After(deadline) {
				errs = append(errs, fmt.Errorf("the triggers of %s are not gone after 30s", ou.namespace))
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ou.namespace}}
		if err := c.Delete(ctx, ns); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("deleting namespace %s: %w", ou.namespace, err))
		}
	}
	return errors.Join(errs...)
}

// waitFiredCount waits until the triggers' status.firedCount adds up to
// want (the status writes are coalesced, so they lag the deliveries), or
// the timeout passes, and returns the last sum.
func waitFiredCount(ctx context.Context, c client.Client, ous []ouTriggers, want int64, timeout time.Duration) (int64, error) {
	deadline := time.Now().Add(timeout)
	for {
		var sum int64
		for _, ou := range ous {
			var list triggersv1alpha1.MilestoneTriggerList
			if err := c.List(ctx, &list, client.InNamespace(ou.namespace)); err != nil {
				return sum, err
			}
			for _, t := range list.Items {
				sum += t.Status.FiredCount
			}
		}
		if sum == want || time.Now().After(deadline) {
			return sum, nil
		}
		select {
		case <-ctx.Done():
			return sum, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}
