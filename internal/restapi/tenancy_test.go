package restapi

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	triggersv1alpha1 "github.com/leadvibe/milestone-triggers-operator/api/v1alpha1"
	"github.com/leadvibe/milestone-triggers-operator/internal/event"
	"github.com/leadvibe/milestone-triggers-operator/internal/ledger"
	"github.com/leadvibe/milestone-triggers-operator/internal/notify"
)

// grantSecretGet lets the caller get one Secret of ou, and waits until the
// API server's authorizer says so.
func (c caller) grantSecretGet(ou, secret string) {
	GinkgoHelper()
	role := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Namespace: ou, GenerateName: "read-" + secret + "-"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get"}, ResourceNames: []string{secret}}},
	}
	Expect(k8sClient.Create(suiteCtx, role)).To(Succeed())
	Expect(k8sClient.Create(suiteCtx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: ou, GenerateName: role.Name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
		Subjects:   []rbacv1.Subject{c.subject},
	})).To(Succeed())
	Eventually(func(g Gomega) {
		sar, err := clientset.AuthorizationV1().SubjectAccessReviews().Create(suiteCtx, &authorizationv1.SubjectAccessReview{
			Spec: authorizationv1.SubjectAccessReviewSpec{User: c.user, Groups: c.groups,
				ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: ou, Verb: "get", Resource: "secrets", Name: secret}},
		}, metav1.CreateOptions{})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(sar.Status.Allowed).To(BeTrue())
	}).Should(Succeed())
}

// Issue 11, "names are names": a trigger id or an OU is a Kubernetes name
// before it is part of a subject; "*", ">" and "." are never wildcards.
var _ = Describe("Names in paths, queries and headers", func() {
	var ou string
	BeforeEach(func() {
		ou = newOU()
		rec := historyStore.Recorder(5 * time.Second)
		for i, trigger := range []string{"a", "a.b", "c"} {
			f := ledger.Firing{ID: fmt.Sprintf("mtf_%s_%d", ou, i), OU: ou, Trigger: trigger, FiredAt: time.Now().UTC(),
				Event: event.Event{ID: fmt.Sprintf("e%d", i), LeadID: "ld_1", EventType: "demo_request"}, Score: 80}
			Expect(rec.Firing(f)()).To(Succeed())
		}
	})
	triggersOf := func(r response) []string {
		GinkgoHelper()
		Expect(r.status).To(Equal(http.StatusOK), string(r.body))
		var out []string
		for _, e := range r.fields()["milestone_events"].([]any) {
			out = append(out, e.(map[string]any)["trigger_id"].(string))
		}
		return out
	}

	It("never reads another trigger's history through a pattern in the path", func() {
		viewer := newServiceAccount(ou, viewerRole)
		Expect(triggersOf(viewer.do(http.MethodGet, "/triggers/a/events", ""))).To(Equal([]string{"a"}))
		Expect(triggersOf(viewer.do(http.MethodGet, "/triggers/a.b/events", ""))).To(Equal([]string{"a.b"}), "a dot does not split the name")
		for _, id := range []string{"*", "%2A", "%3E", "a.%2A", "a%2E%3E", "A", "a_b"} {
			viewer.do(http.MethodGet, "/triggers/"+id+"/events", "").apiError(http.StatusNotFound)
		}
		Expect(triggersOf(viewer.do(http.MethodGet, "/milestone-events", ""))).To(ConsistOf("a", "a.b", "c"))
	})

	It("gives a caller allowed to get one trigger that trigger's history and nothing else", func() {
		sa := newServiceAccount(ou, "")
		role := &rbacv1.Role{
			ObjectMeta: metav1.ObjectMeta{Namespace: ou, Name: "get-a"},
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{triggersv1alpha1.GroupVersion.Group}, Resources: []string{"milestonetriggers"},
				Verbs: []string{"get"}, ResourceNames: []string{"a"}}},
		}
		Expect(k8sClient.Create(suiteCtx, role)).To(Succeed())
		Expect(k8sClient.Create(suiteCtx, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Namespace: ou, Name: "get-a"},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "get-a"},
			Subjects:   []rbacv1.Subject{sa.subject},
		})).To(Succeed())
		Eventually(func() int { return sa.do(http.MethodGet, "/triggers/a/events", "").status }).Should(Equal(http.StatusOK))
		Expect(triggersOf(sa.do(http.MethodGet, "/triggers/a/events", ""))).To(Equal([]string{"a"}))
		for _, id := range []string{"*", "%3E", "a.b", "c"} {
			r := sa.do(http.MethodGet, "/triggers/"+id+"/events", "")
			Expect(r.status).To(BeElementOf(http.StatusForbidden, http.StatusNotFound), "%s: %s", id, r.body)
		}
		sa.do(http.MethodGet, "/milestone-events", "").apiError(http.StatusForbidden)
	})

	It("refuses a trigger_id or lead_id that is not a name, naming the parameter", func() {
		viewer := newServiceAccount(ou, viewerRole)
		Expect(triggersOf(viewer.do(http.MethodGet, "/milestone-events?trigger_id=a.b", ""))).To(Equal([]string{"a.b"}))
		for _, q := range []string{"*", "%3E", "a.*", "a%00", "A"} {
			e := viewer.do(http.MethodGet, "/milestone-events?trigger_id="+q, "").apiError(http.StatusBadRequest)
			Expect(fieldNames(e)).To(ConsistOf("trigger_id"), q)
		}
		for _, q := range []string{"ld%00", "ld%0A1", "ld%FF", "ld%C2%85"} {
			e := viewer.do(http.MethodGet, "/milestone-events?lead_id="+q, "").apiError(http.StatusBadRequest)
			Expect(fieldNames(e)).To(ConsistOf("lead_id"), q)
		}
		Expect(triggersOf(viewer.do(http.MethodGet, "/milestone-events?lead_id=ld_1&trigger_id=c", ""))).To(Equal([]string{"c"}))
	})

	It("refuses an X-LeadVibe-OU that is not a namespace name, naming the header", func() {
		viewer := newServiceAccount(ou, viewerRole)
		for _, h := range []string{"*", ">", ou + ".x", "\xff", "Demo"} {
			e := viewer.do(http.MethodGet, "/milestone-events", "", OUHeader, h).apiError(http.StatusBadRequest)
			Expect(e.Message).To(ContainSubstring(OUHeader), h)
		}
	})
})

