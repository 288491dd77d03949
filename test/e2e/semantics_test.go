package e2e

import (
	"encoding/json"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/leadvibe/milestone-triggers-operator/internal/localsystem"
)

var _ = Describe("Firing semantics, end to end", Ordered, func() {
	const (
		ou        = "e2e-semantics"
		salesAddr = "sales@semantics.e2e.example"
	)
	hot := trigger{Name: "hot", DisplayName: "Hot Lead", EventType: "demo_request", Threshold: 75, Webhook: true,
		Emails: []string{salesAddr}, EmailSubject: "E2E hot lead"}
	warm := trigger{Name: "warm", DisplayName: "Warm Lead", Threshold: 40, Webhook: true}
	const createdAt = "2025-01-15T10:35:00Z"

	// Each lead shows one part of SPEC section 4. Comments say what fires.
	viaREST := []event{
		{ID: "p1", LeadID: "ld-pending", EventType: "page_view", Score: 80},   // warm; hot's crossing is pending
		{ID: "p2", LeadID: "ld-pending", EventType: "form_submit", Score: 85}, // nothing: still pending
		// hot, from the pending crossing
		{ID: "p3", LeadID: "ld-pending", EventType: "demo_request", Score: 86, CreatedAt: createdAt, Metadata: map[string]any{"source": "website", "page": "/pricing"}},
		{ID: "p4", LeadID: "ld-pending", EventType: "demo_request", Score: 90}, // nothing: once per crossing
		{ID: "p5", LeadID: "ld-pending", EventType: "page_view", Score: 30},    // nothing: both re-arm
		{ID: "p6", LeadID: "ld-pending", EventType: "demo_request", Score: 78}, // warm and hot: new crossings
		{ID: "p7", LeadID: "ld-pending", EventType: "page_view", Score: 100},   // nothing
	}
	viaNATS := []event{
		{ID: "c1", LeadID: "ld-cleared", EventType: "page_view", Score: 80},    // warm; hot pending
		{ID: "c2", LeadID: "ld-cleared", EventType: "page_view", Score: 60},    // nothing: hot's pending crossing cleared
		{ID: "c3", LeadID: "ld-cleared", EventType: "demo_request", Score: 74}, // nothing: below 75, nothing pending
		{ID: "f1", LeadID: "ld-first", EventType: "demo_request", Score: 90},   // warm and hot: an unseen lead is below
		{ID: "n1", LeadID: "ld-never", EventType: "page_view", Score: 80},      // warm; hot pending
		{ID: "n2", LeadID: "ld-never", EventType: "form_submit", Score: 95},    // nothing
		{ID: "n3", LeadID: "ld-never", EventType: "page_view", Score: 99},      // nothing
	}
	want := []crossing{
		{"warm", "ld-pending", "p1"}, {"hot", "ld-pending", "p3"}, {"hot", "ld-pending", "p6"}, {"warm", "ld-pending", "p6"},
		{"warm", "ld-cleared", "c1"},
		{"hot", "ld-first", "f1"}, {"warm", "ld-first", "f1"},
		{"warm", "ld-never", "n1"},
	}

	BeforeAll(func() {
		newOU(ou)
		apply(ou, hot, warm)
	})

	It("agrees with the reference model on what fires", func() {
		model := expectedCrossings([]refTrigger{{ID: "hot", Threshold: 75, EventType: "demo_request"}, {ID: "warm", Threshold: 40}},
			append(append([]event{}, viaREST...), viaNATS...))
		Expect(model).To(ConsistOf(want))
	})

	It("delivers one signed webhook per crossing, from POST /events and from NATS", func() {
		// A tool that only publishes events: bound to the event-publisher
		// role alone.
		publisher := apiClient{token: serviceAccountToken(ou, "e2e-publisher", roles[localsystem.EventPublisherRoleFile])}
		publisher.postEvents(viaREST...)
		pub := connectNATS()
		defer pub.close()
		pub.mustPublish(ou, viaNATS...)

		// Then nothing else arrives: no refire on further events above the
		// threshold, nothing for a crossing left pending.
		expectDeliveredExactlyOnce(ou, want)
	})

	It("posts the seed's payload", func() {
		var p3 webhookRequest
		for _, r := range receiver.received(ou) {
			if r.Payload.Event.ID == "p3" {
				p3 = r
			}
		}
		Expect(p3.ContentType).To(Equal("application/json"))
		Expect(p3.SignatureError).NotTo(HaveOccurred())
		Expect(p3.Payload.Trigger.ID).To(Equal("hot"))
		Expect(p3.Payload.Trigger.Name).To(Equal("Hot Lead"))
		Expect(p3.Payload.Trigger.Type).To(Equal("milestone"))
		Expect(p3.Payload.Event.LeadID).To(Equal("ld-pending"))
		Expect(p3.Payload.Event.EventType).To(Equal("demo_request"))
		Expect(p3.Payload.Event.CreatedAt).To(Equal(createdAt))
		Expect(p3.Payload.Score).To(BeEquivalentTo(86))
		var metadata map[string]any
		Expect(json.Unmarshal(p3.Payload.Event.Metadata, &metadata)).To(Succeed())
		Expect(metadata).To(Equal(map[string]any{"source": "website", "page": "/pricing"}))
	})

	It("emails each firing of a trigger with emails, with its subject", func() {
		hotIDs := map[string]bool{}
		for _, r := range receiver.received(ou) {
			if r.Payload.Trigger.ID == "hot" {
				hotIDs[r.ID] = true
			}
		}
		Expect(hotIDs).To(HaveLen(3))
		Eventually(func(g Gomega) {
			mails := mailbox.received(salesAddr)
			g.Expect(mails).To(HaveLen(3))
			for _, m := range mails {
				g.Expect(m.Subject).To(Equal("E2E hot lead"))
				g.Expect(m.From).To(Equal("triggers@e2e.example"))
				g.Expect(hotIDs).To(HaveKey(m.FiringID), "the email of a firing carries the webhook's id")
			}
		}).Should(Succeed())
	})

	It("counts the firings in each trigger's status", func() {
		Eventually(func() (string, error) { return firedCount(ou, "hot") }).Should(Equal("3"))
		Eventually(func() (string, error) { return firedCount(ou, "warm") }).Should(Equal("5"))
	})
})
