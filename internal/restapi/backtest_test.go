package restapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/leadvibe/milestone-triggers-operator/internal/backtest"
	"github.com/leadvibe/milestone-triggers-operator/internal/metrics"
	"github.com/leadvibe/milestone-triggers-operator/internal/metrics/metricstest"
)

// suiteBacktestLimits are the suite's backtest limits: a small event
// limit, so a request above it can be refused.
var suiteBacktestLimits = backtest.Limits{MaxEvents: 5000, TimeLimit: 30 * time.Second}

// suiteBacktests runs the suite's backtests, two at once.
var suiteBacktests *Backtests

func (r response) backtest() BacktestResponse {
	GinkgoHelper()
	Expect(r.status).To(Equal(http.StatusOK), "body: %s", r.body)
	var a BacktestResponse
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	Expect(dec.Decode(&a)).To(Succeed(), "body: %s", r.body)
	return a
}

var _ = Describe("POST /triggers/{id}/backtest", func() {
	var (
		ou, id    string
		editor    caller
		publisher caller
		base      time.Time
	)
	at := func(minute int) string { return base.Add(time.Duration(minute) * time.Minute).Format(time.RFC3339) }
	ev := func(id, lead, typ string, score, minute int) string {
		return fmt.Sprintf(`{"id":%q,"lead_id":%q,"event_type":%q,"score":%d,"created_at":%q}`, id, lead, typ, score, at(minute))
	}
	publish := func(caller caller, ou string, evs ...string) {
		GinkgoHelper()
		r := caller.in(ou, http.MethodPost, "/events", `{"events":[`+strings.Join(evs, ",")+`]}`)
		Expect(r.status).To(Equal(http.StatusAccepted), "body: %s", r.body)
	}
	run := func(body string) response {
		GinkgoHelper()
		return editor.in(ou, http.MethodPost, "/triggers/"+id+"/backtest", body)
	}

	BeforeEach(func() {
		ou = newOU()
		editor = newServiceAccount(ou, editorRole)
		publisher = newServiceAccount(ou, "")
		grantPublisher(publisher, ou)
		base = time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
		id = editor.create(ou, `{"name":"Hot","event_type":"demo_request","score_threshold":75,"webhook_url":"https://hooks.example.com/x"}`).ID
		publish(publisher, ou,
			ev("e1", "ld-1", "page_view", 60, 0),
			ev("e2", "ld-1", "page_view", 80, 10),    // crosses on a page view: pending
			ev("e3", "ld-1", "demo_request", 82, 20), // fires the pending crossing
			ev("e4", "ld-2", "demo_request", 90, 30), // fires
			ev("e5", "ld-2", "page_view", 50, 40),    // re-arms (below 75)
			ev("e6", "ld-2", "demo_request", 95, 50), // fires again
			ev("e7", "ld-3", "demo_request", 70, 60), // below
			ev("e8", "ld-2", "page_view", 74, 70),    // re-arms for 75, not for a rearm_below of 60
			ev("e9", "ld-2", "demo_request", 76, 80), // fires, unless a rearm_below or cooldown holds
		)
		// Another OU's events, for the same lead ids, count for nothing here.
		other := newOU()
		otherPublisher := newServiceAccount(other, "")
		grantPublisher(otherPublisher, other)
		publish(otherPublisher, other, ev("x1", "ld-3", "demo_request", 99, 5), ev("x2", "ld-4", "demo_request", 99, 6))
	})

	It("replays the OU's stored events through the evaluator with the trigger's definition and the overrides", func() {
		// The events are read as the stream stores them: wait for all nine.
		var a BacktestResponse
		Eventually(func() int {
			a = run(`{"since":"` + at(-60) + `"}`).backtest()
			return a.EventsScanned
		}).Should(Equal(9))
		Expect(a.TriggerID).To(Equal(id))
		Expect(a.Complete).To(BeTrue())
		Expect(a.EventsRejected).To(BeZero())
		Expect(a.Definition).To(Equal(BacktestDefinition{ScoreThreshold: 75, EventType: "demo_request"}))
		Expect(a.Firings).To(Equal(4))
		Expect(a.Leads).To(Equal(2))
		Expect(a.FirstFirings).To(Equal([]backtest.Firing{
			{LeadID: "ld-1", EventID: "e3", Score: 82, At: base.Add(20 * time.Minute)},
			{LeadID: "ld-2", EventID: "e4", Score: 90, At: base.Add(30 * time.Minute)},
			{LeadID: "ld-2", EventID: "e6", Score: 95, At: base.Add(50 * time.Minute)},
			{LeadID: "ld-2", EventID: "e9", Score: 76, At: base.Add(80 * time.Minute)},
		}))
		Expect(a.ScannedThrough).NotTo(BeNil())
		Expect(a.Until).To(BeTemporally("~", time.Now(), time.Minute))

		By("the window counts by event time; the events before since still build each lead's state")
		a = run(`{"since":"` + at(25) + `","until":"` + at(60) + `"}`).backtest()
		Expect(a.EventsScanned).To(Equal(9))
		Expect(a.Firings).To(Equal(2)) // e4 and e6; e3 is before, e9 after
		Expect(a.Leads).To(Equal(1))

		By("a rearm_below of 60 holds ld-2 at 74: e9 is no new crossing")
		a = run(`{"since":"` + at(-60) + `","rearm_below":60}`).backtest()
		Expect(a.Definition.RearmBelow).To(HaveValue(BeEquivalentTo(60)))
		Expect(a.Firings).To(Equal(3))

		By("a cooldown counts from ld-2's last firing (e4, at 30), by event time")
		a = run(`{"since":"` + at(-60) + `","cooldown":"1h"}`).backtest()
		Expect(a.Definition.Cooldown).To(Equal("1h"))
		Expect(a.Firings).To(Equal(2)) // e3, e4; e6 (20m after e4) and e9 (50m after) are swallowed
		a = run(`{"since":"` + at(-60) + `","cooldown":"25m"}`).backtest()
		Expect(a.Firings).To(Equal(3)) // e6 is swallowed, e9 fires
		a = run(`{"since":"` + at(-60) + `","cooldown":"15m"}`).backtest()
		Expect(a.Firings).To(Equal(4)) // e6 fires 20m after e4, e9 30m after e6

		By("another threshold, and any event type")
		a = run(`{"since":"` + at(-60) + `","score_threshold":65,"event_type":""}`).backtest()
		Expect(a.Definition).To(Equal(BacktestDefinition{ScoreThreshold: 65}))
		// ld-1 at 80 (e2), ld-2 at 90 (e4) and 95 (e6) after 50, ld-3 at 70 (e7); e9 does not cross 65 from 74.
		Expect(a.Firings).To(Equal(4))
		Expect(a.Leads).To(Equal(3))

		By("max_events bounds the read, and the answer says it is incomplete")
		stopped := metricstest.Value(GinkgoTB(), metrics.Backtests.WithLabelValues(backtest.StoppedByMaxEvents))
		scanned := metricstest.Value(GinkgoTB(), metrics.BacktestEvents)
		a = run(`{"since":"` + at(-60) + `","max_events":4}`).backtest()
		Expect(metricstest.Value(GinkgoTB(), metrics.Backtests.WithLabelValues(backtest.StoppedByMaxEvents)) - stopped).To(BeEquivalentTo(1))
		Expect(metricstest.Value(GinkgoTB(), metrics.BacktestEvents) - scanned).To(BeEquivalentTo(4))
		Expect(a.Complete).To(BeFalse())
		Expect(a.StoppedBy).To(Equal(backtest.StoppedByMaxEvents))
		Expect(a.EventsScanned).To(Equal(4))
		Expect(a.Firings).To(Equal(2))

		By("nothing was changed: the trigger has fired for no one")
		Expect(getResource(ou, id).Status.FiredCount).To(BeZero())
	})

	It("answers 400 naming the field for bad input", func() {
		for body, field := range map[string]string{
			`{}`:                    "since",
			`{"since":null}`:        "since",
			`{"since":"yesterday"}`: "since",
			`{"since":"2026-11-20T09:00:00Z","until":"2026-11-19T09:00:00Z"}`:        "until",
			`{"since":"2026-11-20T09:00:00Z","rearm_below":75}`:                      "rearm_below",
			`{"since":"2026-11-20T09:00:00Z","score_threshold":50,"rearm_below":60}`: "rearm_below",
			`{"since":"2026-11-20T09:00:00Z","cooldown":"soon"}`:                     "cooldown",
			`{"since":"2026-11-20T09:00:00Z","cooldown":"2161h"}`:                    "cooldown",
			`{"since":"2026-11-20T09:00:00Z","score_threshold":1.5}`:                 "score_threshold",
			`{"since":"2026-11-20T09:00:00Z","event_type":"no spaces"}`:              "event_type",
			`{"since":"2026-11-20T09:00:00Z","max_events":0}`:                        "max_events",
			`{"since":"2026-11-20T09:00:00Z","max_events":5001}`:                     "max_events",
			`{"since":"2026-11-20T09:00:00Z","webhook_url":"https://x.example.com"}`: "webhook_url",
		} {
			e := run(body).apiError(http.StatusBadRequest)
			Expect(e.Fields).To(ContainElement(HaveField("Field", field)), "body %s: %+v", body, e)
		}
		run(`[]`).apiError(http.StatusBadRequest)
	})

	It("answers 429 with Retry-After while the operator runs its most backtests at once", func() {
		for range cap(suiteBacktests.Running) {
			suiteBacktests.Running <- struct{}{}
		}
		r := run(`{"since":"2026-11-20T09:00:00Z"}`)
		for range cap(suiteBacktests.Running) {
			<-suiteBacktests.Running
		}
		r.apiError(http.StatusTooManyRequests)
		Expect(r.header.Get("Retry-After")).To(Equal("5"))
		run(`{"since":"2026-11-20T09:00:00Z"}`).backtest()
	})

	It("is for editors of the OU, and only for its triggers", func() {
		viewer := newServiceAccount(ou, viewerRole)
		viewer.in(ou, http.MethodPost, "/triggers/"+id+"/backtest", `{"since":"2026-11-20T09:00:00Z"}`).apiError(http.StatusForbidden)
		publisher.in(ou, http.MethodPost, "/triggers/"+id+"/backtest", `{"since":"2026-11-20T09:00:00Z"}`).apiError(http.StatusForbidden)
		editor.in(ou, http.MethodPost, "/triggers/no-such-trigger/backtest", `{"since":"2026-11-20T09:00:00Z"}`).apiError(http.StatusNotFound)
		// An editor of another OU does not reach this one's trigger.
		stranger := newServiceAccount(newOU(), editorRole)
		stranger.in(ou, http.MethodPost, "/triggers/"+id+"/backtest", `{"since":"2026-11-20T09:00:00Z"}`).apiError(http.StatusForbidden)
	})
})
