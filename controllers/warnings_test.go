package controllers

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	triggersv1alpha1 "github.com/leadvibe/milestone-triggers-operator/api/v1alpha1"
	"github.com/leadvibe/milestone-triggers-operator/internal/triggerset"
)

func TestWarningsAllowOnePerTriggerAndReasonPerWindow(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	w := &Warnings{Window: time.Minute, Now: func() time.Time { return now }}
	a := types.NamespacedName{Namespace: "ou-1", Name: "a"}
	b := types.NamespacedName{Namespace: "ou-1", Name: "b"}
	steps := []struct {
		after   time.Duration
		trigger types.NamespacedName
		reason  string
		want    bool
	}{
		{0, a, "DeliveryFailing", true},
		{10 * time.Second, a, "DeliveryFailing", false},                                  // same trigger and reason, within the window
		{0, a, "DeadLettered", true},                                                     // another reason
		{0, b, "DeliveryFailing", true},                                                  // another trigger
		{49 * time.Second, a, "DeliveryFailing", false},                                  // 59 s after the first
		{time.Second, a, "DeliveryFailing", true},                                        // 60 s: the window is over
		{59 * time.Second, a, "DeliveryFailing", false},                                  // the window restarts from the last Event
		{time.Second, a, "DeliveryFailing", true},                                        // and ends a minute after it
		{0, types.NamespacedName{Namespace: "ou-2", Name: "a"}, "DeliveryFailing", true}, // same name, other OU
	}
	for i, s := range steps {
		now = now.Add(s.after)
		if got := w.allow(s.trigger, s.reason); got != s.want {
			t.Errorf("step %d (%s %s): allow = %v, want %v", i, s.trigger, s.reason, got, s.want)
		}
	}
	if len(w.last) > 4 {
		t.Errorf("%d entries kept; the expired ones must be forgotten", len(w.last))
	}
}

// printerColumns reads the trigger as `kubectl get mt -o wide` does: the
// API server's Table, which computes the CRD's printer columns. It
// returns the cells by column name, and the columns' priorities.
func printerColumns(g Gomega, key types.NamespacedName) (cells map[string]string, priority map[string]int32) {
	hc, err := rest.HTTPClientFor(cfg)
	g.Expect(err).NotTo(HaveOccurred())
	url := fmt.Sprintf("%s/apis/%s/%s/namespaces/%s/milestonetriggers/%s", strings.TrimSuffix(cfg.Host, "/"),
		triggersv1alpha1.GroupVersion.Group, triggersv1alpha1.GroupVersion.Version, key.Namespace, key.Name)
	req, err := http.NewRequestWithContext(suiteCtx, http.MethodGet, url, nil)
	g.Expect(err).NotTo(HaveOccurred())
	req.Header.Set("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
	resp, err := hc.Do(req)
	g.Expect(err).NotTo(HaveOccurred())
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK), "GET %s: %s", url, body)
	var table metav1.Table
	g.Expect(json.Unmarshal(body, &table)).To(Succeed())
	g.Expect(table.Rows).To(HaveLen(1))
	cells, priority = map[string]string{}, map[string]int32{}
	for i, col := range table.ColumnDefinitions {
		priority[col.Name] = col.Priority
		if c := table.Rows[0].Cells[i]; c != nil {
			cells[col.Name] = fmt.Sprint(c)
		}
	}
	return cells, priority
}

// warningEvent waits for a Warning Event of the reason about the trigger
// and returns it.
func warningEvent(key types.NamespacedName, reason string) eventsv1.Event {
	GinkgoHelper()
	var found eventsv1.Event
	Eventually(func(g Gomega) {
		var list eventsv1.EventList
		g.Expect(k8sClient.List(suiteCtx, &list, client.InNamespace(key.Namespace))).To(Succeed())
		var matching []eventsv1.Event
		for _, e := range list.Items {
			if e.Type == corev1.EventTypeWarning && e.Reason == reason && e.Regarding.Name == key.Name {
				matching = append(matching, e)
			}
		}
		g.Expect(matching).To(HaveLen(1), "one Warning Event %s for %s", reason, key)
		found = matching[0]
	}).WithTimeout(20 * time.Second).Should(Succeed())
	return found
}

