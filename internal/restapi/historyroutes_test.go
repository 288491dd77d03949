package restapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/leadvibe/milestone-triggers-operator/internal/event"
	"github.com/leadvibe/milestone-triggers-operator/internal/ledger"
	"github.com/leadvibe/milestone-triggers-operator/internal/notify"
	"github.com/leadvibe/milestone-triggers-operator/internal/record"
)

var _ = Describe("History: GET /milestone-events and GET /triggers/{id}/events", func() {
	page := func(r response) historyPage {
		GinkgoHelper()
		Expect(r.status).To(Equal(http.StatusOK), string(r.body))
		var p historyPage
		Expect(json.Unmarshal(r.body, &p)).To(Succeed())
		return p
	}

	It("serves the OU's firings and attempts, filtered and paginated, to whoever may read its triggers", func() {
		ou := newOU()
		base := time.Now().UTC().Truncate(time.Second)
		for i := range 4 {
			trigger := []string{"hot", "cold"}[i%2]
			f := ledger.Firing{ID: fmt.Sprintf("mtf_%s_%d", ou, i), OU: ou, Trigger: trigger, FiredAt: base.Add(time.Duration(i) * time.Second),
				Event: event.Event{ID: fmt.Sprintf("e%d", i), LeadID: fmt.Sprintf("ld_%d", i%2), EventType: "demo_request"}, Score: 80}
			rec := historyStore.Recorder(5 * time.Second)
			Expect(rec.Firing(f)()).To(Succeed())
			Expect(rec.Attempt(notify.Attempt{FiringID: f.ID, OU: ou, Trigger: trigger, LeadID: f.Event.LeadID,
				Channel: notify.ChannelWebhook, Destination: "https://hooks.example.com/<redacted>", Attempt: 1, At: f.FiredAt,
				StatusCode: 204, Outcome: notify.OutcomeDelivered, DurationMS: 12})()).To(Succeed())
		}
		viewer := newServiceAccount(ou, viewerRole)

		all := page(viewer.do(http.MethodGet, "/milestone-events", ""))
		Expect(all.MilestoneEvents).To(HaveLen(8))
		Expect(all.MilestoneEvents[0].Kind).To(Equal("firing"))
		Expect(*all.MilestoneEvents[0].Score).To(Equal(int64(80)))
		Expect(all.MilestoneEvents[1].Outcome).To(Equal(notify.OutcomeDelivered))

		hot := page(viewer.do(http.MethodGet, "/triggers/hot/events", ""))
		Expect(hot.MilestoneEvents).To(HaveLen(4))
		for _, e := range hot.MilestoneEvents {
			Expect(e.TriggerID).To(Equal("hot"))
		}
		Expect(page(viewer.do(http.MethodGet, "/milestone-events?lead_id=ld_1", "")).MilestoneEvents).To(HaveLen(4))

		first := page(viewer.do(http.MethodGet, "/milestone-events?limit=3", ""))
		Expect(first.MilestoneEvents).To(HaveLen(3))
		Expect(first.NextCursor).NotTo(BeEmpty())
		rest := page(viewer.do(http.MethodGet, "/milestone-events?limit=10&cursor="+first.NextCursor, ""))
		Expect(rest.MilestoneEvents).To(HaveLen(5))
		Expect(rest.NextCursor).To(BeEmpty())

		e := viewer.do(http.MethodGet, "/milestone-events?since=yesterday&limit=0&color=red", "").apiError(http.StatusBadRequest)
		Expect(fieldNames(e)).To(ContainElements("since", "limit", "color"))

		By("never showing one OU's history to a caller of another")
		other := newServiceAccount(newOU(), viewerRole)
		Expect(page(other.do(http.MethodGet, "/milestone-events", "")).MilestoneEvents).To(BeEmpty())
		other.in(ou, http.MethodGet, "/milestone-events", "").apiError(http.StatusForbidden)
	})

	It("shows every attempt the dispatcher made with its status code, delivered ones too, and a destination safe to show", func() {
		ou := newOU()
		editor := newServiceAccount(ou, editorRole)
		for _, tc := range []struct {
			status  int
			outcome string
		}{{http.StatusAccepted, record.OutcomeDelivered}, {http.StatusBadRequest, record.OutcomeDeadLettered}} {
			rcv := newHookReceiver(tc.status)
			t := editor.create(ou, `{"name":"Hot","score_threshold":75,"webhook_url":"`+rcv.URL+`/hook?token=s3cr3t"}`)
			mt := getResource(ou, t.ID)
			def, err := resolveForTest(mt)
			Expect(err).NotTo(HaveOccurred())
			dispatchTriggers.Upsert(def)
			f := firingFor(ou, t.ID, string(mt.UID), "evt-history")
			Expect(firingLedger.CommitFirings(suiteCtx, []ledger.Firing{f})).To(Succeed())

			var attempt milestoneEvent
			Eventually(func(g Gomega) {
				r := editor.do(http.MethodGet, "/triggers/"+t.ID+"/events", "")
				g.Expect(r.status).To(Equal(http.StatusOK))
				g.Expect(string(r.body)).NotTo(ContainSubstring("s3cr3t"))
				var p historyPage
				g.Expect(json.Unmarshal(r.body, &p)).To(Succeed())
				g.Expect(p.MilestoneEvents).To(HaveLen(2), "the firing and its one attempt")
				attempt = p.MilestoneEvents[1]
			}).Should(Succeed())
			Expect(attempt.Kind).To(Equal(record.KindAttempt))
			Expect(attempt.FiringID).To(Equal(f.ID))
			Expect(attempt.StatusCode).To(Equal(tc.status))
			Expect(attempt.Outcome).To(Equal(tc.outcome))
			Expect(attempt.Destination).To(Equal(rcv.URL + "/<redacted>"))
			Expect(attempt.Attempt).To(Equal(1))
			Expect(attempt.DurationMS).NotTo(BeNil())
			if tc.outcome == record.OutcomeDelivered {
				Expect(attempt.Error).To(BeEmpty())
			} else {
				Expect(attempt.Error).To(ContainSubstring("400"))
			}
		}
	})

	It("reads the outcomes of stored records in their one spelling, and shows the wait for a trigger", func() {
		ou := newOU()
		// A record as written with the older spelling of an outcome.
		Expect(historyStore.Recorder(5 * time.Second).Attempt(record.Record{FiringID: "mtf_old", OU: ou, Trigger: "hot", LeadID: "ld_1",
			Channel: notify.ChannelWebhook, Attempt: 8, At: time.Now().UTC(), StatusCode: 503, Error: "the receiver answered 503 Service Unavailable",
			Outcome: "dead_lettered"})()).To(Succeed())
		// An attempt of a firing that waited for its trigger: no channel of
		// its own, no destination, no answer.
		Expect(historyStore.Recorder(5 * time.Second).Attempt(record.Record{FiringID: "mtf_waited", OU: ou, Trigger: "gone", LeadID: "ld_1",
			Channel: notify.WaitingForTrigger, Attempt: 1, At: time.Now().UTC(), Outcome: record.OutcomePending,
			Error: "the trigger is not available (deleted, or not Ready); waiting for it"})()).To(Succeed())
		r := newServiceAccount(ou, viewerRole).do(http.MethodGet, "/milestone-events", "")
		Expect(string(r.body)).NotTo(ContainSubstring("dead_lettered"))
		p := page(r)
		Expect(p.MilestoneEvents).To(HaveLen(2))
		Expect(p.MilestoneEvents[0].Outcome).To(Equal("dead-lettered"))
		Expect(p.MilestoneEvents[1].Channel).To(Equal(notify.WaitingForTrigger))
	})
})
