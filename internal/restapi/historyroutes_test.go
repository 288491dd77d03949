package restapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/leadvibe/milestone-triggers-operator/internal/ledger"
	"github.com/leadvibe/milestone-triggers-operator/internal/notify"
	"github.com/leadvibe/milestone-triggers-operator/internal/stream"
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
				Event: stream.Event{ID: fmt.Sprintf("e%d", i), LeadID: fmt.Sprintf("ld_%d", i%2), EventType: "demo_request"}, Score: 80}
			rec := historyStore.Recorder(5 * time.Second)
			Expect(rec.Firing(f)()).To(Succeed())
			Expect(rec.Attempt(notify.Attempt{FiringID: f.ID, OU: ou, Trigger: trigger, LeadID: f.Event.LeadID,
				Channel: notify.ChannelWebhook, Destination: "https://hooks.example.com/<redacted>", Number: 1, At: f.FiredAt,
				Outcome: notify.OutcomeDelivered, Duration: 12 * time.Millisecond})()).To(Succeed())
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
})