var _ = Describe("Health in kubectl", func() {
	It("shows a trigger with a dead receiver as not delivering, and why in Warning Events", func() {
		// A dead receiver: 503 with Retry-After 1s, so that the three
		// attempts of the suite's schedule come a second apart and the
		// status shows the failing before the dead letter.
		var hits atomic.Int32
		rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			hits.Add(1)
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
		}))
		DeferCleanup(rcv.Close)

		ns := newNamespace()
		mt := validTrigger(ns, "dead-receiver")
		url := triggersv1alpha1.HTTPURL(rcv.URL + "/hook")
		mt.Spec.WebhookURL = &url
		mt.Spec.Emails = nil
		Expect(k8sClient.Create(suiteCtx, mt)).To(Succeed())
		expectReady(keyOf(mt), metav1.ConditionTrue, triggersv1alpha1.ReasonAccepted)
		cells, priority := printerColumns(Default, keyOf(mt))
		Expect(cells).To(HaveKeyWithValue("Ready", "True"))
		Expect(cells["Delivering"]).To(BeEmpty(), "no attempt yet, nothing to say")
		Expect(priority).To(HaveKeyWithValue("Delivering", int32(0)))
		Expect(priority).To(HaveKeyWithValue("Delivery Message", int32(1)), "the message is an -o wide column")

		def, ok := triggers.Get(keyOf(mt))
		Expect(ok).To(BeTrue())
		dispatchTriggers.Upsert(def)
		DeferCleanup(dispatchTriggers.Delete, keyOf(mt))
		publish(ns, engagement("evt-dead-1", "ld_dead", "demo_request", 80))

		By("failing: Delivering False, DeliveryFailing, in the columns and a Warning Event")
		Eventually(func(g Gomega) {
			cells, _ := printerColumns(g, keyOf(mt))
			g.Expect(cells).To(HaveKeyWithValue("Ready", "True"))
			g.Expect(cells).To(HaveKeyWithValue("Delivering", "False"))
			g.Expect(cells["Delivery Message"]).To(ContainSubstring("Channel webhook: "))
			g.Expect(cells["Delivery Message"]).To(ContainSubstring("503"))
		}).WithTimeout(20 * time.Second).Should(Succeed())
		failing := warningEvent(keyOf(mt), triggersv1alpha1.ReasonDeliveryFailing)
		Expect(failing.Note).To(ContainSubstring("Channel webhook: 2 consecutive failed attempts"))
		Expect(failing.Note).To(ContainSubstring("503"))
		Expect(failing.Regarding.Kind).To(Equal("MilestoneTrigger"))
		Expect(failing.ReportingController).To(Equal("milestone-triggers"))

		By("giving up: DeadLettered in the condition and a Warning Event")
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(suiteCtx, keyOf(mt), mt)).To(Succeed())
			delivering := meta.FindStatusCondition(mt.Status.Conditions, triggersv1alpha1.DeliveringCondition)
			g.Expect(delivering).NotTo(BeNil())
			g.Expect(delivering.Reason).To(Equal(triggersv1alpha1.ReasonDeadLettered))
			g.Expect(delivering.Message).To(ContainSubstring("Channel webhook: 3 consecutive failed attempts"))
		}).WithTimeout(20 * time.Second).Should(Succeed())
		dead := warningEvent(keyOf(mt), triggersv1alpha1.ReasonDeadLettered)
		Expect(dead.Note).To(ContainSubstring("Channel webhook gave a firing up after 3 consecutive failed attempts"))
		Expect(hits.Load()).To(Equal(int32(3)))

		By("warning once per reason in the window, however often it fails")
		publish(ns, engagement("evt-dead-2", "ld_dead_2", "demo_request", 80))
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(suiteCtx, keyOf(mt), mt)).To(Succeed())
			g.Expect(mt.Status.Deliveries).To(ConsistOf(HaveField("DeadLettered", int64(2))))
		}).WithTimeout(20 * time.Second).Should(Succeed())
		warningEvent(keyOf(mt), triggersv1alpha1.ReasonDeliveryFailing)
		warningEvent(keyOf(mt), triggersv1alpha1.ReasonDeadLettered)
	})

	It("warns about a missing Secret, once, and accepts the trigger once the Secret exists", func() {
		ns := newNamespace()
		mt := validTrigger(ns, "missing-secret")
		mt.Spec.WebhookURL = nil
		mt.Spec.WebhookURLSecretRef = &triggersv1alpha1.SecretKeyRef{Name: "hook", Key: "url"}
		Expect(k8sClient.Create(suiteCtx, mt)).To(Succeed())
		expectReady(keyOf(mt), metav1.ConditionFalse, triggersv1alpha1.ReasonSecretNotFound)
		e := warningEvent(keyOf(mt), triggersv1alpha1.ReasonSecretNotFound)
		Expect(e.Note).To(ContainSubstring("hook"))

		By("a Secret without the key: another reason, another Warning")
		Expect(k8sClient.Create(suiteCtx, secret(ns, "hook", map[string]string{"other": "x"}))).To(Succeed())
		expectReady(keyOf(mt), metav1.ConditionFalse, triggersv1alpha1.ReasonSecretKeyNotFound)
		warningEvent(keyOf(mt), triggersv1alpha1.ReasonSecretKeyNotFound)
		warningEvent(keyOf(mt), triggersv1alpha1.ReasonSecretNotFound)
	})

	It("says at once that a trigger's emails cannot be sent by an operator without email", func() {
		ns := newNamespace()
		mt := validTrigger(ns, "no-email")
		Expect(mt.Spec.Emails).NotTo(BeEmpty())
		Expect(k8sClient.Create(suiteCtx, mt)).To(Succeed())
		expectReady(keyOf(mt), metav1.ConditionTrue, triggersv1alpha1.ReasonAccepted)

		// The suite's operator sends email. One reconcile by an operator
		// that does not, as main builds it without --smtp-addr; the suite's
		// reconciler does not come back to the trigger, whose spec and
		// Secrets do not change.
		noEmail := &MilestoneTriggerReconciler{
			Client: k8sClient, APIReader: k8sClient, Triggers: triggerset.NewMemory(),
			Warnings: &Warnings{Recorder: warnings.Recorder},
		}
		_, err := noEmail.Reconcile(suiteCtx, ctrl.Request{NamespacedName: keyOf(mt)})
		Expect(err).NotTo(HaveOccurred())

		Eventually(func(g Gomega) {
			cells, _ := printerColumns(g, keyOf(mt))
			g.Expect(cells).To(HaveKeyWithValue("Ready", "True"))
			g.Expect(cells).To(HaveKeyWithValue("Delivering", "False"))
			g.Expect(cells["Delivery Message"]).To(ContainSubstring("--smtp-addr"))
		}).Should(Succeed())
		Expect(k8sClient.Get(suiteCtx, keyOf(mt), mt)).To(Succeed())
		delivering := meta.FindStatusCondition(mt.Status.Conditions, triggersv1alpha1.DeliveringCondition)
		Expect(delivering).NotTo(BeNil())
		Expect(delivering.Reason).To(Equal(triggersv1alpha1.ReasonEmailDisabled))
		Expect(warningEvent(keyOf(mt), triggersv1alpha1.ReasonEmailDisabled).Note).To(ContainSubstring("--smtp-addr"))

		By("clearing EmailDisabled once the trigger has no emails (the suite's reconciler, on the spec change)")
		mt.Spec.Emails = nil
		Expect(k8sClient.Update(suiteCtx, mt)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(suiteCtx, keyOf(mt), mt)).To(Succeed())
			g.Expect(meta.FindStatusCondition(mt.Status.Conditions, triggersv1alpha1.DeliveringCondition)).To(BeNil())
		}).Should(Succeed())
	})
})
