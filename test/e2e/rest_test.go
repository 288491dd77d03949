package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/leadvibe/milestone-triggers-operator/internal/localsystem"
)

// restTrigger is a trigger as the REST API shows it.
type restTrigger struct {
	ID             string   `json:"id"`
	Name           string   `json:"name"`
	EventType      string   `json:"event_type"`
	ScoreThreshold int64    `json:"score_threshold"`
	WebhookURL     string   `json:"webhook_url"`
	Emails         []string `json:"emails"`
	Active         bool     `json:"active"`
	CreatedAt      string   `json:"created_at"`
	Status         struct {
		Ready      bool   `json:"ready"`
		Reason     string `json:"reason"`
		FiredCount int64  `json:"fired_count"`
	} `json:"status"`
}

// milestoneEvent is one history record as the REST API shows it.
type milestoneEvent struct {
	Kind      string `json:"kind"`
	FiringID  string `json:"firing_id"`
	TriggerID string `json:"trigger_id"`
	LeadID    string `json:"lead_id"`
	EventID   string `json:"event_id"`
	EventType string `json:"event_type"`
	Score     int64  `json:"score"`
	Channel   string `json:"channel"`
	Outcome   string `json:"outcome"`
}

type historyPage struct {
	MilestoneEvents []milestoneEvent `json:"milestone_events"`
}

// apiError is the REST API's one error shape.
type apiError struct {
	Error struct {
		Status  int    `json:"status"`
		Message string `json:"message"`
		Fields  []struct {
			Field   string `json:"field"`
			Message string `json:"message"`
		} `json:"fields"`
	} `json:"error"`
}

