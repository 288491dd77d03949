package controllers

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	triggersv1alpha1 "github.com/leadvibe/milestone-triggers-operator/api/v1alpha1"
	"github.com/leadvibe/milestone-triggers-operator/internal/ledger"
	"github.com/leadvibe/milestone-triggers-operator/internal/notify"
	"github.com/leadvibe/milestone-triggers-operator/internal/notify/safehttp"
	"github.com/leadvibe/milestone-triggers-operator/internal/notify/safehttp/safehttptest"
	"github.com/leadvibe/milestone-triggers-operator/internal/notify/webhook"
	"github.com/leadvibe/milestone-triggers-operator/internal/triggerset"
)

var _ = Describe("Delivery health in status", func() {
	It("reports failures, dead letters and recovery per channel", func() {
		ns := newNamespace()
		mt := validTrigger(ns, "health")
		Expect(k8sClient.Create(suiteCtx, mt)).To(Succeed())
		expectReady(keyOf(mt), metav1.ConditionTrue, triggersv1alpha1.ReasonAccepted)

		at := time.Now()
		attempt := func(channel, err, outcome string) notify.Attempt {
			return notify.Attempt{FiringID: "f", OU: ns, Trigger: mt.Name, Channel: channel, Error: err, Outcome: outcome, At: at}
		}
		recordAttempt(attempt(notify.ChannelWebhook, "status 503", notify.OutcomePending))
		recordAttempt(attempt(notify.ChannelWebhook, "status 503", notify.OutcomePending))
		recordAttempt(attempt(notify.ChannelEmail, "", notify.OutcomeDelivered))
		recordAttempt(attempt(notify.ChannelSlack, "status 404", notify.OutcomeDeadLettered))

		health := func(g Gomega, channel triggersv1alpha1.Channel) triggersv1alpha1.DeliveryHealth {
			g.Expect(k8sClient.Get(suiteCtx, keyOf(mt), mt)).To(Succeed())
			for _, h := range mt.Status.Deliveries {
				if h.Channel == channel {
					return h
				}
			}
			g.Expect(errors.New("no entry")).NotTo(HaveOccurred(), string(channel))
			return triggersv1alpha1.DeliveryHealth{}
		}
		Eventually(func(g Gomega) {
			webhook := health(g, triggersv1alpha1.ChannelWebhook)
			g.Expect(webhook.ConsecutiveFailures).To(Equal(int32(2)))
			g.Expect(webhook.LastError).To(Equal("status 503"))
			g.Expect(webhook.LastErrorTime).NotTo(BeNil())
			email := health(g, triggersv1alpha1.ChannelEmail)
			g.Expect(email.ConsecutiveFailures).To(BeZero())
			g.Expect(email.LastSuccessTime).NotTo(BeNil())
			slack := health(g, triggersv1alpha1.ChannelSlack)
			g.Expect(slack.DeadLettered).To(Equal(int64(1)))
			delivering := meta.FindStatusCondition(mt.Status.Conditions, triggersv1alpha1.DeliveringCondition)
			g.Expect(delivering).NotTo(BeNil())
			g.Expect(delivering.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(delivering.Message).To(ContainSubstring("consecutive failed attempts"))
		}).WithTimeout(10 * time.Second).Should(Succeed())

		recordAttempt(attempt(notify.ChannelWebhook, "", notify.OutcomeDelivered))
		Eventually(func(g Gomega) {
			webhook := health(g, triggersv1alpha1.ChannelWebhook)
			g.Expect(webhook.ConsecutiveFailures).To(BeZero())
			g.Expect(webhook.LastSuccessTime).NotTo(BeNil())
			g.Expect(webhook.LastError).To(Equal("status 503"), "the last error stays visible after recovery")
		}).WithTimeout(10 * time.Second).Should(Succeed())

		By("turning Delivering True once every channel delivers again, with Ready untouched")
		recordAttempt(attempt(notify.ChannelSlack, "", notify.OutcomeDelivered))
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(suiteCtx, keyOf(mt), mt)).To(Succeed())
			delivering := meta.FindStatusCondition(mt.Status.Conditions, triggersv1alpha1.DeliveringCondition)
			g.Expect(delivering).NotTo(BeNil())
			g.Expect(delivering.Status).To(Equal(metav1.ConditionTrue))
			g.Expect(delivering.Reason).To(Equal(triggersv1alpha1.ReasonDelivered))
			g.Expect(meta.IsStatusConditionTrue(mt.Status.Conditions, triggersv1alpha1.ReadyCondition)).To(BeTrue())
		}).WithTimeout(10 * time.Second).Should(Succeed())
	})

	It("shows the operator's reason for a hostile receiver's answer, never the answer", func() {
		const marker = "MARKER-controllers-91e2-RECEIVER"
		rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("X-Upstream", marker)
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(marker + " from 10.0.0.7"))
		}))
		DeferCleanup(rcv.Close)

		ns := newNamespace()
		mt := validTrigger(ns, "hostile")
		Expect(k8sClient.Create(suiteCtx, mt)).To(Succeed())
		expectReady(keyOf(mt), metav1.ConditionTrue, triggersv1alpha1.ReasonAccepted)

		// One attempt as the dispatcher makes and reports it, through the
		// real webhook notifier and a real receiver.
		n := webhook.New(safehttp.NewClient(safehttptest.Policy(), 5*time.Second))
		def := triggerset.Definition{Key: keyOf(mt), Destinations: triggerset.Destinations{Webhook: triggerset.NewCredential(rcv.URL + "/hook")}}
		_, err := n.Send(suiteCtx, notify.Delivery{Firing: ledger.Firing{ID: "mtf_hostile", OU: ns, Trigger: mt.Name}, Trigger: def, Attempt: 1, Now: time.Now()})
		Expect(err).To(HaveOccurred())
		Expect(notify.Detail(err)).To(ContainSubstring(marker), "the operator's logs may keep the excerpt")
		recordAttempt(notify.Attempt{FiringID: "mtf_hostile", OU: ns, Trigger: mt.Name, Channel: notify.ChannelWebhook,
			Error: err.Error(), StatusCode: notify.StatusCode(err), Outcome: notify.OutcomePending, At: time.Now()})

		const want = "the receiver answered 503 Service Unavailable with Retry-After 7s"
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(suiteCtx, keyOf(mt), mt)).To(Succeed())
			g.Expect(mt.Status.Deliveries).To(ConsistOf(HaveField("LastError", want)))
			delivering := meta.FindStatusCondition(mt.Status.Conditions, triggersv1alpha1.DeliveringCondition)
			g.Expect(delivering).NotTo(BeNil())
			g.Expect(delivering.Message).To(ContainSubstring("last error: " + want))
		}).WithTimeout(10 * time.Second).Should(Succeed())
		status, err := json.Marshal(mt.Status)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(status)).NotTo(SatisfyAny(ContainSubstring(marker), ContainSubstring("10.0.0.7")))
	})
})
