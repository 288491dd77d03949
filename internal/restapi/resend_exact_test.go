package restapi

import (
	"net/http"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/leadvibe/milestone-triggers-operator/internal/ledger"
)

var _ = Describe("Exact re-sends", func() {
	// deliverOnce commits a firing of a new trigger whose receiver answers
	// status, and waits for its first POST.
	deliverOnce := func(status int) (editor caller, ou, path string, rcv *hookReceiver, f ledger.Firing) {
		ou = newOU()
		editor = newServiceAccount(ou, editorRole)
		rcv = newHookReceiver(status)
		t := editor.create(ou, `{"name":"Hot","score_threshold":75,"webhook_url":"`+rcv.URL+`/hook"}`)
		mt := getResource(ou, t.ID)
		def, err := resolveForTest(mt)
		Expect(err).NotTo(HaveOccurred())
		dispatchTriggers.Upsert(def)
		f = firingFor(ou, t.ID, string(mt.UID), "evt-exact")
		Expect(firingLedger.CommitFirings(suiteCtx, []ledger.Firing{f})).To(Succeed())
		Eventually(rcv.received).Should(Equal([]string{f.ID}))
		return editor, ou, "/triggers/" + t.ID + "/events/" + f.ID + "/resend", rcv, f
	}

	It("answers 409 and sends nothing for a firing with nothing dead-lettered", func() {
		editor, ou, path, rcv, _ := deliverOnce(http.StatusOK)
		for range 3 {
			e := editor.in(ou, http.MethodPost, path, "").apiError(http.StatusConflict)
			Expect(e.Message).To(ContainSubstring("no dead-lettered delivery"))
		}
		Consistently(rcv.received, "500ms").Should(HaveLen(1))
	})

	It("sends once for 50 re-sends in a row", func() {
		editor, ou, path, rcv, f := deliverOnce(http.StatusBadRequest) // dead-lettered at once
		rcv.setStatus(http.StatusOK)
		Eventually(func() int { return editor.in(ou, http.MethodPost, path, "").status }).
			Should(Equal(http.StatusAccepted), "the firing is dead-lettered soon after the 400")
		statuses := map[int]int{}
		for range 49 {
			statuses[editor.in(ou, http.MethodPost, path, "").status]++
		}
		Expect(statuses[http.StatusAccepted]+statuses[http.StatusConflict]).To(Equal(49),
			"every re-send answers 202 (queued) or 409 (nothing dead-lettered any more): %v", statuses)
		Eventually(rcv.received).Should(Equal([]string{f.ID, f.ID}))
		Consistently(rcv.received, "500ms").Should(HaveLen(2))
		editor.in(ou, http.MethodPost, path, "").apiError(http.StatusConflict)
	})
})
