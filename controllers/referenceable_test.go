package controllers

import (
	"errors"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	triggersv1alpha1 "github.com/leadvibe/milestone-triggers-operator/api/v1alpha1"
	"github.com/leadvibe/milestone-triggers-operator/internal/resolve"
)

// A Secret opts in to being referenced by triggers with the label
// triggers.leadvibe.io/referenceable: "true"; without it a trigger author
// who may not read the Secret could still have the operator sign with it
// or send to the URL it holds.
var _ = Describe("Secrets that triggers may reference", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	const url = "https://crm.example.com/hooks/leadvibe?token=s3cr3t-token"

	// unlabeled is a Secret of another team, without the label.
	unlabeled := func(name string) {
		s := secret(ns, name, map[string]string{"url": url, "signing-secret": demoSigningSecret})
		s.Labels = nil
		Expect(k8sClient.Create(suiteCtx, s)).To(Succeed())
	}
	signedTrigger := func(name, secretName string) *triggersv1alpha1.MilestoneTrigger {
		mt := validTrigger(ns, name)
		mt.Spec.WebhookSigningSecretRef = &triggersv1alpha1.SecretKeyRef{Name: secretName, Key: "signing-secret"}
		Expect(k8sClient.Create(suiteCtx, mt)).To(Succeed())
		return mt
	}

	It("refuses a Secret without the label, naming the field and the Secret but nothing it holds", func() {
		unlabeled("other-team")
		mt := signedTrigger("borrows-a-secret", "other-team")

		c := expectReady(keyOf(mt), metav1.ConditionFalse, triggersv1alpha1.ReasonSecretNotReferenceable)
		Expect(c.Message).To(ContainSubstring(`Secret "other-team"`))
		Expect(c.Message).To(ContainSubstring("spec.webhookSigningSecretRef"))
		Expect(c.Message).To(ContainSubstring(`triggers.leadvibe.io/referenceable=true`))
		Expect(c.Message).NotTo(ContainSubstring("whsec_"))
		_, ok := triggers.Get(keyOf(mt))
		Expect(ok).To(BeFalse(), "a trigger borrowing a Secret must not be evaluated")
	})

	It("does not tell which keys an unlabeled Secret holds", func() {
		unlabeled("other-team")
		mt := validTrigger(ns, "probes-keys")
		mt.Spec.WebhookURL = nil
		mt.Spec.WebhookURLSecretRef = &triggersv1alpha1.SecretKeyRef{Name: "other-team", Key: "no-such-key"}
		Expect(k8sClient.Create(suiteCtx, mt)).To(Succeed())
		expectReady(keyOf(mt), metav1.ConditionFalse, triggersv1alpha1.ReasonSecretNotReferenceable)
	})

	It("accepts the trigger once the Secret is labeled, and drops it when the label goes", func() {
		unlabeled("crm-webhook")
		mt := validTrigger(ns, "labeled-later")
		mt.Spec.WebhookURL = nil
		mt.Spec.WebhookURLSecretRef = &triggersv1alpha1.SecretKeyRef{Name: "crm-webhook", Key: "url"}
		Expect(k8sClient.Create(suiteCtx, mt)).To(Succeed())
		expectReady(keyOf(mt), metav1.ConditionFalse, triggersv1alpha1.ReasonSecretNotReferenceable)

		s := secret(ns, "crm-webhook", nil)
		Expect(k8sClient.Get(suiteCtx, keyOf(s), s)).To(Succeed())
		s.Labels = map[string]string{triggersv1alpha1.ReferenceableLabel: "true"}
		Expect(k8sClient.Update(suiteCtx, s)).To(Succeed())
		// The Secret watch, not a resync, brings the trigger back.
		expectReady(keyOf(mt), metav1.ConditionTrue, triggersv1alpha1.ReasonAccepted)
		d, ok := triggers.Get(keyOf(mt))
		Expect(ok).To(BeTrue())
		Expect(d.Destinations.Webhook.Reveal()).To(Equal(url))

		Expect(k8sClient.Get(suiteCtx, keyOf(s), s)).To(Succeed())
		s.Labels[triggersv1alpha1.ReferenceableLabel] = "false"
		Expect(k8sClient.Update(suiteCtx, s)).To(Succeed())
		expectReady(keyOf(mt), metav1.ConditionFalse, triggersv1alpha1.ReasonSecretNotReferenceable)
		_, ok = triggers.Get(keyOf(mt))
		Expect(ok).To(BeFalse())
	})

	It("lets a single-tenant cluster turn the check off (--require-referenceable-secrets=false)", func() {
		unlabeled("shared")
		mt := signedTrigger("single-tenant", "shared")
		expectReady(keyOf(mt), metav1.ConditionFalse, triggersv1alpha1.ReasonSecretNotReferenceable)

		// The resolver the reconciler and simulate share, against the real
		// API server, once with the check and once without.
		var config *resolve.ConfigError
		_, err := resolve.Resolver{Reader: k8sClient}.Definition(suiteCtx, mt)
		Expect(errors.As(err, &config)).To(BeTrue(), "got %v", err)
		Expect(config.Reason).To(Equal(triggersv1alpha1.ReasonSecretNotReferenceable))

		d, err := resolve.Resolver{Reader: k8sClient, AllowUnlabeledSecrets: true}.Definition(suiteCtx, mt)
		Expect(err).NotTo(HaveOccurred())
		Expect(d.Destinations.WebhookSigningSecrets).To(HaveLen(1))
		Expect(d.Destinations.WebhookSigningSecrets[0].Reveal()).To(Equal(demoSigningSecret))
	})
})
