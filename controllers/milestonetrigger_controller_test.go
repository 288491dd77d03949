package controllers

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	triggersv1alpha1 "github.com/leadvibe/milestone-triggers-operator/api/v1alpha1"
)

const demoSigningSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

var _ = Describe("MilestoneTrigger controller", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	It("accepts a valid trigger and hands its definition to the trigger set", func() {
		mt := validTrigger(ns, "hot-lead-alert")
		Expect(k8sClient.Create(suiteCtx, mt)).To(Succeed())

		c := expectReady(keyOf(mt), metav1.ConditionTrue, triggersv1alpha1.ReasonAccepted)
		Expect(c.Message).NotTo(BeEmpty())

		Expect(k8sClient.Get(suiteCtx, keyOf(mt), mt)).To(Succeed())
		Expect(mt.Spec.Active).To(Equal(ptr.To(true)), "active defaults to true")
		d, ok := triggers.Get(keyOf(mt))
		Expect(ok).To(BeTrue())
		Expect(d.UID).To(Equal(mt.UID))
		Expect(d.Generation).To(Equal(mt.Generation))
		Expect(d.DisplayName).To(Equal("Hot Lead Alert"))
		Expect(d.EventType).To(Equal("demo_request"))
		Expect(d.Threshold).To(Equal(int64(75)))
		Expect(d.Active).To(BeTrue())
		Expect(d.Epoch).To(Equal(uint64(1)), "armed at the first generation")
		Expect(mt.Status.ArmedGeneration).To(Equal(int64(1)))
		Expect(d.Destinations.Webhook.Reveal()).To(Equal("https://hooks.example.com/leadvibe"))
		Expect(d.Destinations.Emails).To(Equal([]string{"sales@example.com"}))
	})

	It("takes an edit of the threshold into the trigger set with the new generation", func() {
		mt := validTrigger(ns, "edited")
		Expect(k8sClient.Create(suiteCtx, mt)).To(Succeed())
		expectReady(keyOf(mt), metav1.ConditionTrue, triggersv1alpha1.ReasonAccepted)

		patch := client.MergeFrom(mt.DeepCopy())
		mt.Spec.ScoreThreshold = ptr.To[int64](90)
		Expect(k8sClient.Patch(suiteCtx, mt, patch)).To(Succeed())
		Eventually(func(g Gomega) {
			d, ok := triggers.Get(keyOf(mt))
			g.Expect(ok).To(BeTrue())
			g.Expect(d.Threshold).To(Equal(int64(90)))
			g.Expect(d.Generation).To(Equal(mt.Generation))
		}).Should(Succeed())
		expectReady(keyOf(mt), metav1.ConditionTrue, triggersv1alpha1.ReasonAccepted)
	})

	It("marks a deactivated trigger inactive in the trigger set, and removes a deleted one", func() {
		mt := validTrigger(ns, "deactivated")
		Expect(k8sClient.Create(suiteCtx, mt)).To(Succeed())
		expectReady(keyOf(mt), metav1.ConditionTrue, triggersv1alpha1.ReasonAccepted)

		patch := client.MergeFrom(mt.DeepCopy())
		mt.Spec.Active = ptr.To(false)
		Expect(k8sClient.Patch(suiteCtx, mt, patch)).To(Succeed())
		Eventually(func(g Gomega) {
			d, ok := triggers.Get(keyOf(mt))
			g.Expect(ok).To(BeTrue())
			g.Expect(d.Active).To(BeFalse())
		}).Should(Succeed())
		expectReady(keyOf(mt), metav1.ConditionTrue, triggersv1alpha1.ReasonInactive)
		Expect(k8sClient.Get(suiteCtx, keyOf(mt), mt)).To(Succeed())
		Expect(mt.Status.ArmedGeneration).To(BeZero())

		By("re-activating it in a new epoch, so crossings left pending before are dropped")
		patch = client.MergeFrom(mt.DeepCopy())
		mt.Spec.Active = ptr.To(true)
		Expect(k8sClient.Patch(suiteCtx, mt, patch)).To(Succeed())
		Eventually(func(g Gomega) {
			d, ok := triggers.Get(keyOf(mt))
			g.Expect(ok).To(BeTrue())
			g.Expect(d.Active).To(BeTrue())
			g.Expect(d.Epoch).To(Equal(uint64(mt.Generation)))
			g.Expect(d.Epoch).To(BeNumerically(">", 1))
		}).Should(Succeed())

		Expect(k8sClient.Delete(suiteCtx, mt)).To(Succeed())
		Eventually(func() bool {
			_, ok := triggers.Get(keyOf(mt))
			return ok
		}).Should(BeFalse())
	})

	It("is not ready while a referenced Secret is missing, and becomes ready when it is created", func() {
		mt := validTrigger(ns, "secret-later")
		mt.Spec.WebhookURL = nil
		mt.Spec.WebhookURLSecretRef = &triggersv1alpha1.SecretKeyRef{Name: "crm-webhook", Key: "url"}
		mt.Spec.WebhookSigningSecretRef = &triggersv1alpha1.SecretKeyRef{Name: "crm-webhook", Key: "signing-secret"}
		Expect(k8sClient.Create(suiteCtx, mt)).To(Succeed())

		c := expectReady(keyOf(mt), metav1.ConditionFalse, triggersv1alpha1.ReasonSecretNotFound)
		Expect(c.Message).To(ContainSubstring(`Secret "crm-webhook"`))
		Expect(c.Message).To(ContainSubstring("spec.webhookURLSecretRef"))
		_, ok := triggers.Get(keyOf(mt))
		Expect(ok).To(BeFalse(), "a trigger that is not ready must not be evaluated")

		const url = "https://crm.example.com/hooks/leadvibe?token=s3cr3t-token"
		Expect(k8sClient.Create(suiteCtx, secret(ns, "crm-webhook", map[string]string{
			"url":            url,
			"signing-secret": demoSigningSecret,
		}))).To(Succeed())

		// No resync happens within this wait: only the Secret watch can
		// bring the trigger back.
		expectReady(keyOf(mt), metav1.ConditionTrue, triggersv1alpha1.ReasonAccepted)
		d, ok := triggers.Get(keyOf(mt))
		Expect(ok).To(BeTrue())
		Expect(d.Destinations.Webhook.Reveal()).To(Equal(url))
		Expect(d.Destinations.WebhookSigningSecrets).To(HaveLen(1))
		Expect(d.Destinations.WebhookSigningSecrets[0].Reveal()).To(Equal(demoSigningSecret))
	})

	It("reports a missing key, then accepts the trigger once the Secret gains it", func() {
		Expect(k8sClient.Create(suiteCtx, secret(ns, "chat", map[string]string{"slack": "https://hooks.slack.com/services/T0/B0/X"}))).To(Succeed())
		mt := validTrigger(ns, "chat")
		mt.Spec.Slack = &triggersv1alpha1.ChatDestination{WebhookURLSecretRef: &triggersv1alpha1.SecretKeyRef{Name: "chat", Key: "slack"}}
		mt.Spec.Teams = &triggersv1alpha1.ChatDestination{WebhookURLSecretRef: &triggersv1alpha1.SecretKeyRef{Name: "chat", Key: "teams"}}
		Expect(k8sClient.Create(suiteCtx, mt)).To(Succeed())

		c := expectReady(keyOf(mt), metav1.ConditionFalse, triggersv1alpha1.ReasonSecretKeyNotFound)
		Expect(c.Message).To(ContainSubstring(`no key "teams"`))
		Expect(c.Message).To(ContainSubstring("spec.teams.webhookURLSecretRef"))

		s := secret(ns, "chat", nil)
		Expect(k8sClient.Get(suiteCtx, keyOf(s), s)).To(Succeed())
		s.Data["teams"] = []byte("https://prod-00.westus.logic.azure.com/workflows/x?sig=y")
		Expect(k8sClient.Update(suiteCtx, s)).To(Succeed())

		expectReady(keyOf(mt), metav1.ConditionTrue, triggersv1alpha1.ReasonAccepted)
		d, _ := triggers.Get(keyOf(mt))
		Expect(d.Destinations.Slack.Reveal()).To(Equal("https://hooks.slack.com/services/T0/B0/X"))
		Expect(d.Destinations.Teams.Reveal()).To(Equal("https://prod-00.westus.logic.azure.com/workflows/x?sig=y"))
	})

	It("refuses a Secret value it cannot use without repeating the value", func() {
		const bad = "ftp://files.example.com/s3cr3t-token"
		Expect(k8sClient.Create(suiteCtx, secret(ns, "hook", map[string]string{"url": bad}))).To(Succeed())
		mt := validTrigger(ns, "bad-secret")
		mt.Spec.WebhookURL = nil
		mt.Spec.WebhookURLSecretRef = &triggersv1alpha1.SecretKeyRef{Name: "hook", Key: "url"}
		Expect(k8sClient.Create(suiteCtx, mt)).To(Succeed())

		c := expectReady(keyOf(mt), metav1.ConditionFalse, triggersv1alpha1.ReasonInvalidSecretValue)
		Expect(c.Message).To(ContainSubstring("not an http or https URL"))
		Expect(c.Message).NotTo(ContainSubstring("s3cr3t"))
	})

	It("drops a trigger from the trigger set when its Secret is deleted", func() {
		s := secret(ns, "hook", map[string]string{"url": "https://crm.example.com/hook"})
		Expect(k8sClient.Create(suiteCtx, s)).To(Succeed())
		mt := validTrigger(ns, "secret-deleted")
		mt.Spec.WebhookURL = nil
		mt.Spec.WebhookURLSecretRef = &triggersv1alpha1.SecretKeyRef{Name: "hook", Key: "url"}
		Expect(k8sClient.Create(suiteCtx, mt)).To(Succeed())
		expectReady(keyOf(mt), metav1.ConditionTrue, triggersv1alpha1.ReasonAccepted)

		Expect(k8sClient.Delete(suiteCtx, s)).To(Succeed())
		expectReady(keyOf(mt), metav1.ConditionFalse, triggersv1alpha1.ReasonSecretNotFound)
		_, ok := triggers.Get(keyOf(mt))
		Expect(ok).To(BeFalse())
	})

	It("writes spec and status through their own subresources", func() {
		mt := validTrigger(ns, "subresources")
		Expect(k8sClient.Create(suiteCtx, mt)).To(Succeed())
		expectReady(keyOf(mt), metav1.ConditionTrue, triggersv1alpha1.ReasonAccepted)
		Expect(k8sClient.Get(suiteCtx, keyOf(mt), mt)).To(Succeed())
		generation := mt.Generation

		By("ignoring status in a write to the main resource")
		fromSpec := mt.DeepCopy()
		fromSpec.Status.FiredCount = 41
		fromSpec.Spec.EmailSubject = "Changed through the main resource"
		Expect(k8sClient.Update(suiteCtx, fromSpec)).To(Succeed())
		Expect(fromSpec.Status.FiredCount).To(BeZero())
		Expect(fromSpec.Spec.EmailSubject).To(Equal("Changed through the main resource"))
		Expect(fromSpec.Generation).To(Equal(generation + 1))

		By("ignoring spec in a write to the status subresource")
		fromStatus := fromSpec.DeepCopy()
		patch := client.MergeFrom(fromSpec.DeepCopy())
		fromStatus.Status.FiredCount = 7
		now := metav1.NewTime(time.Now().Truncate(time.Second))
		fromStatus.Status.LastFiredTime = &now
		fromStatus.Status.LastFiring = &triggersv1alpha1.FiringSummary{LeadID: "ld_123", EventID: "evt-789", EventType: "demo_request", Score: 82}
		fromStatus.Spec.EmailSubject = "Changed through status"
		Expect(k8sClient.Status().Patch(suiteCtx, fromStatus, patch)).To(Succeed())

		stored := &triggersv1alpha1.MilestoneTrigger{}
		Expect(k8sClient.Get(suiteCtx, keyOf(mt), stored)).To(Succeed())
		Expect(stored.Status.FiredCount).To(Equal(int64(7)))
		Expect(stored.Status.LastFiring.LeadID).To(Equal("ld_123"))
		Expect(stored.Spec.EmailSubject).To(Equal("Changed through the main resource"))
		Expect(stored.Generation).To(Equal(generation+1), "a status write does not bump the generation")

		By("keeping the firing summary when the controller reconciles the new generation")
		expectReady(keyOf(mt), metav1.ConditionTrue, triggersv1alpha1.ReasonAccepted)
		Expect(k8sClient.Get(suiteCtx, keyOf(mt), stored)).To(Succeed())
		Expect(stored.Status.FiredCount).To(Equal(int64(7)))
	})
})
