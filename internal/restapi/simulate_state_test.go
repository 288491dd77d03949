package restapi

import (
	"net/http"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/leadvibe/milestone-triggers-operator/internal/evaluator"
	"github.com/leadvibe/milestone-triggers-operator/internal/ledger"
	"github.com/leadvibe/milestone-triggers-operator/internal/simulate"
	"github.com/leadvibe/milestone-triggers-operator/internal/stream"
)

// storeLead stores st as the state of lead in OU ou, covering the events
// through seq, the way a partition's owner does: it claims the lead's
// partition (the suite's stream has the default number) and snapshots it.
// The suite runs no evaluator, so the claim fences no one.
func storeLead(ou, lead string, st evaluator.LeadState, seq uint64) {
	GinkgoHelper()
	p := stream.PartitionOf(ou, lead, stream.DefaultPartitions)
	pt, err := firingLedger.Claim(suiteCtx, p, "simulate-spec")
	Expect(err).NotTo(HaveOccurred())
	Expect(pt.Snapshot(suiteCtx, map[string]ledger.LeadState{ledger.LeadKey(p, ou, lead): {State: st, AppliedSeq: seq}}, seq)).To(Succeed())
}

var _ = Describe("POST /triggers/{id}/simulate on the lead's stored state", func() {
	var (
		ou     string
		editor caller
	)
	BeforeEach(func() {
		ou = newOU()
		editor = newServiceAccount(ou, editorRole)
	})

	simulateOn := func(id, lead string, score int, previous string) simulate.Result {
		GinkgoHelper()
		body := `{"event":{"id":"evt-` + lead + `","lead_id":"` + lead + `","event_type":"demo_request","score":` + itoa(score) + `}` + previous + `}`
		return editor.in(ou, http.MethodPost, "/triggers/"+id+"/simulate", body).simulation()
	}

	It("starts from the stored score without a previous_score, says so and as of when, and lets previous_score override it", func() {
		t := editor.create(ou, `{"name":"Hot","score_threshold":75,"webhook_url":"https://hooks.example.com/x"}`)
		before := time.Now().Add(-time.Second)
		storeLead(ou, "ld-at-80", evaluator.LeadState{Seen: true, Score: 80}, 41)
		storeLead(ou, "ld-at-60", evaluator.LeadState{Seen: true, Score: 60}, 42)
		after := time.Now().Add(time.Second)

		By("a lead stored at 80 does not cross 75 again")
		res := simulateOn(t.ID, "ld-at-80", 85, "")
		Expect(res.WouldFire).To(BeFalse(), res.Reason)
		Expect(res.Rule).To(Equal("already_above"))
		Expect(res.FiringID).To(BeEmpty())
		st := res.LeadState
		Expect(st.Source).To(Equal(simulate.SourceStored))
		Expect(st.Score).To(HaveValue(BeEquivalentTo(80)))
		Expect(st.PendingCrossing).To(BeFalse())
		Expect(st.AppliedSequence).To(HaveValue(BeEquivalentTo(41)))
		Expect(st.AsOf).NotTo(BeNil())
		Expect(*st.AsOf).To(BeTemporally(">=", before))
		Expect(*st.AsOf).To(BeTemporally("<=", after))

		By("a lead stored at 60 does")
		res = simulateOn(t.ID, "ld-at-60", 85, "")
		Expect(res.WouldFire).To(BeTrue(), res.Reason)
		Expect(res.Rule).To(Equal("crossing"))
		Expect(res.Reason).To(ContainSubstring("from 60 to 85"))
		Expect(res.LeadState.Source).To(Equal(simulate.SourceStored))
		Expect(res.LeadState.AppliedSequence).To(HaveValue(BeEquivalentTo(42)))

		By("previous_score overrides the stored state")
		res = simulateOn(t.ID, "ld-at-80", 85, `,"previous_score":40`)
		Expect(res.WouldFire).To(BeTrue(), res.Reason)
		Expect(res.Reason).To(ContainSubstring("from 40 to 85"))
		Expect(res.LeadState).To(Equal(simulate.LeadState{Source: simulate.SourcePreviousScore, Score: res.LeadState.Score}))
		Expect(res.LeadState.Score).To(HaveValue(BeEquivalentTo(40)))

		By("the answer's lead_state, as sent")
		r := editor.in(ou, http.MethodPost, "/triggers/"+t.ID+"/simulate",
			`{"event":{"id":"e1","lead_id":"ld-at-80","event_type":"demo_request","score":85}}`)
		Expect(r.status).To(Equal(http.StatusOK), string(r.body))
		Expect(r.fields()["lead_state"]).To(SatisfyAll(
			HaveKeyWithValue("source", "stored"), HaveKeyWithValue("score", BeEquivalentTo(80)),
			HaveKeyWithValue("pending_crossing", false), HaveKeyWithValue("applied_sequence", BeEquivalentTo(41)),
			HaveKeyWithValue("as_of", MatchRegexp(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$`))))
	})

	It("takes a lead without a stored state, or with one in another OU only, as new", func() {
		t := editor.create(ou, `{"name":"Hot","score_threshold":75,"webhook_url":"https://hooks.example.com/x"}`)
		storeLead(newOU(), "ld-elsewhere", evaluator.LeadState{Seen: true, Score: 80}, 7)
		for _, lead := range []string{"ld-never-seen", "ld-elsewhere"} {
			res := simulateOn(t.ID, lead, 85, "")
			Expect(res.WouldFire).To(BeTrue(), lead+": "+res.Reason)
			Expect(res.Reason).To(ContainSubstring("a lead never seen"))
			Expect(res.LeadState).To(Equal(simulate.LeadState{Source: simulate.SourceNew}), lead)
		}
		r := editor.in(ou, http.MethodPost, "/triggers/"+t.ID+"/simulate",
			`{"event":{"id":"e1","lead_id":"ld-never-seen","event_type":"x","score":85}}`)
		Expect(r.status).To(Equal(http.StatusOK), string(r.body))
		Expect(r.fields()["lead_state"]).To(Equal(map[string]any{"source": "new", "pending_crossing": false}))
	})

	It("fires a stored pending crossing of the trigger as it is now, and no other", func() {
		t := editor.create(ou, `{"name":"Demo","event_type":"demo_request","score_threshold":75,"webhook_url":"https://hooks.example.com/x"}`)
		// The trigger's epoch is its status.armedGeneration, which the
		// controller keeps (no controller runs in this suite).
		mt := getResource(ou, t.ID)
		mt.Status.ArmedGeneration = 2
		Expect(k8sClient.Status().Update(suiteCtx, mt)).To(Succeed())
		mine := evaluator.Pending{Trigger: t.ID, UID: string(mt.UID), Threshold: 75, Epoch: 2}
		older := mine
		older.Epoch = 1
		storeLead(ou, "ld-pending", evaluator.LeadState{Seen: true, Score: 80, Pending: []evaluator.Pending{mine}}, 50)
		storeLead(ou, "ld-pending-older", evaluator.LeadState{Seen: true, Score: 80, Pending: []evaluator.Pending{older}}, 51)

		Eventually(func() string { return simulateOn(t.ID, "ld-pending", 85, "").Rule }).
			Should(Equal("pending_fired"), "once the cache has the trigger's epoch")
		res := simulateOn(t.ID, "ld-pending", 85, "")
		Expect(res.WouldFire).To(BeTrue())
		Expect(res.LeadState.PendingCrossing).To(BeTrue())
		Expect(res.LeadState.Source).To(Equal(simulate.SourceStored))

		res = simulateOn(t.ID, "ld-pending-older", 85, "")
		Expect(res.WouldFire).To(BeFalse(), "a crossing pending from an older epoch was dropped")
		Expect(res.Rule).To(Equal("already_above"))
		Expect(res.LeadState.PendingCrossing).To(BeFalse())
	})
})