// Issue 11, "bad input": NUL, control characters and invalid UTF-8 are
// refused, naming the field, whatever the route.
var _ = Describe("Bad input in request bodies", func() {
	var (
		ou     string
		editor caller
	)
	BeforeEach(func() {
		ou = newOU()
		editor = newServiceAccount(ou, editorRole)
	})
	const valid = `"score_threshold":75,"webhook_url":"https://hooks.example.com/x"`

	DescribeTable("POST /triggers refuses it, naming the field",
		func(body, field, want string) {
			e := editor.in(ou, http.MethodPost, "/triggers", body).apiError(http.StatusBadRequest)
			Expect(e.Fields).To(ContainElement(FieldError{Field: field, Message: e.Fields[0].Message}))
			Expect(e.Fields[0].Message).To(ContainSubstring(want))
		},
		Entry("raw invalid UTF-8 in name", "{\"name\":\"Hot \xff\","+valid+"}", "name", "must be valid UTF-8"),
		Entry("a truncated sequence in email_subject", "{\"name\":\"Hot\",\"email_subject\":\"\xc3\","+valid+"}", "email_subject", "must be valid UTF-8"),
		Entry("an encoded surrogate in email_message", "{\"name\":\"Hot\",\"email_message\":\"\xed\xa0\x80\","+valid+"}", "email_message", "must be valid UTF-8"),
		Entry("a lone surrogate escape in name", `{"name":"Hot \ud800",`+valid+`}`, "name", "must be valid UTF-8"),
		Entry("an escaped NUL in name", `{"name":"Hot\u0000",`+valid+`}`, "name", "must not contain control characters (found U+0000"),
		Entry("a line break in email_preheader", `{"name":"Hot","email_preheader":"a\nb",`+valid+`}`, "email_preheader", "must be a single line"),
		Entry("an escape sequence in email_subject", `{"name":"Hot","email_subject":"\u001b[31m",`+valid+`}`, "email_subject", "must not contain control characters"),
		Entry("a C1 control in email_message", `{"name":"Hot","email_message":"a\u0085",`+valid+`}`, "email_message", "other than tab and line breaks (found U+0085"),
		Entry("a NUL in an email", `{"name":"Hot","emails":["a@example.com\u0000"],`+valid+`}`, "emails[0]", "must not contain control characters"),
		Entry("a NUL in a Secret reference", `{"name":"Hot","score_threshold":75,"webhook_url_secret_ref":{"name":"s","key":"k\u0000"}}`, "webhook_url_secret_ref.key", "must not contain control characters"),
		Entry("invalid UTF-8 in a field name", "{\"name\":\"Hot\",\"x\xff\":1,"+valid+"}", "body", "field names must be valid UTF-8"),
		Entry("invalid UTF-8 deep in slack", "{\"name\":\"Hot\",\"slack\":{\"webhook_url\":\"https://h.example.com/\xff\"},"+valid+"}", "slack.webhook_url", "must be valid UTF-8"),
	)

	It("accepts Unicode, and tabs and line breaks in email_message", func() {
		t := editor.create(ou, `{"name":"Café ✓ 🔥",`+valid+`,"email_message":"Line 1\n\tLine 2\r\n"}`)
		Expect(t.Name).To(Equal("Café ✓ 🔥"))
		Expect(t.EmailMessage).To(Equal("Line 1\n\tLine 2\r\n"))
	})

	It("refuses it in PUT and PATCH too, naming the field", func() {
		t := editor.create(ou, `{"name":"Hot",`+valid+`}`)
		e := editor.in(ou, http.MethodPut, "/triggers/"+t.ID, "{\"name\":\"Hot\xfe\","+valid+"}").apiError(http.StatusBadRequest)
		Expect(fieldNames(e)).To(ConsistOf("name"))
		e = editor.in(ou, http.MethodPatch, "/triggers/"+t.ID, `{"email_subject":"a\u0000"}`, "Content-Type", "application/merge-patch+json").apiError(http.StatusBadRequest)
		Expect(fieldNames(e)).To(ConsistOf("email_subject"))
		e = editor.in(ou, http.MethodPatch, "/triggers/"+t.ID, "{\"name\":\"\xc0\xaf\"}", "Content-Type", "application/merge-patch+json").apiError(http.StatusBadRequest)
		Expect(fieldNames(e)).To(ConsistOf("name"))
		Expect(getResource(ou, t.ID).Spec.DisplayName).To(Equal("Hot"), "nothing was written")
	})

	It("refuses it in a simulated event, naming event.<field>", func() {
		t := editor.create(ou, `{"name":"Hot",`+valid+`}`)
		path := "/triggers/" + t.ID + "/simulate"
		for body, field := range map[string]string{
			"{\"event\":{\"id\":\"e\",\"lead_id\":\"ld\xff\",\"event_type\":\"x\",\"score\":1}}":                           "event.lead_id",
			`{"event":{"id":"e\u0000","lead_id":"ld","event_type":"x","score":1}}`:                                         "event.id",
			`{"event":{"id":"e","lead_id":"ld","event_type":"x\u0007","score":1}}`:                                         "event.event_type",
			"{\"event\":{\"id\":\"e\",\"lead_id\":\"ld\",\"event_type\":\"x\",\"score\":1,\"metadata\":{\"k\":\"\xff\"}}}": "event.metadata.k",
		} {
			e := editor.in(ou, http.MethodPost, path, body).apiError(http.StatusBadRequest)
			Expect(fieldNames(e)).To(ConsistOf(field), body)
		}
	})
})

