package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/leadvibe/milestone-triggers-operator/internal/notify/webhook"
)

// webhookReceiver is a webhook endpoint on loopback, as a customer would
// run one: it verifies each request's Standard Webhooks signature and
// records it. Each OU's triggers post to URL(ou); an OU can be taken
// down, and its requests are then answered 503.
type webhookReceiver struct {
	srv    *httptest.Server
	secret string

	mu       sync.Mutex
	requests []webhookRequest
	down     map[string]bool
}

// webhookRequest is one request the receiver got, and how it answered.
type webhookRequest struct {
	OU string
	// ID is the webhook-id header: the firing's delivery id.
	ID string
	// SignatureError is why the signature did not verify, or nil.
	SignatureError error
	ContentType    string
	Payload        webhookPayload
	// Status is what the receiver answered.
	Status int
	At     time.Time
}

// webhookPayload is the seed's documented payload.
type webhookPayload struct {
	Trigger struct {
		ID   string `json:"id"`
		Name string `json:"name"`
		Type string `json:"type"`
	} `json:"trigger"`
	Event struct {
		ID        string          `json:"id"`
		LeadID    string          `json:"lead_id"`
		EventType string          `json:"event_type"`
		Metadata  json.RawMessage `json:"metadata"`
		CreatedAt string          `json:"created_at"`
	} `json:"event"`
	Score int64 `json:"score"`
}

// crossing names one threshold crossing: the trigger that fired, the lead
// and the event that made it fire.
type crossing struct {
	Trigger, Lead, Event string
}

func (r webhookRequest) crossing() crossing {
	return crossing{Trigger: r.Payload.Trigger.ID, Lead: r.Payload.Event.LeadID, Event: r.Payload.Event.ID}
}

func startWebhookReceiver(secret string) *webhookReceiver {
	r := &webhookReceiver{secret: secret, down: map[string]bool{}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	return r
}

func (r *webhookReceiver) close() { r.srv.Close() }

// URL is where the triggers of ou post.
func (r *webhookReceiver) URL(ou string) string { return r.srv.URL + "/" + ou + "/hook" }

// setDown makes the receiver answer ou's requests with 503 while down.
func (r *webhookReceiver) setDown(ou string, down bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.down[ou] = down
}

func (r *webhookReceiver) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, 1<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ou, _, _ := strings.Cut(strings.TrimPrefix(req.URL.Path, "/"), "/")
	rec := webhookRequest{
		OU:             ou,
		ID:             req.Header.Get("webhook-id"),
		SignatureError: webhook.Verify(r.secret, req.Header, body, time.Now(), 5*time.Minute),
		ContentType:    req.Header.Get("Content-Type"),
		At:             time.Now(),
		Status:         http.StatusNoContent,
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rec.Payload); err != nil {
		rec.Status = http.StatusBadRequest
	}
	r.mu.Lock()
	if r.down[ou] {
		rec.Status = http.StatusServiceUnavailable
	}
	r.requests = append(r.requests, rec)
	r.mu.Unlock()
	w.WriteHeader(rec.Status)
}

// received returns the requests of ou so far, in arrival order.
func (r *webhookReceiver) received(ou string) []webhookRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []webhookRequest
	for _, rec := range r.requests {
		if rec.OU == ou {
			out = append(out, rec)
		}
	}
	return out
}

// deliveryReport sums up what the receiver got for a set of expected
// crossings.
type deliveryReport struct {
	Expected  int // crossings expected to fire
	Requests  int // requests received, every attempt counted
	Delivered int // expected crossings with a request answered 2xx
	// DistinctIDs counts the webhook-ids seen.
	DistinctIDs int
	// DuplicateAttempts counts requests beyond the first of each webhook-id.
	DuplicateAttempts int
	// Missing are expected crossings not delivered yet.
	Missing []crossing
	// Unexpected are crossings delivered that were not expected.
	Unexpected []crossing
	// SplitIDs are crossings that came with more than one webhook-id.
	SplitIDs []crossing
	// SharedIDs are webhook-ids that came with more than one crossing.
	SharedIDs []string
	// BadSignatures and BadPayloads count requests that did not verify or
	// did not decode.
	BadSignatures, BadPayloads int
}

