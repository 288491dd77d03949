package restapi

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	triggersv1alpha1 "github.com/leadvibe/milestone-triggers-operator/api/v1alpha1"
	"github.com/leadvibe/milestone-triggers-operator/internal/event"
	"github.com/leadvibe/milestone-triggers-operator/internal/ledger"
	"github.com/leadvibe/milestone-triggers-operator/internal/resolve"
	"github.com/leadvibe/milestone-triggers-operator/internal/simulate"
	"github.com/leadvibe/milestone-triggers-operator/internal/triggerset"
)

// hookReceiver is a real webhook receiver that records what it receives
// and answers with the status it is set to.
type hookReceiver struct {
	*httptest.Server
	mu      sync.Mutex
	status  int
	headers []http.Header
	bodies  [][]byte
}

func newHookReceiver(status int) *hookReceiver {
	h := &hookReceiver{status: status}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.headers = append(h.headers, r.Header.Clone())
		h.bodies = append(h.bodies, body)
		status := h.status
		h.mu.Unlock()
		w.WriteHeader(status)
	}))
	DeferCleanup(h.Close)
	return h
}

func (h *hookReceiver) setStatus(status int) {
	h.mu.Lock()
	h.status = status
	h.mu.Unlock()
}

// received returns the webhook-ids received so far.
func (h *hookReceiver) received() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]string, 0, len(h.headers))
	for _, hd := range h.headers {
		out = append(out, hd.Get("webhook-id"))
	}
	return out
}

// simulation decodes a 200 answer of simulate.
func (r response) simulation() simulate.Result {
	GinkgoHelper()
	Expect(r.status).To(Equal(http.StatusOK), "body: %s", r.body)
	var res simulate.Result
	dec := json.NewDecoder(strings.NewReader(string(r.body)))
	dec.DisallowUnknownFields()
	Expect(dec.Decode(&res)).To(Succeed(), "body: %s", r.body)
	return res
}

const signingKey = "simulate-signing-key-0123456789ab"

