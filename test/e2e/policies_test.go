package e2e

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// backtestAnswer is what the specs read of a backtest's answer.
type backtestAnswer struct {
	EventsScanned  int  `json:"events_scanned"`
	EventsRejected int  `json:"events_rejected"`
	Firings        int  `json:"firings"`
	Leads          int  `json:"leads"`
	Complete       bool `json:"complete"`
	FirstFirings   []struct {
		LeadID  string `json:"lead_id"`
		EventID string `json:"event_id"`
	} `json:"first_firings"`
}

var _ = Describe("Trigger policies and backtests, end to end", Ordered, func() {
	const ou = "e2e-policies"
	var api apiClient
	rearm := int64(60)
	// steady re-arms only below 60; calm fires at most once an hour for a
	// lead; tuned has neither, and many events.
	// They fire on pricing visits, which only ld-bounce makes.
	steady := trigger{Name: "steady", Threshold: 75, EventType: "pricing_visit", Webhook: true, RearmBelow: &rearm}
	calm := trigger{Name: "calm", Threshold: 50, EventType: "pricing_visit", Webhook: true, Cooldown: "1h"}
	tuned := trigger{Name: "tuned", Threshold: 50, EventType: "demo_request", Webhook: true}

	at := func(minute int) string {
		return time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC).Add(time.Duration(minute) * time.Minute).Format(time.RFC3339)
	}
	// ld-bounce bounces around 75 and 50. Comments say what fires.
	bounce := []event{
		{ID: "b1", LeadID: "ld-bounce", EventType: "pricing_visit", Score: 80, CreatedAt: at(0)},  // steady and calm
		{ID: "b2", LeadID: "ld-bounce", EventType: "pricing_visit", Score: 74, CreatedAt: at(5)},  // nothing
		{ID: "b3", LeadID: "ld-bounce", EventType: "pricing_visit", Score: 76, CreatedAt: at(10)}, // nothing: steady is not re-armed above 60
		{ID: "b4", LeadID: "ld-bounce", EventType: "pricing_visit", Score: 40, CreatedAt: at(20)}, // nothing: both re-arm
		{ID: "b5", LeadID: "ld-bounce", EventType: "pricing_visit", Score: 55, CreatedAt: at(30)}, // nothing: calm crosses within its hour
		{ID: "b6", LeadID: "ld-bounce", EventType: "pricing_visit", Score: 76, CreatedAt: at(40)}, // steady
		{ID: "b7", LeadID: "ld-bounce", EventType: "pricing_visit", Score: 40, CreatedAt: at(70)}, // nothing
		{ID: "b8", LeadID: "ld-bounce", EventType: "pricing_visit", Score: 55, CreatedAt: at(75)}, // calm: 75 minutes after it fired
	}
	policyFirings := []crossing{{"steady", "ld-bounce", "b1"}, {"calm", "ld-bounce", "b1"}, {"steady", "ld-bounce", "b6"}, {"calm", "ld-bounce", "b8"}}

	// Random traffic for tuned: 30 leads wandering around 50, a third of
	// the events demo requests, with the stream's time as their time.
	r := rand.New(rand.NewPCG(14, 2026))
	scores := map[string]int64{}
	var traffic []event
	for i := range 400 {
		lead := fmt.Sprintf("ld-%02d", r.IntN(30))
		scores[lead] += int64(r.IntN(25) - 12)
		if r.IntN(8) == 0 {
			scores[lead] = int64(r.IntN(100))
		}
		typ := "page_view"
		if r.IntN(3) == 0 {
			typ = "demo_request"
		}
		traffic = append(traffic, event{ID: fmt.Sprintf("t%d", i), LeadID: lead, EventType: typ, Score: scores[lead]})
	}
	tunedFirings := func(threshold int64) []crossing {
		return expectedCrossings([]refTrigger{{ID: "tuned", Threshold: threshold, EventType: "demo_request"}}, traffic)
	}

	backtest := func(id string, body map[string]any) backtestAnswer {
		GinkgoHelper()
		var a backtestAnswer
		api.callJSON(http.MethodPost, "/triggers/"+id+"/backtest", body, http.StatusOK, &a)
		Expect(a.Complete).To(BeTrue())
		return a
	}
	since := "2000-01-01T00:00:00Z"

	BeforeAll(func() {
		api = newOU(ou).api
		apply(ou, steady, calm, tuned)
	})

	It("fires rearmBelow and cooldown triggers as the spec says", func() {
		api.postEvents(bounce...)
		for i := 0; i < len(traffic); i += 100 {
			api.postEvents(traffic[i:min(i+100, len(traffic))]...)
		}
		want := append(append([]crossing{}, policyFirings...), tunedFirings(50)...)
		expectDeliveredExactlyOnce(ou, want)
	})

	It("backtests each trigger to the firings the operator made, and to the reference model's counts", func() {
		delivered := map[string]int{}
		leads := map[string]map[string]bool{}
		seen := map[crossing]bool{}
		for _, req := range receiver.received(ou) {
			c := req.crossing()
			if seen[c] {
				continue // a retry
			}
			seen[c] = true
			delivered[c.Trigger]++
			if leads[c.Trigger] == nil {
				leads[c.Trigger] = map[string]bool{}
			}
			leads[c.Trigger][c.Lead] = true
		}
		total := len(bounce) + len(traffic)
		for _, id := range []string{"steady", "calm", "tuned"} {
			a := backtest(id, map[string]any{"since": since})
			Expect(a.EventsScanned).To(Equal(total), id)
			Expect(a.EventsRejected).To(BeZero(), id)
			Expect(a.Firings).To(Equal(delivered[id]), "%s: the backtest against the operator's own firings", id)
			Expect(a.Leads).To(Equal(len(leads[id])), id)
		}

		By("another threshold for tuned, against the reference model")
		for _, threshold := range []int64{30, 70} {
			want := tunedFirings(threshold)
			wantLeads := map[string]bool{}
			for _, c := range want {
				wantLeads[c.Lead] = true
			}
			a := backtest("tuned", map[string]any{"since": since, "score_threshold": threshold})
			Expect(a.Firings).To(Equal(len(want)), "threshold %d", threshold)
			Expect(a.Leads).To(Equal(len(wantLeads)), "threshold %d", threshold)
		}

		By("steady without its rearm level, and calm without its cooldown, fire on every bounce")
		a := backtest("steady", map[string]any{"since": since, "rearm_below": nil})
		Expect(a.Firings).To(Equal(3)) // b1, b3, b6
		a = backtest("calm", map[string]any{"since": since, "cooldown": nil})
		Expect(a.Firings).To(Equal(3)) // b1, b5, b8
		Expect(a.FirstFirings).To(HaveLen(3))
		Expect(a.FirstFirings[1].EventID).To(Equal("b5"))

		By("a window by event time")
		a = backtest("calm", map[string]any{"since": at(1), "until": at(80)})
		Expect(a.Firings).To(Equal(1)) // b8; b1 is before
	})
})
