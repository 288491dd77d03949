package e2e

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/leadvibe/milestone-triggers-operator/internal/localsystem"
)

var _ = Describe("Delivery health, as kubectl shows it", func() {
	It("shows a trigger with a dead receiver as not delivering, and kubectl get events says why", func() {
		const (
			ou   = "e2e-dead-receiver"
			name = "dead-receiver"
		)
		o := newOU(ou)
		// A port on 127.0.0.1 (allowed by --webhook-allow-cidrs) where
		// nothing listens any more: every attempt is refused.
		dead, err := localsystem.FreeLoopbackAddr()
		Expect(err).NotTo(HaveOccurred())
		apply(ou, trigger{Name: name, DisplayName: "Dead Receiver", Threshold: 50, Webhook: true, WebhookURL: "http://" + dead + "/hook"})

		o.api.postEvents(
			event{ID: "dead-1", LeadID: "ld-dead", EventType: "page_view", Score: 30},
			event{ID: "dead-2", LeadID: "ld-dead", EventType: "page_view", Score: 60},
		)

		// The first attempt is made at once and the second 5 s later (±10%);
		// the status is patched every 5 s (--status-update-interval), and
		// the third attempt waits 5 minutes, so for the rest of the spec the
		// webhook has failed twice in a row.
		By("showing Delivering False, with the failure, in kubectl get mt -o wide")
		Eventually(func(g Gomega) {
			rows := kubectlTable("get", "mt", name, "-n", ou, "-o", "wide")
			g.Expect(rows).To(HaveLen(1))
			g.Expect(rows[0]).To(SatisfyAll(
				HaveKeyWithValue("NAME", name),
				HaveKeyWithValue("FIRED", "1"),
				HaveKeyWithValue("READY", "True"),
				HaveKeyWithValue("DELIVERING", "False"),
				HaveKeyWithValue("DELIVERY MESSAGE", MatchRegexp(`^Channel webhook: [12] consecutive failed attempts; last error: connection refused$`)),
			))
		}).Should(Succeed())

		By("showing a DeliveryFailing Warning about the trigger in kubectl get events")
		Eventually(func(g Gomega) {
			g.Expect(kubectlTable("get", "events", "-n", ou)).To(ContainElement(SatisfyAll(
				HaveKeyWithValue("TYPE", "Warning"),
				HaveKeyWithValue("REASON", "DeliveryFailing"),
				HaveKeyWithValue("OBJECT", "milestonetrigger/"+name),
				HaveKeyWithValue("MESSAGE", "Channel webhook: 2 consecutive failed attempts; last error: connection refused"),
			)))
		}).Should(Succeed())
		Expect(kubectlTable("get", "mt", name, "-n", ou, "-o", "wide")[0]).To(SatisfyAll(
			HaveKeyWithValue("DELIVERING", "False"),
			HaveKeyWithValue("DELIVERY MESSAGE", "Channel webhook: 2 consecutive failed attempts; last error: connection refused"),
		))
	})
})