var _ = Describe("POST /triggers/{id}/simulate", func() {
	var (
		ou     string
		editor caller
	)
	BeforeEach(func() {
		ou = newOU()
		editor = newServiceAccount(ou, editorRole)
	})

	// newSigningSecret creates the Secret holding a webhook signing
	// secret, labeled so that triggers may reference it.
	newSigningSecret := func(name string) {
		GinkgoHelper()
		Expect(k8sClient.Create(suiteCtx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: ou, Name: name,
				Labels: map[string]string{triggersv1alpha1.ReferenceableLabel: triggersv1alpha1.ReferenceableValue}},
			StringData: map[string]string{"secret": "whsec_" + base64.StdEncoding.EncodeToString([]byte(signingKey))},
		})).To(Succeed())
	}

	It("says a crossing fires, and renders the signed webhook and the email exactly, sending nothing", func() {
		rcv := newHookReceiver(http.StatusOK)
		newSigningSecret("hook-signing")
		t := editor.create(ou, `{"name":"Hot Lead Alert","event_type":"demo_request","score_threshold":75,
			"webhook_url":"`+rcv.URL+`/hook","emails":["sales@example.com"],"email_subject":"Hot lead <b>now</b>",
			"webhook_signing_secret_ref":{"name":"hook-signing","key":"secret"}}`)
		// Whoever may read the signing secret may see signatures made with it.
		editor.grantSecretGet(ou, "hook-signing")

		res := editor.in(ou, http.MethodPost, "/triggers/"+t.ID+"/simulate", `{"previous_score":40,
			"event":{"id":"evt-789","lead_id":"ld_123","event_type":"demo_request","score":82,"metadata":{"source":"website","page":"/pricing"},"created_at":"2025-01-15T10:00:00Z"}}`).simulation()
		Expect(res.TriggerID).To(Equal(t.ID))
		Expect(res.WouldFire).To(BeTrue(), res.Reason)
		Expect(res.Rule).To(Equal("crossing"))
		Expect(res.SpecRule).To(Equal(1))
		Expect(res.Reason).To(ContainSubstring("from 40 to 82"))
		Expect(res.Notifications).To(HaveLen(2))

		hook := res.Notifications[0]
		Expect(hook.Channel).To(Equal("webhook"))
		Expect(hook.Webhook.Method).To(Equal(http.MethodPost))
		// The seed's payload, with the event's metadata as it was sent.
		Expect(string(hook.Webhook.Body)).To(MatchJSON(`{"trigger":{"id":"` + t.ID + `","name":"Hot Lead Alert","type":"milestone"},
			"event":{"id":"evt-789","lead_id":"ld_123","event_type":"demo_request","metadata":{"source":"website","page":"/pricing"},"created_at":"2025-01-15T10:00:00Z"},
			"score":82}`))
		Expect(hook.Webhook.Headers).To(HaveKeyWithValue("Webhook-Id", res.FiringID))
		mac := hmac.New(sha256.New, []byte(signingKey))
		mac.Write([]byte(res.FiringID + "." + hook.Webhook.Headers["Webhook-Timestamp"] + "." + string(hook.Webhook.Body)))
		Expect(hook.Webhook.Headers).To(HaveKeyWithValue("Webhook-Signature", "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil))))
		Expect(hook.Destination).NotTo(ContainSubstring("/hook"), "the webhook URL is redacted")

		mail := res.Notifications[1]
		Expect(mail.Channel).To(Equal("email"))
		Expect(mail.Email.Subject).To(Equal("Hot lead <b>now</b>"))
		Expect(mail.Email.To).To(Equal([]string{"sales@example.com"}))
		Expect(mail.Email.HTML).To(ContainSubstring("Hot lead &lt;b&gt;now&lt;/b&gt;"))
		Expect(string(editor.in(ou, http.MethodPost, "/triggers/"+t.ID+"/simulate", `{"event":{"id":"e","lead_id":"l","event_type":"x","score":1}}`).body)).
			NotTo(ContainSubstring(`\u003c`), "HTML is not escaped in JSON")

		Expect(res.TestNotifications).To(BeEmpty())
		Consistently(rcv.received, "300ms").Should(BeEmpty(), "a simulation sent a notification without being asked")
	})

	It("names the rule that keeps a trigger from firing, active or not", func() {
		t := editor.create(ou, `{"name":"Demo","event_type":"demo_request","score_threshold":75,"webhook_url":"https://hooks.example.com/x"}`)
		path := "/triggers/" + t.ID + "/simulate"
		ev := func(typ string, score int) string {
			return `"event":{"id":"e1","lead_id":"ld_1","event_type":"` + typ + `","score":` + itoa(score) + `}`
		}
		for _, c := range []struct {
			body, rule string
			fire       bool
		}{
			{`{` + ev("page_view", 80) + `,"previous_score":40}`, "pending", false},
			{`{` + ev("demo_request", 85) + `,"previous_score":80,"pending_crossing":true}`, "pending_fired", true},
			{`{` + ev("demo_request", 90) + `,"previous_score":80}`, "already_above", false},
			{`{` + ev("demo_request", 10) + `,"previous_score":80}`, "rearm", false},
			{`{` + ev("demo_request", 10) + `}`, "below_threshold", false},
		} {
			res := editor.in(ou, http.MethodPost, path, c.body).simulation()
			Expect(res.Rule).To(Equal(c.rule), c.body)
			Expect(res.WouldFire).To(Equal(c.fire), c.body)
		}

		r := editor.in(ou, http.MethodPatch, "/triggers/"+t.ID, `{"active":false}`, "Content-Type", "application/merge-patch+json")
		Expect(r.status).To(Equal(http.StatusOK), string(r.body))
		res := editor.in(ou, http.MethodPost, path, `{`+ev("demo_request", 80)+`,"previous_score":40}`).simulation()
		Expect(res.Active).To(BeFalse())
		Expect(res.WouldFire).To(BeFalse())
		Expect(res.WouldFireIfActive).To(BeTrue())
		Expect(res.Rule).To(Equal("inactive"))
		Expect(res.SpecRule).To(Equal(5))
	})

	It("sends test notifications for real, marked as tests, only when asked", func() {
		rcv := newHookReceiver(http.StatusOK)
		t := editor.create(ou, `{"name":"Hot","score_threshold":75,"webhook_url":"`+rcv.URL+`/hook"}`)
		res := editor.in(ou, http.MethodPost, "/triggers/"+t.ID+"/simulate",
			`{"event":{"id":"e1","lead_id":"ld_1","event_type":"x","score":80},"send_test_notifications":true}`).simulation()
		Expect(res.TestNotifications).To(HaveLen(1))
		Expect(res.TestNotifications[0].Channel).To(Equal("webhook"))
		Expect(res.TestNotifications[0].Outcome).To(Equal("delivered"), res.TestNotifications[0].Error)
		Expect(rcv.received()).To(HaveLen(1))
		Expect(rcv.received()[0]).NotTo(Equal(res.FiringID), "a test is not taken for the real firing")
		Expect(rcv.headers[0].Get("x-leadvibe-test")).To(Equal("true"))
	})

	It("refuses a bad request, naming each field", func() {
		t := editor.create(ou, `{"name":"Hot","score_threshold":75,"webhook_url":"https://hooks.example.com/x"}`)
		path := "/triggers/" + t.ID + "/simulate"
		e := editor.in(ou, http.MethodPost, path, `{"previous_score":"high","color":"red","event":{"id":"e1","lead_id":"ld_1","score":"x","extra":1}}`).apiError(http.StatusBadRequest)
		Expect(fieldNames(e)).To(ConsistOf("previous_score", "color", "event.event_type", "event.score", "event.extra"))
		e = editor.in(ou, http.MethodPost, path, `{}`).apiError(http.StatusBadRequest)
		Expect(fieldNames(e)).To(ConsistOf("event"))
		e = editor.in(ou, http.MethodPost, path, `{"event":{"id":"e","lead_id":"l","event_type":"x","score":90},"pending_crossing":true}`).apiError(http.StatusBadRequest)
		Expect(fieldNames(e)).To(ConsistOf("pending_crossing"))
		editor.in(ou, http.MethodPost, path, `[1]`).apiError(http.StatusBadRequest)
		editor.in(ou, http.MethodPost, path, `{"event":{"id":"e","lead_id":"l","event_type":"x","score":90,"metadata":{"x":"`+strings.Repeat("a", 70<<10)+`"}}}`).apiError(http.StatusRequestEntityTooLarge)
	})

	It("answers 404 for an unknown trigger, 409 for one whose Secret is missing, and 403 to a viewer", func() {
		body := `{"event":{"id":"e1","lead_id":"ld_1","event_type":"x","score":80}}`
		editor.in(ou, http.MethodPost, "/triggers/trigger-nope/simulate", body).apiError(http.StatusNotFound)

		t := editor.create(ou, `{"name":"Hot","score_threshold":75,"webhook_url_secret_ref":{"name":"missing","key":"url"}}`)
		e := editor.in(ou, http.MethodPost, "/triggers/"+t.ID+"/simulate", body).apiError(http.StatusConflict)
		Expect(e.Message).To(ContainSubstring(`Secret "missing"`))

		viewer := newServiceAccount(ou, viewerRole)
		viewer.in(ou, http.MethodPost, "/triggers/"+t.ID+"/simulate", body).apiError(http.StatusForbidden)
	})
})

