package controllers

import (
	"encoding/json"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	triggersv1alpha1 "github.com/leadvibe/milestone-triggers-operator/api/v1alpha1"
	"github.com/leadvibe/milestone-triggers-operator/internal/ledger"
	"github.com/leadvibe/milestone-triggers-operator/internal/notify"
)

// statusOwners maps each manager that owns status fields of obj to the
// fields it owns (the managedFields entries of the status subresource).
func statusOwners(g Gomega, obj *triggersv1alpha1.MilestoneTrigger) map[string]map[string]any {
	owners := map[string]map[string]any{}
	for _, mf := range obj.ManagedFields {
		if mf.FieldsV1 == nil {
			continue
		}
		var fields map[string]any
		g.Expect(json.Unmarshal(mf.FieldsV1.GetRawBytes(), &fields)).To(Succeed())
		status, ok := fields["f:status"].(map[string]any)
		if !ok {
			continue
		}
		g.Expect(mf.Operation).To(Equal(metav1.ManagedFieldsOperationApply), "%s writes status by a %s, not by server-side apply", mf.Manager, mf.Operation)
		g.Expect(mf.Subresource).To(Equal("status"))
		owners[mf.Manager] = status
	}
	return owners
}

var _ = Describe("One writer per piece of status", func() {
	It("applies each concern's fields under its own field manager, none undoing another's", func() {
		ns := newNamespace()
		mt := validTrigger(ns, "owners")
		Expect(k8sClient.Create(suiteCtx, mt)).To(Succeed())
		expectReady(keyOf(mt), metav1.ConditionTrue, triggersv1alpha1.ReasonAccepted)
		publish(ns, engagement("evt-owners", "ld_owners", "demo_request", 90))
		recordAttempt(notify.Attempt{FiringID: "f", OU: ns, Trigger: mt.Name, Channel: notify.ChannelWebhook,
			Error: "status 503", Outcome: notify.OutcomePending, At: time.Now()})

		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(suiteCtx, keyOf(mt), mt)).To(Succeed())
			g.Expect(mt.Status.FiredCount).To(Equal(int64(1)))
			g.Expect(meta.IsStatusConditionTrue(mt.Status.Conditions, triggersv1alpha1.ReadyCondition)).To(BeTrue())
			g.Expect(meta.IsStatusConditionFalse(mt.Status.Conditions, triggersv1alpha1.DeliveringCondition)).To(BeTrue())
			owners := statusOwners(g, mt)
			g.Expect(owners).To(HaveLen(2), "owners: %v", owners)

			reconciler := owners[ReconcilerFieldManager]
			g.Expect(reconciler).To(HaveKey("f:observedGeneration"))
			g.Expect(reconciler).To(HaveKey("f:armedGeneration"))
			g.Expect(reconciler["f:conditions"]).To(And(HaveKey(`k:{"type":"Ready"}`), Not(HaveKey(`k:{"type":"Delivering"}`))))
			g.Expect(reconciler).NotTo(HaveKey("f:firedCount"))

			projector := owners[StatusFieldManager]
			for _, f := range []string{"f:firedCount", "f:lastFiredTime", "f:lastFiring", "f:firingSequence", "f:deliveries", "f:historySequence"} {
				g.Expect(projector).To(HaveKey(f))
			}
			g.Expect(projector["f:conditions"]).To(And(HaveKey(`k:{"type":"Delivering"}`), Not(HaveKey(`k:{"type":"Ready"}`))))
			g.Expect(projector).NotTo(HaveKey("f:observedGeneration"))
		}).WithTimeout(20 * time.Second).Should(Succeed())

		By("a spec change: the reconciler's apply leaves the other writers' fields as they are")
		mt.Spec.ScoreThreshold = ptr.To[int64](80)
		Expect(k8sClient.Update(suiteCtx, mt)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(suiteCtx, keyOf(mt), mt)).To(Succeed())
			g.Expect(mt.Status.ObservedGeneration).To(Equal(mt.Generation))
			g.Expect(mt.Status.FiredCount).To(Equal(int64(1)))
			g.Expect(mt.Status.Deliveries).To(ConsistOf(HaveField("ConsecutiveFailures", int32(1))))
			g.Expect(meta.IsStatusConditionFalse(mt.Status.Conditions, triggersv1alpha1.DeliveringCondition)).To(BeTrue())
		}).Should(Succeed())
	})
})

var _ = Describe("The status projector across a restart", func() {
	It("resumes from its checkpoints and counts nothing twice", func() {
		ns := newNamespace()
		mt := validTrigger(ns, "restart")
		Expect(k8sClient.Create(suiteCtx, mt)).To(Succeed())
		expectReady(keyOf(mt), metav1.ConditionTrue, triggersv1alpha1.ReasonAccepted)
		failed := func(n int) notify.Attempt {
			return notify.Attempt{FiringID: "mtf_restart", OU: ns, Trigger: mt.Name, Channel: notify.ChannelWebhook,
				Attempt: n, Error: "status 503", Outcome: notify.OutcomePending, At: time.Now()}
		}
		expect := func(fired int64, failures int32) {
			GinkgoHelper()
			Eventually(func(g Gomega) {
				g.Expect(k8sClient.Get(suiteCtx, keyOf(mt), mt)).To(Succeed())
				g.Expect(mt.Status.FiredCount).To(Equal(fired))
				g.Expect(mt.Status.Deliveries).To(ConsistOf(HaveField("ConsecutiveFailures", failures)))
			}).WithTimeout(20 * time.Second).Should(Succeed())
		}

		publish(ns, engagement("evt-r1", "ld_r1", "demo_request", 90))
		recordAttempt(failed(1))
		recordAttempt(failed(2))
		expect(1, 2)

		By("a restart: the new projector reads on from the checkpoints")
		restartProjector()
		publish(ns, engagement("evt-r2", "ld_r2", "demo_request", 90))
		recordAttempt(failed(3))
		expect(2, 3)
		Consistently(func(g Gomega) {
			g.Expect(k8sClient.Get(suiteCtx, keyOf(mt), mt)).To(Succeed())
			g.Expect(mt.Status.FiredCount).To(Equal(int64(2)))
			g.Expect(mt.Status.Deliveries).To(ConsistOf(HaveField("ConsecutiveFailures", int32(3))))
		}).WithTimeout(2 * time.Second).Should(Succeed())

		By("a restart from before the checkpoints, as after a crash between an apply and its checkpoint: the status's positions skip what was applied")
		stopProjector()
		Expect(projectorLedger.SaveCheckpoint(suiteCtx, ledger.StatusCheckpoint, 1)).To(Succeed())
		Expect(projectorLedger.SaveCheckpoint(suiteCtx, ledger.HistoryCheckpoint, 1)).To(Succeed())
		startProjector()
		recordAttempt(failed(4))
		expect(2, 4)
		Consistently(func(g Gomega) {
			g.Expect(k8sClient.Get(suiteCtx, keyOf(mt), mt)).To(Succeed())
			g.Expect(mt.Status.FiredCount).To(Equal(int64(2)))
			g.Expect(mt.Status.Deliveries).To(ConsistOf(HaveField("ConsecutiveFailures", int32(4))))
		}).WithTimeout(2 * time.Second).Should(Succeed())
	})
})