// report compares the requests with the expected crossings.
func report(requests []webhookRequest, expected []crossing) deliveryReport {
	rep := deliveryReport{Expected: len(expected), Requests: len(requests)}
	want := map[crossing]bool{}
	for _, c := range expected {
		want[c] = true
	}
	idsOf := map[crossing]map[string]bool{}
	crossingOf := map[string]crossing{}
	attempts := map[string]int{}
	delivered := map[crossing]bool{}
	shared := map[string]bool{}
	for _, r := range requests {
		if r.SignatureError != nil {
			rep.BadSignatures++
		}
		if r.Status == http.StatusBadRequest {
			rep.BadPayloads++
			continue
		}
		c := r.crossing()
		attempts[r.ID]++
		if idsOf[c] == nil {
			idsOf[c] = map[string]bool{}
		}
		idsOf[c][r.ID] = true
		if prev, ok := crossingOf[r.ID]; ok && prev != c {
			shared[r.ID] = true
		}
		crossingOf[r.ID] = c
		if r.Status/100 == 2 {
			delivered[c] = true
		}
	}
	rep.DistinctIDs = len(attempts)
	for _, n := range attempts {
		rep.DuplicateAttempts += n - 1
	}
	for c := range want {
		if delivered[c] {
			rep.Delivered++
		} else {
			rep.Missing = append(rep.Missing, c)
		}
	}
	for c, ids := range idsOf {
		if !want[c] {
			rep.Unexpected = append(rep.Unexpected, c)
		}
		if len(ids) > 1 {
			rep.SplitIDs = append(rep.SplitIDs, c)
		}
	}
	for id := range shared {
		rep.SharedIDs = append(rep.SharedIDs, id)
	}
	return rep
}

// expectDeliveredExactlyOnce waits until the receiver has every crossing
// of want for ou exactly once and nothing else, then checks that nothing
// more arrives for a few seconds (no refire, nothing for a crossing left
// pending).
func expectDeliveredExactlyOnce(ou string, want []crossing) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		rep := report(receiver.received(ou), want)
		g.Expect(rep.exactlyOnce()).To(BeTrue(), rep.String())
	}).Should(Succeed())
	Consistently(func(g Gomega) {
		rep := report(receiver.received(ou), want)
		g.Expect(rep.exactlyOnce()).To(BeTrue(), rep.String())
	}, 3*time.Second, 500*time.Millisecond).Should(Succeed())
}

// exactlyOnce says whether every expected crossing was delivered, under
// one webhook-id of its own, and nothing else was.
func (r deliveryReport) exactlyOnce() bool {
	return len(r.Missing) == 0 && len(r.Unexpected) == 0 && len(r.SplitIDs) == 0 && len(r.SharedIDs) == 0 &&
		r.DistinctIDs == r.Expected && r.BadSignatures == 0 && r.BadPayloads == 0
}

// String prints the counts, and a few of each kind of problem.
func (r deliveryReport) String() string {
	var b strings.Builder
	b.WriteString("expected firings " + strconv.Itoa(r.Expected) +
		", delivered " + strconv.Itoa(r.Delivered) +
		", distinct webhook-ids " + strconv.Itoa(r.DistinctIDs) +
		", requests " + strconv.Itoa(r.Requests) +
		", duplicate attempts " + strconv.Itoa(r.DuplicateAttempts) +
		", bad signatures " + strconv.Itoa(r.BadSignatures) +
		", bad payloads " + strconv.Itoa(r.BadPayloads))
	for _, p := range []struct {
		name string
		list []crossing
	}{{"missing", r.Missing}, {"unexpected", r.Unexpected}, {"with several webhook-ids", r.SplitIDs}} {
		if len(p.list) == 0 {
			continue
		}
		b.WriteString("\n  " + strconv.Itoa(len(p.list)) + " " + p.name + ", for example:")
		for _, c := range p.list[:min(5, len(p.list))] {
			b.WriteString(" {" + c.Trigger + " " + c.Lead + " " + c.Event + "}")
		}
	}
	if len(r.SharedIDs) > 0 {
		b.WriteString("\n  " + strconv.Itoa(len(r.SharedIDs)) + " webhook-ids shared by several crossings, for example " + r.SharedIDs[0])
	}
	return b.String()
}