var _ = Describe("POST /triggers/{id}/events/{firing_id}/resend", func() {
	It("re-sends a dead-lettered firing with the same webhook-id, once", func() {
		ou := newOU()
		editor := newServiceAccount(ou, editorRole)
		rcv := newHookReceiver(http.StatusBadRequest) // a 400 is dead-lettered at once
		t := editor.create(ou, `{"name":"Hot","score_threshold":75,"webhook_url":"`+rcv.URL+`/hook"}`)
		mt := getResource(ou, t.ID)
		def, err := resolveForTest(mt)
		Expect(err).NotTo(HaveOccurred())
		dispatchTriggers.Upsert(def)

		f := firingFor(ou, t.ID, string(mt.UID), "evt-resend")
		Expect(firingLedger.CommitFirings(suiteCtx, []ledger.Firing{f})).To(Succeed())
		Eventually(rcv.received).Should(Equal([]string{f.ID}))
		rcv.setStatus(http.StatusOK)

		path := "/triggers/" + t.ID + "/events/" + f.ID + "/resend"
		var r response
		Eventually(func() int {
			r = editor.in(ou, http.MethodPost, path, "")
			return r.status
		}).Should(Equal(http.StatusAccepted), "the firing is dead-lettered soon after the 400")
		Expect(r.fields()).To(Equal(map[string]any{"firing_id": f.ID, "trigger_id": t.ID, "status": "queued"}))
		Eventually(rcv.received).Should(Equal([]string{f.ID, f.ID}))

		Eventually(func() int { return editor.in(ou, http.MethodPost, path, "").status }).
			Should(Equal(http.StatusConflict), "a delivered firing has nothing to re-send")
		Consistently(rcv.received, "300ms").Should(HaveLen(2))
	})

	It("answers 404 for a firing the trigger does not have, and 403 to a viewer", func() {
		ou := newOU()
		editor := newServiceAccount(ou, editorRole)
		t := editor.create(ou, `{"name":"Hot","score_threshold":75,"webhook_url":"https://hooks.example.com/x"}`)
		other := editor.create(ou, `{"name":"Other","score_threshold":75,"webhook_url":"https://hooks.example.com/x"}`)
		mt := getResource(ou, t.ID)
		f := firingFor(ou, t.ID, string(mt.UID), "evt-404")
		Expect(firingLedger.CommitFirings(suiteCtx, []ledger.Firing{f})).To(Succeed())

		editor.in(ou, http.MethodPost, "/triggers/"+other.ID+"/events/"+f.ID+"/resend", "").apiError(http.StatusNotFound)
		editor.in(ou, http.MethodPost, "/triggers/"+t.ID+"/events/mtf_00000000000000000000000000000000/resend", "").apiError(http.StatusNotFound)
		editor.in(ou, http.MethodPost, "/triggers/"+t.ID+"/events/not-a-firing/resend", "").apiError(http.StatusNotFound)
		otherOU := newOU()
		newServiceAccount(otherOU, editorRole).in(otherOU, http.MethodPost, "/triggers/"+t.ID+"/events/"+f.ID+"/resend", "").apiError(http.StatusNotFound)

		viewer := newServiceAccount(ou, viewerRole)
		viewer.in(ou, http.MethodPost, "/triggers/"+t.ID+"/events/"+f.ID+"/resend", "").apiError(http.StatusForbidden)
	})
})

func itoa(n int) string { return strconv.Itoa(n) }

// resolveForTest resolves a trigger as the controller does.
func resolveForTest(mt *triggersv1alpha1.MilestoneTrigger) (triggerset.Definition, error) {
	return resolve.Resolver{Reader: k8sClient}.Definition(suiteCtx, mt)
}

// firingFor is a firing of trigger for a lead's crossing on eventID, as the
// pipeline commits it.
func firingFor(ou, trigger, uid, eventID string) ledger.Firing {
	now := time.Now().UTC()
	ev := event.Event{ID: eventID, LeadID: "ld_1", EventType: "page_view", Score: 80, CreatedAt: now}
	return ledger.Firing{
		ID: ledger.FiringID(ou, uid, ev.LeadID, ev.ID), OU: ou, Trigger: trigger, TriggerUID: uid,
		TriggerName: "Hot", Threshold: 75, Event: ev, Score: ev.Score, FiredAt: now,
	}
}
