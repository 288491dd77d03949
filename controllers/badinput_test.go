package controllers

import (
	"fmt"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Free text reaches emails, chat messages and webhook payloads: the API
// server refuses NUL, control characters and invalid UTF-8 in it. Go
// clients turn invalid UTF-8 into U+FFFD before sending, so these specs
// send raw bytes, as any other client could.
var _ = Describe("MilestoneTrigger free text", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	// post sends body, raw, as a create of a MilestoneTrigger.
	post := func(body string) error {
		cs, err := kubernetes.NewForConfig(cfg)
		Expect(err).NotTo(HaveOccurred())
		return cs.RESTClient().Post().
			AbsPath("/apis/triggers.leadvibe.io/v1alpha1/namespaces", ns, "milestonetriggers").
			SetHeader("Content-Type", "application/json").
			Body([]byte(body)).
			Do(suiteCtx).Error()
	}
	// doc is a valid trigger whose field holds rawValue, inserted as is
	// between the quotes of a JSON string.
	doc := func(field, rawValue string) string {
		name := "Hot lead"
		if field == "name" {
			name, field = rawValue, "emailSubject"
			rawValue = "Hot lead"
		}
		return fmt.Sprintf(`{"apiVersion":"triggers.leadvibe.io/v1alpha1","kind":"MilestoneTrigger",`+
			`"metadata":{"generateName":"raw-"},"spec":{"name":"%s","scoreThreshold":75,`+
			`"webhookURL":"https://hooks.example.com/x",%q:"%s"}}`, name, field, rawValue)
	}

	It("accepts Unicode text, and tabs and line breaks in emailMessage", func() {
		Expect(post(doc("emailMessage", `Café ✓\tcall them\r\nsoon`))).To(Succeed())
		Expect(post(doc("emailSubject", "Lead 🔥 für Vertrieb"))).To(Succeed())
	})

	DescribeTable("refuses raw bytes that are not valid UTF-8, naming the field",
		func(field, rawValue, want string) {
			err := post(doc(field, rawValue))
			Expect(err).To(HaveOccurred(), "the API server accepted the bytes")
			Expect(apierrors.IsInvalid(err)).To(BeTrue(), "unexpected error: %v", err)
			Expect(err.Error()).To(ContainSubstring("spec." + field))
			Expect(err.Error()).To(ContainSubstring(want))
		},
		Entry("name", "name", "Hot \xff lead", "name must not contain control characters or invalid UTF-8"),
		Entry("emailSubject", "emailSubject", "Hot \xc3", "emailSubject must not contain control characters or invalid UTF-8"),
		Entry("emailPreheader", "emailPreheader", "\xed\xa0\x80", "emailPreheader must not contain control characters or invalid UTF-8"),
		Entry("emailMessage", "emailMessage", `ok\n`+"\xfe", "emailMessage must not contain control characters other than tab and line breaks"),
		Entry("emailMessage, an escaped NUL", "emailMessage", `ok\u0000`, "emailMessage must not contain control characters other than tab and line breaks"),
		Entry("name, an escaped lone surrogate", "name", `a\ud800`, "name must not contain control characters or invalid UTF-8"),
	)

	It("refuses them through a typed client too", func() {
		mt := validTrigger(ns, "typed")
		mt.Spec.DisplayName = "Hot\x00lead"
		err := k8sClient.Create(suiteCtx, mt, client.FieldValidation("Strict"))
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "unexpected error: %v", err)
		Expect(err.Error()).To(ContainSubstring("spec.name"))
	})
})
