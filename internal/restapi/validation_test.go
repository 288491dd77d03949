package restapi

import (
	"net/http"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("Request validation", func() {
	var (
		ou     string
		editor caller
	)
	BeforeEach(func() {
		ou = newOU()
		editor = newServiceAccount(ou, editorRole)
	})

	It("names missing name and score_threshold", func() {
		for _, method := range []string{http.MethodPost, http.MethodPut} {
			path := "/triggers"
			if method == http.MethodPut {
				path += "/" + editor.create(ou, seedBody).ID
			}
			e := editor.do(method, path, `{"event_type":"page_view"}`).apiError(http.StatusBadRequest)
			Expect(e.Fields).To(Equal([]FieldError{{Field: "name", Message: "required"}, {Field: "score_threshold", Message: "required"}}))
			Expect(e.Message).To(ContainSubstring("name: required"))
			Expect(e.Message).To(ContainSubstring("score_threshold: required"))
		}
	})

	It("names unknown fields", func() {
		e := editor.do(http.MethodPost, "/triggers", `{"name":"n","score_threshold":1,"scoreThreshold":1,"slack":{"channel":"#sales","webhook_url":"https://hooks.slack.com/x"}}`).
			apiError(http.StatusBadRequest)
		Expect(e.Fields).To(Equal([]FieldError{
			{Field: "scoreThreshold", Message: "unknown field"},
			{Field: "slack.channel", Message: "unknown field"},
		}))
	})

	It("names fields of the wrong type", func() {
		e := editor.do(http.MethodPost, "/triggers", `{"name":"n","score_threshold":"75","active":"yes","emails":"a@example.com"}`).
			apiError(http.StatusBadRequest)
		Expect(e.Fields).To(ConsistOf(
			FieldError{Field: "score_threshold", Message: "must be an integer"},
			FieldError{Field: "active", Message: "must be a boolean"},
			FieldError{Field: "emails", Message: "must be an array of strings"},
		))
		Expect(e.Message).To(ContainSubstring("score_threshold: must be an integer"))
	})

	It("refuses malformed JSON and bodies that are not objects", func() {
		editor.do(http.MethodPost, "/triggers", `{"name":`).apiError(http.StatusBadRequest)
		editor.do(http.MethodPost, "/triggers", `[]`).apiError(http.StatusBadRequest)
		editor.do(http.MethodPost, "/triggers", `{"name":"n","score_threshold":1}{}`).apiError(http.StatusBadRequest)
		editor.do(http.MethodPost, "/triggers", "", "Content-Type", "application/json").apiError(http.StatusBadRequest)
		editor.do(http.MethodPost, "/triggers", `name=n`, "Content-Type", "application/x-www-form-urlencoded").
			apiError(http.StatusUnsupportedMediaType)
	})

	It("answers 413 to a body over the limit", func() {
		big := `{"name":"n","score_threshold":1,"email_message":"` + strings.Repeat("m", DefaultMaxBodyBytes) + `"}`
		e := editor.do(http.MethodPost, "/triggers", big).apiError(http.StatusRequestEntityTooLarge)
		Expect(e.Message).To(ContainSubstring("1048576"))
		t := editor.create(ou, seedBody)
		editor.do(http.MethodPut, "/triggers/"+t.ID, big).apiError(http.StatusRequestEntityTooLarge)
		editor.do(http.MethodPatch, "/triggers/"+t.ID, big).apiError(http.StatusRequestEntityTooLarge)
	})

	DescribeTable("returns the CRD's refusals as 400s naming the snake_case fields",
		func(body string, want ...FieldError) {
			e := editor.do(http.MethodPost, "/triggers", body).apiError(http.StatusBadRequest)
			Expect(e.Fields).To(ConsistOf(want))
			Expect(editor.do(http.MethodGet, "/triggers", "").list()).To(BeEmpty(), "a refused trigger was stored")
		},
		Entry("webhook_url that is not http(s)", `{"name":"n","score_threshold":1,"webhook_url":"ftp://x"}`,
			FieldError{Field: "webhook_url", Message: "must be an absolute http or https URL"}),
		Entry("malformed email", `{"name":"n","score_threshold":1,"emails":["sales@example.com","not-an-email"]}`,
			FieldError{Field: "emails[1]", Message: "must be an email address such as sales@example.com"}),
		Entry("duplicate emails", `{"name":"n","score_threshold":1,"emails":["a@example.com","a@example.com"]}`,
			FieldError{Field: "emails[1]", Message: "duplicate value"}),
		Entry("threshold out of range", `{"name":"n","score_threshold":5000000000}`,
			FieldError{Field: "score_threshold", Message: "should be less than or equal to 1000000000"}),
		Entry("blank name", `{"name":"   ","score_threshold":1}`,
			FieldError{Field: "name", Message: "must not be blank"}),
		Entry("empty name", `{"name":"","score_threshold":1}`,
			FieldError{Field: "name", Message: "should be at least 1 chars long"},
			FieldError{Field: "name", Message: "must not be blank"}),
		Entry("event_type with a space", `{"name":"n","score_threshold":1,"event_type":"page view"}`,
			FieldError{Field: "event_type", Message: "should match '^[A-Za-z0-9][A-Za-z0-9_.:/-]*$'"}),
		Entry("multi-line email_subject", `{"name":"n","score_threshold":1,"email_subject":"a\r\nBcc: x@evil.test"}`,
			FieldError{Field: "email_subject", Message: "must be a single line"}),
		Entry("webhook_url and webhook_url_secret_ref together",
			`{"name":"n","score_threshold":1,"webhook_url":"https://x.example","webhook_url_secret_ref":{"name":"h","key":"url"}}`,
			FieldError{Field: "webhook_url_secret_ref", Message: "webhook_url and webhook_url_secret_ref are mutually exclusive: set one of them"}),
		Entry("signing secret without a webhook", `{"name":"n","score_threshold":1,"webhook_signing_secret_ref":{"name":"h","key":"s"}}`,
			FieldError{Field: "webhook_signing_secret_ref", Message: "needs a webhook: set webhook_url or webhook_url_secret_ref"}),
		Entry("Slack without a URL", `{"name":"n","score_threshold":1,"slack":{}}`,
			FieldError{Field: "slack", Message: "set exactly one of webhook_url and webhook_url_secret_ref"}),
		Entry("Teams URL that is not http(s)", `{"name":"n","score_threshold":1,"teams":{"webhook_url":"javascript:alert(1)"}}`,
			FieldError{Field: "teams.webhook_url", Message: "must be an absolute http or https URL"}),
		Entry("Secret reference to an invalid name", `{"name":"n","score_threshold":1,"webhook_url_secret_ref":{"name":"Not_A_Name","key":"url"}}`,
			FieldError{Field: "webhook_url_secret_ref.name", Message: "should match '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$'"}),
	)

	It("returns the CRD's refusals of a PUT and a PATCH too, and keeps the trigger", func() {
		t := editor.create(ou, seedBody)
		e := editor.do(http.MethodPut, "/triggers/"+t.ID, `{"name":"n","score_threshold":1,"webhook_url":"ftp://x"}`).apiError(http.StatusBadRequest)
		Expect(fieldNames(e)).To(Equal([]string{"webhook_url"}))
		e = editor.do(http.MethodPatch, "/triggers/"+t.ID, `{"emails":["nope"]}`).apiError(http.StatusBadRequest)
		Expect(fieldNames(e)).To(Equal([]string{"emails[0]"}))
		Expect(editor.do(http.MethodGet, "/triggers/"+t.ID, "").trigger(http.StatusOK).WebhookURL).To(Equal(t.WebhookURL))
	})

	It("never repeats a refused webhook URL, which may carry a token", func() {
		resp := editor.do(http.MethodPost, "/triggers", `{"name":"n","score_threshold":1,"webhook_url":"ftp://hooks.example.com/s3cr3t-token"}`)
		resp.apiError(http.StatusBadRequest)
		Expect(string(resp.body)).NotTo(ContainSubstring("s3cr3t"))
	})
})
