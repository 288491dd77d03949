package controllers

import (
	"fmt"
	"sync/atomic"

	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	triggersv1alpha1 "github.com/leadvibe/milestone-triggers-operator/api/v1alpha1"
	"github.com/leadvibe/milestone-triggers-operator/internal/notify"
)

var namespaces atomic.Int64

// newNamespace creates a namespace (an OU) of its own for one test.
func newNamespace() string {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("ou-%d", namespaces.Add(1))}}
	Expect(k8sClient.Create(suiteCtx, ns)).To(Succeed())
	return ns.Name
}

// validTrigger is a trigger the schema accepts and that needs no Secret.
func validTrigger(namespace, name string) *triggersv1alpha1.MilestoneTrigger {
	url := triggersv1alpha1.HTTPURL("https://hooks.example.com/leadvibe")
	return &triggersv1alpha1.MilestoneTrigger{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec: triggersv1alpha1.MilestoneTriggerSpec{
			DisplayName:    "Hot Lead Alert",
			EventType:      "demo_request",
			ScoreThreshold: ptr.To[int64](75),
			WebhookURL:     &url,
			Emails:         []triggersv1alpha1.EmailAddress{"sales@example.com"},
		},
	}
}

// readyCondition fetches the trigger and returns its Ready condition, or
// nil when there is none yet.
func readyCondition(g Gomega, key types.NamespacedName) *metav1.Condition {
	obj := &triggersv1alpha1.MilestoneTrigger{}
	g.Expect(k8sClient.Get(suiteCtx, key, obj)).To(Succeed())
	c := meta.FindStatusCondition(obj.Status.Conditions, triggersv1alpha1.ReadyCondition)
	if c != nil {
		g.Expect(c.ObservedGeneration).To(Equal(obj.Generation), "Ready describes an older generation")
		g.Expect(obj.Status.ObservedGeneration).To(Equal(obj.Generation))
	}
	return c
}

// expectReady waits until the trigger's Ready condition has the status and
// reason given, for its current generation.
func expectReady(key types.NamespacedName, status metav1.ConditionStatus, reason string) *metav1.Condition {
	var c *metav1.Condition
	EventuallyWithOffset(1, func(g Gomega) {
		c = readyCondition(g, key)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Status).To(Equal(status))
		g.Expect(c.Reason).To(Equal(reason))
	}).Should(Succeed())
	return c
}

// secret is a Secret that triggers may reference: it carries the
// referenceable label.
func secret(namespace, name string, data map[string]string) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name,
			Labels: map[string]string{triggersv1alpha1.ReferenceableLabel: triggersv1alpha1.ReferenceableValue}},
		StringData: data,
	}
}

func keyOf(o client.Object) types.NamespacedName { return client.ObjectKeyFromObject(o) }

var attemptNumbers atomic.Int64

// recordAttempt writes a delivery attempt to the history, as the
// dispatcher does; the status projector reads it from there. An attempt
// without a number gets one of its own, so that the history (which keeps
// one record per firing, channel and number) keeps each.
func recordAttempt(a notify.Attempt) {
	GinkgoHelper()
	if a.Attempt == 0 {
		a.Attempt = int(attemptNumbers.Add(1))
	}
	Expect(hist.Recorder(5 * time.Second).Attempt(a)()).To(Succeed())
}
