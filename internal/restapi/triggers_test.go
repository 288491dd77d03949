package restapi

import (
	"net/http"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	triggersv1alpha1 "github.com/leadvibe/milestone-triggers-operator/api/v1alpha1"
)

// The body of the seed's curl example of POST /triggers.
const seedCurlBody = `{
"name": "Hot Lead Alert",
"event_type": "demo_request",
"score_threshold": 75,
"webhook_url": "https://hooks.example.com/leadvibe",
"emails": ["sales@example.com"]
}`

var _ = Describe("The /triggers API", func() {
	var (
		ou     string
		editor caller
	)
	BeforeEach(func() {
		ou = newOU()
		editor = newServiceAccount(ou, editorRole)
	})

	It("serves the seed's curl examples", func() {
		By("POST /triggers with the seed's body")
		before := time.Now().Add(-2 * time.Second)
		resp := editor.do(http.MethodPost, "/triggers", seedCurlBody)
		created := resp.trigger(http.StatusCreated)
		Expect(created.ID).To(MatchRegexp(`^trigger-[a-z0-9]+$`))
		Expect(resp.header.Get("Location")).To(Equal("/triggers/" + created.ID))
		Expect(created.Name).To(Equal("Hot Lead Alert"))
		Expect(created.EventType).To(Equal("demo_request"))
		Expect(created.ScoreThreshold).To(BeEquivalentTo(75))
		Expect(created.WebhookURL).To(Equal("https://hooks.example.com/leadvibe"))
		Expect(created.Emails).To(Equal([]string{"sales@example.com"}))
		Expect(created.Active).To(BeTrue())
		createdAt, err := time.Parse(time.RFC3339, created.CreatedAt)
		Expect(err).NotTo(HaveOccurred())
		Expect(createdAt).To(BeTemporally(">=", before.Truncate(time.Second)))
		Expect(created.CreatedAt).To(HaveSuffix("Z"))
		Expect(resp.fields()).To(HaveKeyWithValue("active", true))
		Expect(resp.fields()).To(SatisfyAll(
			HaveKey("id"), HaveKey("name"), HaveKey("event_type"), HaveKey("score_threshold"), HaveKey("webhook_url"),
			HaveKey("emails"), HaveKey("active"), HaveKey("created_at"),
			Not(HaveKey("email_subject")), Not(HaveKey("slack")), Not(HaveKey("webhook_url_secret_ref")),
		))

		By("GET /triggers")
		listed := editor.do(http.MethodGet, "/triggers", "").list()
		Expect(listed).To(HaveLen(1))
		created.Status, listed[0].Status = nil, nil
		Expect(listed[0]).To(Equal(created))
	})

	It("creates with the whole of the seed's request body", func() {
		t := editor.create(ou, seedBody)
		Expect(t.EmailSubject).To(Equal("Hot Lead Alert"))
		Expect(t.EmailMessage).To(Equal("A lead just crossed the 75-point threshold!"))
		Expect(t.EmailPreheader).To(BeEmpty())
	})

	It("omits event_type and emails when there are none", func() {
		resp := editor.do(http.MethodPost, "/triggers", `{"name":"Any event","score_threshold":10}`)
		t := resp.trigger(http.StatusCreated)
		Expect(t.Active).To(BeTrue())
		Expect(resp.fields()).NotTo(HaveKey("event_type"))
		Expect(resp.fields()).NotTo(HaveKey("emails"))
		Expect(resp.fields()).NotTo(HaveKey("webhook_url"))
	})

	It("makes a trigger created through REST visible through the Kubernetes API", func() {
		t := editor.create(ou, `{"name":"Hot Lead Alert","event_type":"demo_request","score_threshold":75,
			"webhook_url":"https://hooks.example.com/leadvibe","emails":["sales@example.com","ae@example.com"],
			"email_subject":"S","email_preheader":"P","email_message":"M","active":false,
			"slack":{"webhook_url_secret_ref":{"name":"chat","key":"slack"}}}`)
		mt := getResource(ou, t.ID)
		Expect(mt.Spec.DisplayName).To(Equal("Hot Lead Alert"))
		Expect(mt.Spec.EventType).To(Equal("demo_request"))
		Expect(*mt.Spec.ScoreThreshold).To(BeEquivalentTo(75))
		Expect(string(*mt.Spec.WebhookURL)).To(Equal("https://hooks.example.com/leadvibe"))
		Expect(mt.Spec.Emails).To(Equal([]triggersv1alpha1.EmailAddress{"sales@example.com", "ae@example.com"}))
		Expect(mt.Spec.EmailSubject).To(Equal("S"))
		Expect(mt.Spec.EmailPreheader).To(Equal("P"))
		Expect(mt.Spec.EmailMessage).To(Equal("M"))
		Expect(mt.IsActive()).To(BeFalse())
		Expect(mt.Spec.Slack.WebhookURLSecretRef).To(Equal(&triggersv1alpha1.SecretKeyRef{Name: "chat", Key: "slack"}))
		Expect(mt.CreationTimestamp.UTC().Format(time.RFC3339)).To(Equal(t.CreatedAt))
	})

	It("shows a trigger created through the Kubernetes API with the same fields", func() {
		hook := triggersv1alpha1.HTTPURL("https://hooks.example.com/teams")
		mt := &triggersv1alpha1.MilestoneTrigger{
			ObjectMeta: metav1.ObjectMeta{Namespace: ou, Name: "from-kubectl"},
			Spec: triggersv1alpha1.MilestoneTriggerSpec{
				DisplayName:             "Pricing visitors",
				EventType:               "page_view",
				ScoreThreshold:          ptrTo[int64](40),
				WebhookURLSecretRef:     &triggersv1alpha1.SecretKeyRef{Name: "hook", Key: "url"},
				WebhookSigningSecretRef: &triggersv1alpha1.SecretKeyRef{Name: "hook", Key: "signing-secret"},
				Emails:                  []triggersv1alpha1.EmailAddress{"sales@example.com"},
				EmailSubject:            "Subject",
				Slack:                   &triggersv1alpha1.ChatDestination{WebhookURLSecretRef: &triggersv1alpha1.SecretKeyRef{Name: "chat", Key: "slack"}},
				Teams:                   &triggersv1alpha1.ChatDestination{WebhookURL: &hook},
			},
		}
		Expect(k8sClient.Create(suiteCtx, mt)).To(Succeed())
		want := Trigger{
			ID:                      "from-kubectl",
			Name:                    "Pricing visitors",
			EventType:               "page_view",
			ScoreThreshold:          40,
			Emails:                  []string{"sales@example.com"},
			Active:                  true,
			CreatedAt:               mt.CreationTimestamp.UTC().Format(time.RFC3339),
			EmailSubject:            "Subject",
			WebhookURLSecretRef:     &SecretKeyRef{Name: "hook", Key: "url"},
			WebhookSigningSecretRef: &SecretKeyRef{Name: "hook", Key: "signing-secret"},
			Slack:                   &ChatDestination{WebhookURLSecretRef: &SecretKeyRef{Name: "chat", Key: "slack"}},
			Teams:                   &ChatDestination{WebhookURL: "https://hooks.example.com/teams"},
		}
		// Written around the shim, so only the watch's latency stands
		// between the write and the cache.
		Eventually(func(g Gomega) {
			resp := editor.do(http.MethodGet, "/triggers/from-kubectl", "")
			g.Expect(resp.status).To(Equal(http.StatusOK))
		}).Should(Succeed())
		got := editor.do(http.MethodGet, "/triggers/from-kubectl", "").trigger(http.StatusOK)
		Expect(got.Status).NotTo(BeNil())
		got.Status = nil
		Expect(got).To(Equal(want))
		listed := editor.do(http.MethodGet, "/triggers", "").list()
		Expect(listed).To(HaveLen(1))
		listed[0].Status = nil
		Expect(listed[0]).To(Equal(want))
	})

	It("lists the OU's triggers oldest first, and sees each write at once", func() {
		var created []string
		for range 5 {
			t := editor.create(ou, `{"name":"n","score_threshold":1}`)
			created = append(created, t.ID)
			Expect(editor.do(http.MethodGet, "/triggers/"+t.ID, "").status).To(Equal(http.StatusOK))
			Expect(ids(editor.do(http.MethodGet, "/triggers", "").list())).To(ContainElement(t.ID))
		}
		Expect(ids(editor.do(http.MethodGet, "/triggers", "").list())).To(ConsistOf(created))
	})

	It("returns an empty list, not null, for an OU without triggers", func() {
		resp := editor.do(http.MethodGet, "/triggers", "")
		Expect(string(resp.body)).To(MatchJSON(`{"triggers":[]}`))
	})

	It("replaces every field on PUT", func() {
		t := editor.create(ou, `{"name":"Old","event_type":"page_view","score_threshold":10,"active":false,
			"webhook_url":"https://hooks.example.com/a","emails":["a@example.com"],"email_subject":"S"}`)
		resp := editor.do(http.MethodPut, "/triggers/"+t.ID, `{"name":"New","score_threshold":20}`)
		got := resp.trigger(http.StatusOK)
		Expect(got.ID).To(Equal(t.ID))
		Expect(got.CreatedAt).To(Equal(t.CreatedAt))
		Expect(got.Name).To(Equal("New"))
		Expect(got.ScoreThreshold).To(BeEquivalentTo(20))
		Expect(got.Active).To(BeTrue(), "active defaults to true on PUT")
		Expect(resp.fields()).NotTo(HaveKey("event_type"))
		Expect(resp.fields()).NotTo(HaveKey("webhook_url"))
		Expect(resp.fields()).NotTo(HaveKey("emails"))
		Expect(resp.fields()).NotTo(HaveKey("email_subject"))

		mt := getResource(ou, t.ID)
		Expect(mt.Spec.EventType).To(BeEmpty())
		Expect(mt.Spec.WebhookURL).To(BeNil())
		Expect(mt.Spec.Emails).To(BeEmpty())
		Expect(mt.IsActive()).To(BeTrue())

		By("reading it back at once")
		Expect(editor.do(http.MethodGet, "/triggers/"+t.ID, "").trigger(http.StatusOK).Name).To(Equal("New"))
	})

	It("accepts on PUT the id and created_at it returned, and refuses others", func() {
		t := editor.create(ou, `{"name":"n","score_threshold":1}`)
		editor.do(http.MethodPut, "/triggers/"+t.ID,
			`{"id":"`+t.ID+`","created_at":"`+t.CreatedAt+`","status":{"ready":true},"name":"m","score_threshold":2}`).trigger(http.StatusOK)
		e := editor.do(http.MethodPut, "/triggers/"+t.ID, `{"id":"trigger-other","name":"m","score_threshold":2}`).apiError(http.StatusBadRequest)
		Expect(e.Fields).To(Equal([]FieldError{{Field: "id", Message: "read-only: does not match the trigger's id"}}))
		e = editor.do(http.MethodPut, "/triggers/"+t.ID, `{"created_at":"2020-01-01T00:00:00Z","name":"m","score_threshold":2}`).apiError(http.StatusBadRequest)
		Expect(fieldNames(e)).To(Equal([]string{"created_at"}))
	})

	It("merges on PATCH", func() {
		t := editor.create(ou, seedBody)
		resp := editor.do(http.MethodPatch, "/triggers/"+t.ID, `{"score_threshold":90,"emails":null,"active":false,
			"slack":{"webhook_url":"https://hooks.slack.com/services/x"}}`,
			"Content-Type", "application/merge-patch+json")
		got := resp.trigger(http.StatusOK)
		Expect(got.ScoreThreshold).To(BeEquivalentTo(90))
		Expect(got.Active).To(BeFalse())
		Expect(resp.fields()).NotTo(HaveKey("emails"))
		Expect(got.Slack).To(Equal(&ChatDestination{WebhookURL: "https://hooks.slack.com/services/x"}))
		Expect(got.Name).To(Equal(t.Name))
		Expect(got.EventType).To(Equal(t.EventType))
		Expect(got.WebhookURL).To(Equal(t.WebhookURL))
		Expect(got.EmailSubject).To(Equal(t.EmailSubject))
		Expect(got.EmailMessage).To(Equal(t.EmailMessage))

		By("merging into a nested object")
		got = editor.do(http.MethodPatch, "/triggers/"+t.ID, `{"slack":{"webhook_url":null,"webhook_url_secret_ref":{"name":"chat","key":"slack"}}}`).trigger(http.StatusOK)
		Expect(got.Slack).To(Equal(&ChatDestination{WebhookURLSecretRef: &SecretKeyRef{Name: "chat", Key: "slack"}}))

		By("sending back what GET returned, status included")
		current := editor.do(http.MethodGet, "/triggers/"+t.ID, "")
		again := editor.do(http.MethodPatch, "/triggers/"+t.ID, string(current.body)).trigger(http.StatusOK)
		again.Status = nil
		before := current.trigger(http.StatusOK)
		before.Status = nil
		Expect(again).To(Equal(before))

		mt := getResource(ou, t.ID)
		Expect(*mt.Spec.ScoreThreshold).To(BeEquivalentTo(90))
		Expect(mt.Spec.Emails).To(BeEmpty())
	})

	It("refuses a PATCH that clears a required field, sets an unknown one or changes the id", func() {
		t := editor.create(ou, seedBody)
		e := editor.do(http.MethodPatch, "/triggers/"+t.ID, `{"name":null}`).apiError(http.StatusBadRequest)
		Expect(e.Fields).To(Equal([]FieldError{{Field: "name", Message: "required"}}))
		e = editor.do(http.MethodPatch, "/triggers/"+t.ID, `{"threshold":5}`).apiError(http.StatusBadRequest)
		Expect(e.Fields).To(Equal([]FieldError{{Field: "threshold", Message: "unknown field"}}))
		e = editor.do(http.MethodPatch, "/triggers/"+t.ID, `{"id":"trigger-else"}`).apiError(http.StatusBadRequest)
		Expect(fieldNames(e)).To(Equal([]string{"id"}))
		e = editor.do(http.MethodPatch, "/triggers/"+t.ID, `{"score_threshold":"high"}`).apiError(http.StatusBadRequest)
		Expect(e.Message).To(ContainSubstring("score_threshold: must be an integer"))
		e = editor.do(http.MethodPatch, "/triggers/"+t.ID, `[{"op":"replace","path":"/name","value":"x"}]`,
			"Content-Type", "application/json-patch+json").apiError(http.StatusUnsupportedMediaType)
		Expect(e.Message).To(ContainSubstring("application/merge-patch+json"))
		Expect(getResource(ou, t.ID).Spec.DisplayName).To(Equal("Hot Lead Alert"))
	})

	It("deletes: 204, then 404", func() {
		t := editor.create(ou, seedBody)
		resp := editor.do(http.MethodDelete, "/triggers/"+t.ID, "")
		Expect(resp.status).To(Equal(http.StatusNoContent))
		Expect(resp.body).To(BeEmpty())
		e := editor.do(http.MethodGet, "/triggers/"+t.ID, "").apiError(http.StatusNotFound)
		Expect(e.Message).To(ContainSubstring(t.ID))
		Expect(editor.do(http.MethodGet, "/triggers", "").list()).To(BeEmpty())
		editor.do(http.MethodDelete, "/triggers/"+t.ID, "").apiError(http.StatusNotFound)
	})

	It("answers 404 for an unknown id, whatever the method", func() {
		editor.do(http.MethodGet, "/triggers/trigger-nope", "").apiError(http.StatusNotFound)
		editor.do(http.MethodPut, "/triggers/trigger-nope", `{"name":"n","score_threshold":1}`).apiError(http.StatusNotFound)
		editor.do(http.MethodPatch, "/triggers/trigger-nope", `{"name":"n"}`).apiError(http.StatusNotFound)
		editor.do(http.MethodDelete, "/triggers/trigger-nope", "").apiError(http.StatusNotFound)
		editor.do(http.MethodGet, "/triggers/Not_A_Name", "").apiError(http.StatusNotFound)
	})

	It("answers 405 for a wrong method and 404 for an unknown path, in the error shape", func() {
		resp := editor.do(http.MethodDelete, "/triggers", "")
		resp.apiError(http.StatusMethodNotAllowed)
		Expect(resp.header.Get("Allow")).To(Equal("GET, POST, HEAD"))
		resp = editor.do(http.MethodPost, "/triggers/trigger-x", "{}")
		resp.apiError(http.StatusMethodNotAllowed)
		Expect(resp.header.Get("Allow")).To(Equal("GET, PUT, PATCH, DELETE, HEAD"))
		editor.do(http.MethodGet, "/nope", "").apiError(http.StatusNotFound)
		editor.do(http.MethodGet, "/triggers/a/b", "").apiError(http.StatusNotFound)
	})

	It("shows the trigger's status, read-only", func() {
		t := editor.create(ou, seedBody)
		Expect(t.Status).To(Equal(&TriggerStatus{Reason: ReasonPending,
			Message: "the operator has not handled this version of the trigger yet"}))

		mt := getResource(ou, t.ID)
		fired := metav1.NewTime(time.Date(2025, 1, 15, 10, 35, 0, 0, time.UTC))
		mt.Status.FiredCount = 3
		mt.Status.LastFiredTime = &fired
		mt.Status.LastFiring = &triggersv1alpha1.FiringSummary{LeadID: "ld_123", EventID: "evt-789", EventType: "demo_request", Score: 82}
		meta.SetStatusCondition(&mt.Status.Conditions, metav1.Condition{
			Type: triggersv1alpha1.ReadyCondition, Status: metav1.ConditionTrue, Reason: triggersv1alpha1.ReasonAccepted,
			Message: "Trigger is evaluated", ObservedGeneration: mt.Generation,
		})
		Expect(k8sClient.Status().Update(suiteCtx, mt)).To(Succeed())
		Eventually(func(g Gomega) {
			got := editor.do(http.MethodGet, "/triggers/"+t.ID, "").trigger(http.StatusOK)
			g.Expect(got.Status).To(Equal(&TriggerStatus{
				Ready: true, Reason: "Accepted", Message: "Trigger is evaluated", FiredCount: 3,
				LastFiredAt: "2025-01-15T10:35:00Z",
				LastFiring:  &FiringSummary{LeadID: "ld_123", EventID: "evt-789", EventType: "demo_request", Score: 82},
			}))
		}).Should(Succeed())

		By("a new version of the spec is pending again")
		got := editor.do(http.MethodPatch, "/triggers/"+t.ID, `{"score_threshold":80}`).trigger(http.StatusOK)
		Expect(got.Status.Ready).To(BeFalse())
		Expect(got.Status.Reason).To(Equal(ReasonPending))
		Expect(got.Status.FiredCount).To(BeEquivalentTo(3))
	})
})
