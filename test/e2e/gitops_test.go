package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// The samples name the namespace demo, the local system's OU.
var _ = Describe("Triggers kept in Git and applied with kubectl", Ordered, func() {
	const ou = "demo"
	var (
		pub *natsPublisher
		// hotLead is the Hot Lead Alert sample, and hotLeadFile its file.
		hotLead, hotLeadFile string
	)

	BeforeAll(func() {
		hotLeadFile = filepath.Join(repoRoot, "config", "samples", "triggers_v1alpha1_milestonetrigger_hot_lead_alert.yaml")
		newOU(ou)
		pub = connectNATS()
		DeferCleanup(pub.close)
		data, err := os.ReadFile(hotLeadFile)
		Expect(err).NotTo(HaveOccurred())
		hotLead = string(data)
		Expect(hotLead).To(ContainSubstring("scoreThreshold: 75\n"))
	})

	It("applies the samples, Secrets included, and shows them Ready", func() {
		out := mustKubectl("", "apply", "-n", ou, "-f", filepath.Join(repoRoot, "config", "samples"))
		for _, name := range []string{"hot-lead-alert", "pricing-interest", "enterprise-ready"} {
			Expect(out).To(ContainSubstring("milestonetrigger.triggers.leadvibe.io/" + name + " created"))
			waitReady(ou, name, "True", "Accepted")
		}
		Expect(out).To(ContainSubstring("secret/crm-webhook created"))

		rows := getTriggers(ou)
		Expect(rows).To(HaveLen(3))
		Expect(rows["hot-lead-alert"]).To(SatisfyAll(
			HaveKeyWithValue("DISPLAY NAME", "Hot Lead Alert"),
			HaveKeyWithValue("EVENT TYPE", "demo_request"),
			HaveKeyWithValue("THRESHOLD", "75"),
			HaveKeyWithValue("ACTIVE", "true"),
			HaveKeyWithValue("FIRED", "0"),
			HaveKeyWithValue("READY", "True"),
		))
		Expect(rows["enterprise-ready"]).To(HaveKeyWithValue("READY", "True"), "its URL and signing secret come from the sample Secret")
	})

	It("fires the samples as the README's walk-through shows, and emails with their subjects", func() {
		// A page view at 80 crosses Pricing Interest's 40 (a page-view
		// trigger: it fires) and Hot Lead Alert's 75, which waits for a
		// demo request; the demo request fires it.
		pub.mustPublish(ou,
			event{ID: "readme-1", LeadID: "ld_123", EventType: "page_view", Score: 80},
			event{ID: "readme-2", LeadID: "ld_123", EventType: "demo_request", Score: 82, Metadata: map[string]any{"source": "website", "page": "/pricing"}},
		)
		Eventually(func(g Gomega) {
			sales := mailbox.received("sales@example.com")
			g.Expect(sales).To(HaveLen(1))
			g.Expect(sales[0].Subject).To(Equal("Hot Lead Alert"))
			g.Expect(string(sales[0].Data)).To(ContainSubstring("A lead just crossed the 75-point threshold!"))
			for _, to := range []string{"marketing@example.com", "sdr-team@example.com"} {
				pricing := mailbox.received(to)
				g.Expect(pricing).To(HaveLen(1))
				g.Expect(pricing[0].Subject).To(Equal("A lead is reading the pricing page"))
			}
		}).Should(Succeed())
		Eventually(func(g Gomega) {
			rows := getTriggers(ou)
			g.Expect(rows["hot-lead-alert"]).To(HaveKeyWithValue("FIRED", "1"))
			g.Expect(rows["pricing-interest"]).To(HaveKeyWithValue("FIRED", "1"))
			g.Expect(rows["enterprise-ready"]).To(HaveKeyWithValue("FIRED", "0"))
		}).Should(Succeed())
		Expect(mustKubectl("", "-n", ou, "get", "mt", "hot-lead-alert", "-o", "jsonpath={.status.lastFiring.eventID} {.status.lastFiring.leadID}")).
			To(Equal("readme-2 ld_123"))
	})

	It("re-applies a trigger with another threshold, which does not fire for a lead already above it", func() {
		mustKubectl(strings.Replace(hotLead, "scoreThreshold: 75\n", "scoreThreshold: 80\n", 1), "apply", "-f", "-")
		Expect(mustKubectl("", "-n", ou, "get", "mt", "hot-lead-alert", "-o", "jsonpath={.spec.scoreThreshold}")).To(Equal("80"))
		waitReady(ou, "hot-lead-alert", "True", "Accepted")
		Expect(getTriggers(ou)["hot-lead-alert"]).To(HaveKeyWithValue("THRESHOLD", "80"))

		// ld_123 is at 82, above the new threshold: no crossing, no email.
		pub.mustPublish(ou, event{ID: "readme-3", LeadID: "ld_123", EventType: "demo_request", Score: 85})
		// A lead below it crosses it.
		pub.mustPublish(ou, event{ID: "readme-4", LeadID: "ld_456", EventType: "demo_request", Score: 80})
		Eventually(func() []receivedMail { return mailbox.received("sales@example.com") }).Should(HaveLen(2))
		Consistently(func() []receivedMail { return mailbox.received("sales@example.com") }, 2*time.Second).Should(HaveLen(2))
		Expect(mailbox.received("sales@example.com")[1].Data).To(ContainSubstring("ld_456"))
	})

	It("deactivates a trigger with active: false", func() {
		inactive := strings.Replace(hotLead, "scoreThreshold: 75\n", "scoreThreshold: 80\n  active: false\n", 1)
		mustKubectl(inactive, "apply", "-f", "-")
		waitReady(ou, "hot-lead-alert", "True", "Inactive")
		Expect(getTriggers(ou)["hot-lead-alert"]).To(SatisfyAll(HaveKeyWithValue("ACTIVE", "false"), HaveKeyWithValue("READY", "True")))

		// An inactive trigger does not fire. The demo request leaves
		// Pricing Interest's crossing pending, and the page view fires it.
		pub.mustPublish(ou,
			event{ID: "readme-5", LeadID: "ld_789", EventType: "demo_request", Score: 99},
			event{ID: "readme-6", LeadID: "ld_789", EventType: "page_view", Score: 100},
		)
		Eventually(func() []receivedMail { return mailbox.received("marketing@example.com") }).Should(HaveLen(2), "Pricing Interest is active")
		Consistently(func() []receivedMail { return mailbox.received("sales@example.com") }, 2*time.Second).Should(HaveLen(2))
	})

	It("deletes a trigger", func() {
		mustKubectl("", "delete", "-n", ou, "-f", hotLeadFile)
		_, err := kubectl("", "-n", ou, "get", "mt", "hot-lead-alert")
		Expect(err).To(MatchError(ContainSubstring("NotFound")))
		rows := getTriggers(ou)
		Expect(rows).To(HaveLen(2))
		Expect(rows).NotTo(HaveKey("hot-lead-alert"))
	})
})

// getTriggers runs `kubectl get mt -n ou` and returns its table, a row by
// trigger name, each cell by column header.
func getTriggers(ou string) map[string]map[string]string {
	GinkgoHelper()
	rows := map[string]map[string]string{}
	for _, row := range kubectlTable("get", "mt", "-n", ou) {
		rows[row["NAME"]] = row
	}
	return rows
}
