package controllers

import (
	"fmt"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// manifest is a valid MilestoneTrigger as a generic object, so that a test
// can break it in ways the Go type would not allow (a string threshold, an
// unknown field).
func manifest(namespace string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "triggers.leadvibe.io/v1alpha1",
		"kind":       "MilestoneTrigger",
		"metadata":   map[string]any{"namespace": namespace, "generateName": "invalid-"},
		"spec": map[string]any{
			"name":           "Hot Lead Alert",
			"eventType":      "demo_request",
			"scoreThreshold": int64(75),
			"webhookURL":     "https://hooks.example.com/leadvibe",
			"emails":         []any{"sales@example.com"},
		},
	}}
}

func spec(u *unstructured.Unstructured) map[string]any { return u.Object["spec"].(map[string]any) }

func ref(name, key string) map[string]any { return map[string]any{"name": name, "key": key} }

func emailList(n int) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = fmt.Sprintf("rep%d@example.com", i)
	}
	return out
}

// The API server itself refuses each of these, as `kubectl apply` (which
// asks for strict field validation) would see, with a message that names
// the field.
var _ = Describe("MilestoneTrigger schema", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	It("accepts the valid manifest the table breaks", func() {
		Expect(k8sClient.Create(suiteCtx, manifest(ns), client.FieldValidation("Strict"))).To(Succeed())
	})

	DescribeTable("refuses an invalid manifest, naming the field",
		func(breakIt func(spec map[string]any), wantInMessage ...string) {
			u := manifest(ns)
			breakIt(spec(u))
			err := k8sClient.Create(suiteCtx, u, client.FieldValidation("Strict"))
			Expect(err).To(HaveOccurred(), "the API server accepted the manifest")
			Expect(apierrors.IsInvalid(err) || apierrors.IsBadRequest(err)).To(BeTrue(), "unexpected error: %v", err)
			for _, want := range wantInMessage {
				Expect(err.Error()).To(ContainSubstring(want))
			}
		},
		Entry("missing name", func(s map[string]any) { delete(s, "name") },
			"spec.name: Required value"),
		Entry("empty name", func(s map[string]any) { s["name"] = "" },
			"spec.name", "at least 1 chars long"),
		Entry("blank name", func(s map[string]any) { s["name"] = "   " },
			"spec.name", "name must not be blank"),
		Entry("oversized name", func(s map[string]any) { s["name"] = strings.Repeat("n", 201) },
			"spec.name", "Too long"),
		Entry("missing scoreThreshold", func(s map[string]any) { delete(s, "scoreThreshold") },
			"spec.scoreThreshold: Required value"),
		Entry("fractional scoreThreshold", func(s map[string]any) { s["scoreThreshold"] = 75.5 },
			"spec.scoreThreshold", "must be of type integer"),
		Entry("string scoreThreshold", func(s map[string]any) { s["scoreThreshold"] = "75" },
			"spec.scoreThreshold", "must be of type integer"),
		Entry("scoreThreshold out of range", func(s map[string]any) { s["scoreThreshold"] = int64(5_000_000_000) },
			"spec.scoreThreshold", "less than or equal to 1000000000"),
		Entry("eventType with a space", func(s map[string]any) { s["eventType"] = "page view" },
			"spec.eventType", "should match"),
		Entry("active that is not a boolean", func(s map[string]any) { s["active"] = "yes" },
			"spec.active", "must be of type boolean"),
		Entry("malformed email", func(s map[string]any) { s["emails"] = []any{"sales@example.com", "not-an-email"} },
			"spec.emails[1]", "must be an email address"),
		Entry("email with a header injection", func(s map[string]any) { s["emails"] = []any{"a@example.com\r\nBcc: x@evil.test"} },
			"spec.emails[0]", "must be an email address"),
		Entry("too many emails", func(s map[string]any) { s["emails"] = emailList(51) },
			"spec.emails", "must have at most 50 items"),
		Entry("duplicate emails", func(s map[string]any) { s["emails"] = []any{"a@example.com", "a@example.com"} },
			"spec.emails[1]", "Duplicate value"),
		Entry("webhookURL that is not http(s)", func(s map[string]any) { s["webhookURL"] = "ftp://hooks.example.com/x" },
			"spec.webhookURL", "must be an absolute http or https URL"),
		Entry("relative webhookURL", func(s map[string]any) { s["webhookURL"] = "/hooks/leadvibe" },
			"spec.webhookURL", "must be an absolute http or https URL"),
		Entry("oversized webhookURL", func(s map[string]any) { s["webhookURL"] = "https://example.com/" + strings.Repeat("a", 2048) },
			"spec.webhookURL", "Too long"),
		Entry("webhookURL and webhookURLSecretRef together", func(s map[string]any) { s["webhookURLSecretRef"] = ref("hook", "url") },
			"spec.webhookURLSecretRef", "webhookURL and webhookURLSecretRef are mutually exclusive"),
		Entry("Secret reference without a key", func(s map[string]any) {
			delete(s, "webhookURL")
			s["webhookURLSecretRef"] = map[string]any{"name": "hook"}
		}, "spec.webhookURLSecretRef.key: Required value"),
		Entry("Secret reference to an invalid name", func(s map[string]any) {
			delete(s, "webhookURL")
			s["webhookURLSecretRef"] = ref("Not_A_Name", "url")
		}, "spec.webhookURLSecretRef.name", "should match"),
		Entry("signing secret without a webhook", func(s map[string]any) {
			delete(s, "webhookURL")
			s["webhookSigningSecretRef"] = ref("hook", "signing-secret")
		}, "spec.webhookSigningSecretRef", "webhookSigningSecretRef needs a webhook"),
		Entry("Slack with an inline URL and a Secret reference", func(s map[string]any) {
			s["slack"] = map[string]any{"webhookURL": "https://hooks.slack.com/services/x", "webhookURLSecretRef": ref("chat", "slack")}
		}, "spec.slack", "set exactly one of webhookURL and webhookURLSecretRef"),
		Entry("Slack without a URL", func(s map[string]any) { s["slack"] = map[string]any{} },
			"spec.slack", "set exactly one of webhookURL and webhookURLSecretRef"),
		Entry("Teams URL that is not http(s)", func(s map[string]any) { s["teams"] = map[string]any{"webhookURL": "javascript:alert(1)"} },
			"spec.teams.webhookURL", "must be an absolute http or https URL"),
		Entry("multi-line emailSubject", func(s map[string]any) { s["emailSubject"] = "Hot lead\r\nBcc: x@evil.test" },
			"spec.emailSubject", "emailSubject must be a single line"),
		Entry("oversized emailSubject", func(s map[string]any) { s["emailSubject"] = strings.Repeat("s", 201) },
			"spec.emailSubject", "Too long"),
		Entry("oversized emailPreheader", func(s map[string]any) { s["emailPreheader"] = strings.Repeat("p", 201) },
			"spec.emailPreheader", "Too long"),
		Entry("oversized emailMessage", func(s map[string]any) { s["emailMessage"] = strings.Repeat("m", 4001) },
			"spec.emailMessage", "Too long"),
		Entry("unknown field", func(s map[string]any) { s["webhook_url"] = "https://hooks.example.com/x" },
			`unknown field "spec.webhook_url"`),
		Entry("name with a NUL", func(s map[string]any) { s["name"] = "Hot\x00Lead" },
			"spec.name", "name must not contain control characters or invalid UTF-8"),
		Entry("name with a line break", func(s map[string]any) { s["name"] = "Hot\nLead" },
			"spec.name", "name must not contain control characters or invalid UTF-8"),
		Entry("name with a C1 control", func(s map[string]any) { s["name"] = "Hot\u0085Lead" },
			"spec.name", "name must not contain control characters or invalid UTF-8"),
		Entry("name with invalid UTF-8", func(s map[string]any) { s["name"] = "Hot\xffLead" },
			"spec.name", "name must not contain control characters or invalid UTF-8"),
		Entry("emailSubject with an escape", func(s map[string]any) { s["emailSubject"] = "Hot \x1b[31mlead" },
			"spec.emailSubject", "emailSubject must not contain control characters or invalid UTF-8"),
		Entry("emailPreheader with a NUL", func(s map[string]any) { s["emailPreheader"] = "a\x00b" },
			"spec.emailPreheader", "emailPreheader must not contain control characters or invalid UTF-8"),
		Entry("emailMessage with a NUL", func(s map[string]any) { s["emailMessage"] = "Call them.\n\x00" },
			"spec.emailMessage", "emailMessage must not contain control characters other than tab and line breaks"),
		Entry("emailMessage with invalid UTF-8", func(s map[string]any) { s["emailMessage"] = "Call \xc3them" },
			"spec.emailMessage", "emailMessage must not contain control characters other than tab and line breaks"),
		Entry("eventType with a control character", func(s map[string]any) { s["eventType"] = "demo\x7frequest" },
			"spec.eventType", "should match"),
		Entry("webhookURL with a space", func(s map[string]any) { s["webhookURL"] = "https://hooks.example.com/a b" },
			"spec.webhookURL", "must not contain spaces, control characters or invalid UTF-8"),
		Entry("Slack URL with a NUL", func(s map[string]any) { s["slack"] = map[string]any{"webhookURL": "https://hooks.slack.com/x\x00"} },
			"spec.slack.webhookURL", "must not contain spaces, control characters or invalid UTF-8"),
		Entry("Secret key with a NUL", func(s map[string]any) {
			delete(s, "webhookURL")
			s["webhookURLSecretRef"] = ref("hook", "url\x00")
		}, "spec.webhookURLSecretRef.key", "should match"),
		Entry("rearmBelow equal to scoreThreshold", func(s map[string]any) { s["rearmBelow"] = int64(75) },
			"spec.rearmBelow", "rearmBelow must be below scoreThreshold"),
		Entry("rearmBelow above scoreThreshold", func(s map[string]any) { s["rearmBelow"] = int64(90) },
			"spec.rearmBelow", "rearmBelow must be below scoreThreshold"),
		Entry("rearmBelow out of range", func(s map[string]any) { s["rearmBelow"] = int64(-5_000_000_000) },
			"spec.rearmBelow", "greater than or equal to -1000000000"),
		Entry("string rearmBelow", func(s map[string]any) { s["rearmBelow"] = "60" },
			"spec.rearmBelow", "must be of type integer"),
		Entry("cooldown that is not a duration", func(s map[string]any) { s["cooldown"] = "soon" },
			"spec.cooldown", "should match"),
		Entry("cooldown in days", func(s map[string]any) { s["cooldown"] = "7d" },
			"spec.cooldown", "should match"),
		Entry("cooldown as a number", func(s map[string]any) { s["cooldown"] = int64(1800) },
			"spec.cooldown", "must be of type string"),
		Entry("cooldown of zero", func(s map[string]any) { s["cooldown"] = "0s" },
			"spec.cooldown", "cooldown must be more than 0s and at most 90 days (2160h)"),
		Entry("negative cooldown", func(s map[string]any) { s["cooldown"] = "-30m" },
			"spec.cooldown", "cooldown must be more than 0s and at most 90 days (2160h)"),
		Entry("cooldown over 90 days", func(s map[string]any) { s["cooldown"] = "2160h0m0.001s" },
			"spec.cooldown", "cooldown must be more than 0s and at most 90 days (2160h)"),
		Entry("cooldown beyond a duration's range", func(s map[string]any) { s["cooldown"] = "9999999999h" },
			"spec.cooldown"),
	)

	DescribeTable("accepts rearmBelow and cooldown within their bounds",
		func(rearmBelow any, cooldown string) {
			u := manifest(ns)
			if rearmBelow != nil {
				spec(u)["rearmBelow"] = rearmBelow
			}
			if cooldown != "" {
				spec(u)["cooldown"] = cooldown
			}
			Expect(k8sClient.Create(suiteCtx, u, client.FieldValidation("Strict"))).To(Succeed())
		},
		Entry("rearmBelow just below the threshold", int64(74), ""),
		Entry("rearmBelow at the bottom of the range", int64(-1_000_000_000), ""),
		Entry("a cooldown of 1ns", nil, "1ns"),
		Entry("a cooldown of 30m", nil, "30m"),
		Entry("a cooldown of 1h30m, as Go writes it", int64(60), "1h30m0s"),
		Entry("a cooldown of 1.5h", nil, "1.5h"),
		Entry("a cooldown of exactly 90 days", nil, "2160h"),
	)

	It("checks rearmBelow against a changed scoreThreshold", func() {
		u := manifest(ns)
		spec(u)["rearmBelow"] = int64(60)
		Expect(k8sClient.Create(suiteCtx, u, client.FieldValidation("Strict"))).To(Succeed())
		err := k8sClient.Patch(suiteCtx, u, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"scoreThreshold":60}}`)))
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "unexpected error: %v", err)
		Expect(err.Error()).To(ContainSubstring("rearmBelow must be below scoreThreshold"))
	})
})