var _ = Describe("The REST API, called with service-account tokens", Ordered, func() {
	const ou = "e2e-rest"
	var (
		o      testOU
		viewer apiClient
		id     string
		// simulatedID is the firing id simulate announced for simulated.
		simulatedID string
		simulated   = event{ID: "rest-sim-1", LeadID: "ld-rest-sim", EventType: "demo_request", Score: 90}
	)
	body := func(threshold int64) map[string]any {
		return map[string]any{
			"name":                       "REST Hot Lead",
			"event_type":                 "demo_request",
			"score_threshold":            threshold,
			"webhook_url":                receiver.URL(ou),
			"webhook_signing_secret_ref": map[string]string{"name": signingSecretName, "key": "signing-secret"},
			"emails":                     []string{"rest@e2e.example"},
			"email_subject":              "REST hot lead",
		}
	}
	getTrigger := func() restTrigger {
		GinkgoHelper()
		var t restTrigger
		o.api.callJSON(http.MethodGet, "/triggers/"+id, nil, http.StatusOK, &t)
		return t
	}

	BeforeAll(func() {
		o = newOU(ou)
		viewer = apiClient{token: serviceAccountToken(ou, "e2e-viewer", roles[localsystem.ViewerRoleFile])}
	})

	It("refuses a call without a token, and a write without the permission", func() {
		status, data := apiClient{}.call(http.MethodGet, "/triggers", nil)
		Expect(status).To(Equal(http.StatusUnauthorized))
		var e apiError
		Expect(json.Unmarshal(data, &e)).To(Succeed())
		Expect(e.Error.Status).To(Equal(http.StatusUnauthorized))

		viewer.callJSON(http.MethodGet, "/triggers", nil, http.StatusOK, nil)
		status, _ = viewer.call(http.MethodPost, "/triggers", body(75))
		Expect(status).To(Equal(http.StatusForbidden))
	})

	It("creates a trigger, which kubectl shows and the operator accepts", func() {
		var t restTrigger
		o.api.callJSON(http.MethodPost, "/triggers", body(75), http.StatusCreated, &t)
		id = t.ID
		Expect(id).To(HavePrefix("trigger-"))
		Expect(t.Active).To(BeTrue())
		Expect(t.ScoreThreshold).To(BeEquivalentTo(75))
		Expect(time.Parse(time.RFC3339, t.CreatedAt)).To(BeTemporally("~", time.Now(), time.Minute))

		Expect(mustKubectl("", "-n", ou, "get", "mt", id, "-o", "jsonpath={.spec.name} {.spec.eventType} {.spec.scoreThreshold}")).
			To(Equal("REST Hot Lead demo_request 75"))
		waitReady(ou, id, "True", "Accepted")
		Eventually(func(g Gomega) {
			var t restTrigger
			o.api.callJSON(http.MethodGet, "/triggers/"+id, nil, http.StatusOK, &t)
			g.Expect(t.Status.Ready).To(BeTrue())
			g.Expect(t.Status.Reason).To(Equal("Accepted"))
		}).Should(Succeed())
	})

	It("lists it", func() {
		var list struct {
			Triggers []restTrigger `json:"triggers"`
		}
		o.api.callJSON(http.MethodGet, "/triggers", nil, http.StatusOK, &list)
		Expect(list.Triggers).To(ContainElement(HaveField("ID", id)))
		// The viewer reads the OU's triggers too.
		viewer.callJSON(http.MethodGet, "/triggers/"+id, nil, http.StatusOK, nil)
	})

	It("replaces it with PUT and patches it, as kubectl sees", func() {
		var t restTrigger
		o.api.callJSON(http.MethodPut, "/triggers/"+id, body(80), http.StatusOK, &t)
		Expect(t.ScoreThreshold).To(BeEquivalentTo(80))
		Expect(mustKubectl("", "-n", ou, "get", "mt", id, "-o", "jsonpath={.spec.scoreThreshold}")).To(Equal("80"))
		waitReady(ou, id, "True", "Accepted")

		o.api.callJSON(http.MethodPatch, "/triggers/"+id, map[string]any{"active": false}, http.StatusOK, &t)
		Expect(t.Active).To(BeFalse())
		Expect(t.ScoreThreshold).To(BeEquivalentTo(80))
		waitReady(ou, id, "True", "Inactive")
		Eventually(func() string { return getTrigger().Status.Reason }).Should(Equal("Inactive"))

		o.api.callJSON(http.MethodPatch, "/triggers/"+id, map[string]any{"active": true}, http.StatusOK, &t)
		Expect(t.Active).To(BeTrue())
		waitReady(ou, id, "True", "Accepted")
	})

	It("refuses an invalid body, naming the field", func() {
		status, data := o.api.call(http.MethodPost, "/triggers", map[string]any{"name": "x", "score_threshold": 7.5})
		Expect(status).To(Equal(http.StatusBadRequest))
		var e apiError
		Expect(json.Unmarshal(data, &e)).To(Succeed())
		Expect(e.Error.Fields).To(ContainElement(HaveField("Field", "score_threshold")))
	})

	It("simulates an event without sending anything", func() {
		status, data := apiClient{}.call(http.MethodGet, "/openapi.json", nil)
		documented := status == http.StatusOK && strings.Contains(string(data), `"/triggers/{id}/simulate"`)
		simulate := func(previous int64, ev event) (int, map[string]any) {
			status, data := o.api.call(http.MethodPost, "/triggers/"+id+"/simulate", map[string]any{"event": ev, "previous_score": previous})
			if status == http.StatusNotFound && !documented && strings.Contains(string(data), "no such endpoint") {
				Skip("POST /triggers/{id}/simulate is not served yet (404 " + strings.TrimSpace(string(data)) + ") and /openapi.json does not list it")
			}
			var out map[string]any
			Expect(json.Unmarshal(data, &out)).To(Succeed(), "%s", data)
			return status, out
		}
		ev := simulated
		status, res := simulate(10, ev)
		Expect(status).To(Equal(http.StatusOK), "%v", res)
		Expect(res).To(HaveKeyWithValue("would_fire", true))
		Expect(res).To(HaveKeyWithValue("rule", Not(BeEmpty())))
		Expect(res).To(HaveKeyWithValue("notifications", Not(BeEmpty())))
		notifications, _ := json.Marshal(res["notifications"])
		Expect(string(notifications)).To(SatisfyAll(ContainSubstring("rest-sim-1"), ContainSubstring("REST hot lead")))
		simulatedID, _ = res["firing_id"].(string)

		status, res = simulate(85, ev)
		Expect(status).To(Equal(http.StatusOK), "%v", res)
		Expect(res).To(HaveKeyWithValue("would_fire", false))
		Expect(res).To(HaveKeyWithValue("rule", Not(BeEmpty())))

		Consistently(func() []webhookRequest { return receiver.received(ou) }, 2*time.Second).Should(BeEmpty())
		Expect(mailbox.received("rest@e2e.example")).To(BeEmpty())
	})

	It("ingests events with POST /events, fires, and serves the history", func() {
		o.api.postEvents(
			event{ID: "rest-e1", LeadID: "ld-rest", EventType: "page_view", Score: 70},
			event{ID: "rest-e2", LeadID: "ld-rest", EventType: "demo_request", Score: 81, Metadata: map[string]any{"page": "/pricing"}},
			// The event simulated above, for real this time.
			simulated,
		)
		// A repeated event id is reported, not published twice.
		var again struct {
			Accepted int `json:"accepted"`
			Events   []struct {
				Duplicate bool `json:"duplicate"`
			} `json:"events"`
		}
		o.api.callJSON(http.MethodPost, "/events", event{ID: "rest-e2", LeadID: "ld-rest", EventType: "demo_request", Score: 81}, http.StatusAccepted, &again)
		Expect(again.Accepted).To(BeZero())
		Expect(again.Events).To(ConsistOf(HaveField("Duplicate", true)))
		// A bad event is refused, naming it.
		status, data := o.api.call(http.MethodPost, "/events", map[string]any{"events": []any{map[string]any{"id": "rest-bad", "lead_id": "ld-rest", "event_type": "page_view", "score": 1.5}}})
		Expect(status).To(Equal(http.StatusBadRequest))
		Expect(string(data)).To(ContainSubstring("events[0].score"))

		realCrossing := crossing{Trigger: id, Lead: "ld-rest", Event: "rest-e2"}
		sim := crossing{Trigger: id, Lead: simulated.LeadID, Event: simulated.ID}
		ids := map[crossing]string{}
		Eventually(func(g Gomega) {
			requests := receiver.received(ou)
			rep := report(requests, []crossing{realCrossing, sim})
			g.Expect(rep.exactlyOnce()).To(BeTrue(), rep.String())
			for _, r := range requests {
				ids[r.crossing()] = r.ID
			}
		}).Should(Succeed())
		if simulatedID != "" {
			Expect(ids[sim]).To(Equal(simulatedID), "the webhook-id of the simulated event's real firing is the firing_id simulate announced")
		}
		Eventually(func(g Gomega) {
			mails := mailbox.received("rest@e2e.example")
			g.Expect(mails).To(HaveLen(2))
			for _, m := range mails {
				g.Expect(m.Subject).To(Equal("REST hot lead"))
			}
			g.Expect([]string{mails[0].FiringID, mails[1].FiringID}).To(ConsistOf(ids[realCrossing], ids[sim]), "each email carries its firing's id")
		}).Should(Succeed())

		firingID := ids[realCrossing]
		Eventually(func(g Gomega) {
			var page historyPage
			o.api.callJSON(http.MethodGet, "/triggers/"+id+"/events", nil, http.StatusOK, &page)
			g.Expect(page.MilestoneEvents).To(ContainElement(SatisfyAll(
				HaveField("Kind", "firing"), HaveField("FiringID", firingID), HaveField("EventID", "rest-e2"), HaveField("Score", BeEquivalentTo(81)))))
			g.Expect(page.MilestoneEvents).To(ContainElement(SatisfyAll(
				HaveField("Kind", "attempt"), HaveField("FiringID", firingID), HaveField("Channel", "webhook"), HaveField("Outcome", "delivered"))))
			g.Expect(page.MilestoneEvents).To(ContainElement(SatisfyAll(
				HaveField("Kind", "attempt"), HaveField("FiringID", firingID), HaveField("Channel", "email"), HaveField("Outcome", "delivered"))))
		}).Should(Succeed())
		var page historyPage
		o.api.callJSON(http.MethodGet, "/milestone-events?lead_id=ld-rest", nil, http.StatusOK, &page)
		Expect(page.MilestoneEvents).To(ContainElement(SatisfyAll(HaveField("Kind", "firing"), HaveField("TriggerID", id), HaveField("EventID", "rest-e2"))))
		Expect(page.MilestoneEvents).NotTo(ContainElement(HaveField("LeadID", simulated.LeadID)), "filtered by lead")
		Eventually(func() int64 { return getTrigger().Status.FiredCount }).Should(BeEquivalentTo(2))
	})

	It("deletes it", func() {
		status, _ := o.api.call(http.MethodDelete, "/triggers/"+id, nil)
		Expect(status).To(Equal(http.StatusNoContent))
		status, _ = o.api.call(http.MethodGet, "/triggers/"+id, nil)
		Expect(status).To(Equal(http.StatusNotFound))
		_, err := kubectl("", "-n", ou, "get", "mt", id)
		Expect(err).To(MatchError(ContainSubstring("NotFound")))
	})
})
