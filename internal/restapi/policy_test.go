package restapi

import (
	"net/http"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// rearm_below and cooldown: the trigger's re-arm level and cooldown, as
// the REST API shows and takes them.
var _ = Describe("rearm_below and cooldown", func() {
	var (
		ou     string
		editor caller
	)
	BeforeEach(func() {
		ou = newOU()
		editor = newServiceAccount(ou, editorRole)
	})

	It("round-trip through POST, GET, PUT and PATCH, and reach the resource", func() {
		created := editor.create(ou, `{"name":"Hot","score_threshold":75,"rearm_below":60,"cooldown":"30m"}`)
		Expect(created.RearmBelow).To(HaveValue(BeEquivalentTo(60)))
		Expect(created.Cooldown).To(Equal("30m"))
		mt := getResource(ou, created.ID)
		Expect(mt.Spec.RearmBelow).To(HaveValue(BeEquivalentTo(60)))
		Expect(mt.Spec.Cooldown).NotTo(BeNil())
		Expect(mt.Spec.Cooldown.Duration).To(Equal(30 * time.Minute))

		got := editor.do(http.MethodGet, "/triggers/"+created.ID, "")
		Expect(got.fields()).To(SatisfyAll(HaveKeyWithValue("rearm_below", BeEquivalentTo(60)), HaveKeyWithValue("cooldown", "30m")))
		Expect(editor.do(http.MethodGet, "/triggers", "").list()[0].Cooldown).To(Equal("30m"))

		By("PUT, with another cooldown written as Go writes it")
		put := editor.do(http.MethodPut, "/triggers/"+created.ID, `{"name":"Hot","score_threshold":75,"rearm_below":-10,"cooldown":"1h30m0s"}`).trigger(http.StatusOK)
		Expect(put.RearmBelow).To(HaveValue(BeEquivalentTo(-10)))
		Expect(put.Cooldown).To(Equal("1h30m"))

		By("PATCH of one of them keeps the other")
		patched := editor.do(http.MethodPatch, "/triggers/"+created.ID, `{"cooldown":"2160h"}`).trigger(http.StatusOK)
		Expect(patched.RearmBelow).To(HaveValue(BeEquivalentTo(-10)))
		Expect(patched.Cooldown).To(Equal("2160h"))

		By("PATCH with null clears them")
		cleared := editor.do(http.MethodPatch, "/triggers/"+created.ID, `{"rearm_below":null,"cooldown":null}`)
		Expect(cleared.trigger(http.StatusOK).RearmBelow).To(BeNil())
		Expect(cleared.fields()).NotTo(SatisfyAny(HaveKey("rearm_below"), HaveKey("cooldown")))
		mt = getResource(ou, created.ID)
		Expect(mt.Spec.RearmBelow).To(BeNil())
		Expect(mt.Spec.Cooldown).To(BeNil())

		By("PUT without them leaves them out")
		plain := editor.do(http.MethodPut, "/triggers/"+created.ID, `{"name":"Hot","score_threshold":75}`)
		Expect(plain.fields()).NotTo(SatisfyAny(HaveKey("rearm_below"), HaveKey("cooldown")))
	})

	It("checks a PATCHed threshold against the stored rearm_below", func() {
		t := editor.create(ou, `{"name":"Hot","score_threshold":75,"rearm_below":60}`)
		e := editor.do(http.MethodPatch, "/triggers/"+t.ID, `{"score_threshold":50}`).apiError(http.StatusBadRequest)
		Expect(e.Fields).To(ConsistOf(FieldError{Field: "rearm_below", Message: "must be below score_threshold"}))
		Expect(editor.do(http.MethodPatch, "/triggers/"+t.ID, `{"score_threshold":50,"rearm_below":40}`).trigger(http.StatusOK).RearmBelow).
			To(HaveValue(BeEquivalentTo(40)))
	})

	DescribeTable("refuses bad values with a 400 naming the field, and stores nothing",
		func(body string, want ...FieldError) {
			e := editor.do(http.MethodPost, "/triggers", body).apiError(http.StatusBadRequest)
			Expect(e.Fields).To(ConsistOf(want))
			Expect(editor.do(http.MethodGet, "/triggers", "").list()).To(BeEmpty(), "a refused trigger was stored")
		},
		Entry("rearm_below equal to score_threshold", `{"name":"n","score_threshold":75,"rearm_below":75}`,
			FieldError{Field: "rearm_below", Message: "must be below score_threshold"}),
		Entry("rearm_below above score_threshold", `{"name":"n","score_threshold":75,"rearm_below":80}`,
			FieldError{Field: "rearm_below", Message: "must be below score_threshold"}),
		Entry("rearm_below out of range", `{"name":"n","score_threshold":75,"rearm_below":-2000000000}`,
			FieldError{Field: "rearm_below", Message: "should be greater than or equal to -1000000000"}),
		Entry("rearm_below not an integer", `{"name":"n","score_threshold":75,"rearm_below":"60"}`,
			FieldError{Field: "rearm_below", Message: "must be an integer"}),
		Entry("cooldown not a duration", `{"name":"n","score_threshold":75,"cooldown":"soon"}`,
			FieldError{Field: "cooldown", Message: `must be a duration such as "30m" or "1h" (units h, m, s, ms, us, ns)`}),
		Entry("cooldown in days", `{"name":"n","score_threshold":75,"cooldown":"7d"}`,
			FieldError{Field: "cooldown", Message: `must be a duration such as "30m" or "1h" (units h, m, s, ms, us, ns)`}),
		Entry("cooldown as a number", `{"name":"n","score_threshold":75,"cooldown":1800}`,
			FieldError{Field: "cooldown", Message: `must be a string holding a duration such as "30m" or "1h"`}),
		Entry("cooldown over 90 days", `{"name":"n","score_threshold":75,"cooldown":"2160h0m1s"}`,
			FieldError{Field: "cooldown", Message: "must be more than 0s and at most 90 days (2160h)"}),
		Entry("negative cooldown", `{"name":"n","score_threshold":75,"cooldown":"-30m"}`,
			FieldError{Field: "cooldown", Message: "must be more than 0s and at most 90 days (2160h)"}),
		Entry("zero cooldown", `{"name":"n","score_threshold":75,"cooldown":"0s"}`,
			FieldError{Field: "cooldown", Message: "must be more than 0s and at most 90 days (2160h)"}),
		Entry("both wrong at once", `{"name":"n","score_threshold":75,"rearm_below":90,"cooldown":"-1h"}`,
			FieldError{Field: "rearm_below", Message: "must be below score_threshold"},
			FieldError{Field: "cooldown", Message: "must be more than 0s and at most 90 days (2160h)"}),
	)

	It("refuses a bad PUT and PATCH too, and keeps the trigger", func() {
		t := editor.create(ou, `{"name":"Hot","score_threshold":75,"rearm_below":60,"cooldown":"30m"}`)
		e := editor.do(http.MethodPut, "/triggers/"+t.ID, `{"name":"Hot","score_threshold":75,"rearm_below":75}`).apiError(http.StatusBadRequest)
		Expect(fieldNames(e)).To(Equal([]string{"rearm_below"}))
		e = editor.do(http.MethodPatch, "/triggers/"+t.ID, `{"cooldown":"91d"}`).apiError(http.StatusBadRequest)
		Expect(fieldNames(e)).To(Equal([]string{"cooldown"}))
		e = editor.do(http.MethodPatch, "/triggers/"+t.ID, `{"cooldown":"2161h"}`).apiError(http.StatusBadRequest)
		Expect(fieldNames(e)).To(Equal([]string{"cooldown"}))
		got := editor.do(http.MethodGet, "/triggers/"+t.ID, "").trigger(http.StatusOK)
		Expect(got.RearmBelow).To(HaveValue(BeEquivalentTo(60)))
		Expect(got.Cooldown).To(Equal("30m"))
	})
})

func TestFormatDurationIsShortAndReadsBack(t *testing.T) {
	for d, want := range map[time.Duration]string{
		30 * time.Minute:                     "30m",
		time.Hour:                            "1h",
		90 * time.Minute:                     "1h30m",
		90 * time.Second:                     "1m30s",
		2160 * time.Hour:                     "2160h",
		time.Hour + time.Second:              "1h0m1s",
		1500 * time.Millisecond:              "1.5s",
		500 * time.Millisecond:               "500ms",
		-45 * time.Minute:                    "-45m",
		time.Nanosecond:                      "1ns",
		time.Duration(1<<63 - 1):             "2562047h47m16.854775807s",
		10*time.Hour + 10*time.Minute:        "10h10m",
		100*time.Hour + 100*time.Millisecond: "100h0m0.1s",
	} {
		got := formatDuration(d)
		if got != want {
			t.Errorf("formatDuration(%v) = %q, want %q", d, got, want)
		}
		if back, err := time.ParseDuration(got); err != nil || back != d {
			t.Errorf("time.ParseDuration(%q) = %v, %v; want %v", got, back, err, d)
		}
	}
}

func TestTranslateTextNamesRearmBelow(t *testing.T) {
	if got, want := translateText("rearmBelow must be below scoreThreshold"), "rearm_below must be below score_threshold"; got != want {
		t.Errorf("translateText = %q, want %q", got, want)
	}
}
