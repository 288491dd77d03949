package controllers

import (
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	triggersv1alpha1 "github.com/leadvibe/milestone-triggers-operator/api/v1alpha1"
	"github.com/leadvibe/milestone-triggers-operator/internal/event"
	"github.com/leadvibe/milestone-triggers-operator/internal/ledger"
	"github.com/leadvibe/milestone-triggers-operator/internal/stream"
)

func publish(ou string, evs ...event.Event) {
	GinkgoHelper()
	for _, ev := range evs {
		_, err := stream.Publish(suiteCtx, eventStreams.Events, ou, ev)
		Expect(err).NotTo(HaveOccurred())
	}
}

func engagement(id, lead, typ string, score int64) event.Event {
	return event.Event{ID: id, LeadID: lead, EventType: typ, Score: score, CreatedAt: time.Now().UTC()}
}

var _ = Describe("Firings in status", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	It("records a firing in the trigger's status and as a Kubernetes Event", func() {
		mt := validTrigger(ns, "hot-lead-alert")
		Expect(k8sClient.Create(suiteCtx, mt)).To(Succeed())
		expectReady(keyOf(mt), metav1.ConditionTrue, triggersv1alpha1.ReasonAccepted)

		publish(ns,
			engagement("evt-1", "ld_123", "page_view", 60),
			engagement("evt-2", "ld_123", "page_view", 80),      // crossing, pending: the trigger wants demo_request
			engagement("evt-789", "ld_123", "demo_request", 82), // fires
			engagement("evt-4", "ld_123", "demo_request", 90),   // no refire above the threshold
		)

		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(suiteCtx, keyOf(mt), mt)).To(Succeed())
			g.Expect(mt.Status.FiredCount).To(Equal(int64(1)))
			g.Expect(mt.Status.LastFiredTime).NotTo(BeNil())
			g.Expect(mt.Status.LastFiring).NotTo(BeNil())
			g.Expect(*mt.Status.LastFiring).To(Equal(triggersv1alpha1.FiringSummary{
				LeadID: "ld_123", EventID: "evt-789", EventType: "demo_request", Score: 82,
				FiringID: ledger.FiringID(ns, string(mt.UID), "ld_123", "evt-789"),
			}))
		}).WithTimeout(20 * time.Second).Should(Succeed())

		Eventually(func(g Gomega) {
			var list eventsv1.EventList
			g.Expect(k8sClient.List(suiteCtx, &list, client.InNamespace(ns))).To(Succeed())
			g.Expect(list.Items).To(ContainElement(And(
				HaveField("Reason", "Fired"),
				HaveField("Regarding.Name", mt.Name),
				HaveField("Note", ContainSubstring("ld_123")),
			)))
		}).WithTimeout(20 * time.Second).Should(Succeed())

		Consistently(func(g Gomega) {
			g.Expect(k8sClient.Get(suiteCtx, keyOf(mt), mt)).To(Succeed())
			g.Expect(mt.Status.FiredCount).To(Equal(int64(1)))
		}).WithTimeout(2 * time.Second).Should(Succeed())
	})

	It("coalesces a burst of firings into a few status patches", func() {
		mt := validTrigger(ns, "burst")
		mt.Spec.EventType = ""
		mt.Spec.ScoreThreshold = ptr.To[int64](50)
		Expect(k8sClient.Create(suiteCtx, mt)).To(Succeed())
		expectReady(keyOf(mt), metav1.ConditionTrue, triggersv1alpha1.ReasonAccepted)

		const leads = 2000
		before, start := statusPatches.Load(), time.Now()
		for i := range leads {
			publish(ns, engagement(fmt.Sprintf("b-%d", i), fmt.Sprintf("lead-%d", i), "page_view", 99))
		}
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(suiteCtx, keyOf(mt), mt)).To(Succeed())
			g.Expect(mt.Status.FiredCount).To(Equal(int64(leads)))
		}).WithTimeout(60 * time.Second).Should(Succeed())
		patches, took := statusPatches.Load()-before, time.Since(start)
		GinkgoWriter.Printf("%d firings took %d status applies in %s (all triggers of the suite)\n", leads, patches, took.Round(time.Millisecond))
		// One apply per busy trigger per interval (500 ms in the suite),
		// however many firings: the burst is counted as it arrives.
		Expect(patches).To(BeNumerically("<=", int64(took/(500*time.Millisecond))+5), "a burst of %d firings must cost one apply per interval", leads)
		Expect(patches).To(BeNumerically("<", leads/10), "a burst of %d firings must not become one apply each", leads)
	})
})
