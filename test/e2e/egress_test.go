package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// egressMarker is what the hostile receiver puts in its body and headers:
// it must appear nowhere a tenant reads.
const egressMarker = "MARKER-e2e-5d1f0b-RECEIVER-ANSWER"

// countingServer is a receiver that counts the requests it gets and
// answers each with handler.
type countingServer struct {
	*httptest.Server
	requests atomic.Int32
}

// startCountingServer listens on addr ("127.0.0.1:0", "127.0.0.2:0").
func startCountingServer(addr string, handler http.HandlerFunc) *countingServer {
	GinkgoHelper()
	l, err := net.Listen("tcp", addr)
	Expect(err).NotTo(HaveOccurred())
	s := &countingServer{}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		handler(w, r)
	}))
	s.Listener.Close()
	s.Listener = l
	s.Start()
	DeferCleanup(s.Close)
	return s
}

var _ = Describe("Egress, as a hostile tenant tries it", func() {
	It("refuses loopback outside the allow list and never shows a receiver's answer in status, Events, history, simulate or metrics", func() {
		const ou = "e2e-egress"
		o := newOU(ou)

		hostile := startCountingServer("127.0.0.1:0", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("X-Internal-Node", egressMarker)
			w.Header().Set("WWW-Authenticate", `Basic realm="`+egressMarker+`"`)
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"error":%q,"node":"10.0.0.7"}`, egressMarker)
		})
		// 127.0.0.2 is loopback too, outside --webhook-allow-cidrs=127.0.0.1/32.
		internal := startCountingServer("127.0.0.2:0", func(w http.ResponseWriter, _ *http.Request) {
			fmt.Fprint(w, egressMarker)
		})

		mustKubectl(fmt.Sprintf(`apiVersion: triggers.leadvibe.io/v1alpha1
kind: MilestoneTrigger
metadata:
  name: egress
  namespace: %s
spec:
  name: Egress
  scoreThreshold: 50
  webhookURL: %s/hook
  slack:
    webhookURL: %s/services/T0/B0/x
`, ou, hostile.URL, internal.URL), "apply", "-f", "-")
		waitReady(ou, "egress", "True", "Accepted")

		o.api.postEvents(event{ID: "egress-1", LeadID: "ld-egress", EventType: "demo_request", Score: 80})

		By("reporting fixed reasons in status.deliveries and the Delivering condition")
		Eventually(func(g Gomega) {
			out, err := kubectl("", "-n", ou, "get", "mt", "egress", "-o",
				`jsonpath={range .status.deliveries[*]}{.channel}={.lastError}{"\n"}{end}`)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(out).To(ContainSubstring("webhook=the receiver answered 400 Bad Request\n"))
			g.Expect(out).To(ContainSubstring("slack=the target address is not allowed (--webhook-deny-cidrs)\n"))
		}).Should(Succeed())
		Expect(hostile.requests.Load()).To(BeNumerically(">=", 1), "the allowed receiver on 127.0.0.1 was reached")

		By("simulating test sends")
		status, answer := o.api.call(http.MethodPost, "/triggers/egress/simulate", map[string]any{
			"event":                   event{ID: "egress-sim", LeadID: "ld-egress-sim", EventType: "demo_request", Score: 80},
			"send_test_notifications": true,
		})
		Expect(status).To(Equal(http.StatusOK), "%s", answer)
		Expect(string(answer)).To(SatisfyAll(
			ContainSubstring(`"error":"the receiver answered 400 Bad Request"`),
			ContainSubstring(`"error":"the target address is not allowed (--webhook-deny-cidrs)"`)))

		By("reading everything a tenant can read")
		readable := map[string]string{"simulate": string(answer)}
		readable["status"] = mustKubectl("", "-n", ou, "get", "mt", "egress", "-o", "json")
		readable["events"] = mustKubectl("", "-n", ou, "get", "events", "-o", "json")
		Eventually(func(g Gomega) {
			status, history := o.api.call(http.MethodGet, "/triggers/egress/events", nil)
			g.Expect(status).To(Equal(http.StatusOK))
			g.Expect(string(history)).To(SatisfyAll(
				ContainSubstring(`"the receiver answered 400 Bad Request"`),
				ContainSubstring(`"the target address is not allowed (--webhook-deny-cidrs)"`)))
			readable["history"] = string(history)
		}).Should(Succeed())
		_, leadHistory := o.api.call(http.MethodGet, "/milestone-events?lead_id=ld-egress", nil)
		readable["lead history"] = string(leadHistory)
		metrics, err := http.Get(operator.MetricsURL())
		Expect(err).NotTo(HaveOccurred())
		page, err := io.ReadAll(metrics.Body)
		metrics.Body.Close()
		Expect(err).NotTo(HaveOccurred())
		readable["metrics"] = string(page)

		for what, text := range readable {
			Expect(text).NotTo(ContainSubstring(egressMarker), "%s holds the receiver's answer", what)
			Expect(text).NotTo(ContainSubstring("10.0.0.7"), "%s holds the receiver's answer", what)
			Expect(strings.Count(text, "127.0.0.2")).To(BeNumerically("<=", strings.Count(text, internal.URL)),
				"%s names the refused address other than in the tenant's own URL", what)
		}
		Expect(internal.requests.Load()).To(BeZero(), "the receiver on 127.0.0.2 was reached")
	})
})
