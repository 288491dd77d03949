package restapi

import (
	"net/http"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// A schema error (too long, too many) keeps the API server from running
// the CRD's CEL rules, and it says so in a cause of its own, without a
// field; the shim names only the real fields, in the seed's snake_case.
var _ = Describe("The API server's refusals through the REST API", func() {
	var editor caller
	BeforeEach(func() {
		editor = newServiceAccount(newOU(), editorRole)
	})

	DescribeTable("name the seed's fields and nothing else",
		func(body string, want ...FieldError) {
			resp := editor.do(http.MethodPost, "/triggers", body)
			e := resp.apiError(http.StatusBadRequest)
			Expect(e.Fields).To(ConsistOf(want))
			for _, text := range []string{"<nil>", "not checked", "spec.", "in body", "s3cr3t"} {
				Expect(string(resp.body)).NotTo(ContainSubstring(text))
			}
			for _, f := range want {
				Expect(e.Message).To(ContainSubstring(f.Field + ": " + f.Message))
			}
		},
		Entry("a name too long", `{"name":"`+strings.Repeat("n", 201)+`","score_threshold":1}`,
			FieldError{Field: "name", Message: "may not be more than 200 bytes"}),
		Entry("an email_subject too long", `{"name":"n","score_threshold":1,"email_subject":"`+strings.Repeat("s", 201)+`"}`,
			FieldError{Field: "email_subject", Message: "may not be more than 200 bytes"}),
		Entry("too many emails", `{"name":"n","score_threshold":1,"emails":[`+manyEmails(51)+`]}`,
			FieldError{Field: "emails", Message: "must have at most 50 items"}),
		Entry("a webhook_url too long, never echoed", `{"name":"n","score_threshold":1,"webhook_url":"https://x.example/s3cr3t`+strings.Repeat("p", 2050)+`"}`,
			FieldError{Field: "webhook_url", Message: "may not be more than 2048 bytes"}),
		Entry("two fields too long", `{"name":"`+strings.Repeat("n", 201)+`","score_threshold":1,"email_preheader":"`+strings.Repeat("p", 201)+`"}`,
			FieldError{Field: "name", Message: "may not be more than 200 bytes"},
			FieldError{Field: "email_preheader", Message: "may not be more than 200 bytes"}),
	)
})

// manyEmails is n distinct email addresses as JSON strings, comma-separated.
func manyEmails(n int) string {
	out := make([]string, n)
	for i := range out {
		out[i] = `"sales` + strings.Repeat("x", i) + `@example.com"`
	}
	return strings.Join(out, ",")
}