// Issue 11, "no confused deputy": a trigger uses only Secrets that opt in,
// and simulate shows what a Secret makes only to a caller who may read it.
var _ = Describe("Secrets in simulations", func() {
	var (
		ou     string
		editor caller
	)
	const body = `{"event":{"id":"e1","lead_id":"ld_1","event_type":"x","score":80}}`
	BeforeEach(func() {
		ou = newOU()
		editor = newServiceAccount(ou, editorRole)
	})
	newSecret := func(name string, labeled bool, data map[string]string) {
		GinkgoHelper()
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ou, Name: name}, StringData: data}
		if labeled {
			s.Labels = map[string]string{triggersv1alpha1.ReferenceableLabel: triggersv1alpha1.ReferenceableValue}
		}
		Expect(k8sClient.Create(suiteCtx, s)).To(Succeed())
	}
	signing := "whsec_" + base64.StdEncoding.EncodeToString([]byte(signingKey))

	It("answers 409 for a Secret without the referenceable label, naming it but nothing it holds", func() {
		newSecret("other-team", false, map[string]string{"secret": signing})
		t := editor.create(ou, `{"name":"Hot","score_threshold":75,"webhook_url":"https://hooks.example.com/x",
			"webhook_signing_secret_ref":{"name":"other-team","key":"secret"}}`)
		editor.grantSecretGet(ou, "other-team")
		e := editor.in(ou, http.MethodPost, "/triggers/"+t.ID+"/simulate", body).apiError(http.StatusConflict)
		Expect(e.Message).To(ContainSubstring(`Secret "other-team"`))
		Expect(e.Message).To(ContainSubstring(triggersv1alpha1.ReferenceableLabel))
		Expect(e.Message).NotTo(ContainSubstring("whsec_"))
	})

	It("redacts the signature and Secret-held URLs for a caller who may not get the Secrets, and refuses test sends", func() {
		rcv := newHookReceiver(http.StatusOK)
		newSecret("signing", true, map[string]string{"secret": signing})
		newSecret("chat", true, map[string]string{"slack": "https://hooks.slack.com/services/T0/B0/s3cr3t"})
		t := editor.create(ou, `{"name":"Hot","score_threshold":75,"webhook_url":"`+rcv.URL+`/hook",
			"webhook_signing_secret_ref":{"name":"signing","key":"secret"},
			"slack":{"webhook_url_secret_ref":{"name":"chat","key":"slack"}}}`)
		path := "/triggers/" + t.ID + "/simulate"

		res := editor.in(ou, http.MethodPost, path, body).simulation()
		Expect(res.WouldFire).To(BeTrue())
		Expect(res.Notifications).To(HaveLen(2))
		hook, slack := res.Notifications[0], res.Notifications[1]
		Expect(hook.Webhook.Headers).To(HaveKeyWithValue("Webhook-Signature", "<redacted>"))
		Expect(hook.Note).To(ContainSubstring(`Secret "signing"`))
		Expect(hook.Note).To(ContainSubstring("which you may not get"))
		Expect(slack.Channel).To(Equal(notify.ChannelSlack))
		Expect(slack.Destination).To(Equal("<redacted>"))
		Expect(slack.Note).To(ContainSubstring(`Secret "chat"`))

		e := editor.in(ou, http.MethodPost, path, `{"event":{"id":"e1","lead_id":"ld_1","event_type":"x","score":80},"send_test_notifications":true}`).apiError(http.StatusForbidden)
		Expect(e.Message).To(ContainSubstring("send_test_notifications"))
		Expect(e.Message).To(ContainSubstring(`Secret "signing"`))
		Consistently(rcv.received, "300ms").Should(BeEmpty(), "a refused simulation sent a test")

		By("showing the signature once the caller may get the signing Secret")
		editor.grantSecretGet(ou, "signing")
		res = editor.in(ou, http.MethodPost, path, body).simulation()
		Expect(res.Notifications[0].Webhook.Headers["Webhook-Signature"]).To(HavePrefix("v1,"))
		Expect(res.Notifications[0].Note).To(BeEmpty())
		Expect(res.Notifications[1].Destination).To(Equal("<redacted>"), "the Slack Secret is still not readable")
		editor.in(ou, http.MethodPost, path, `{"event":{"id":"e1","lead_id":"ld_1","event_type":"x","score":80},"send_test_notifications":true}`).apiError(http.StatusForbidden)

		By("sending tests once the caller may get every Secret the trigger uses")
		editor.grantSecretGet(ou, "chat")
		res = editor.in(ou, http.MethodPost, path, body).simulation()
		Expect(res.Notifications[1].Destination).To(Equal("https://hooks.slack.com/<redacted>"))
	})
})
