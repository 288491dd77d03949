package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/leadvibe/milestone-triggers-operator/internal/event"
)

// TestIssueWorkload: the workload of the issue (10 untyped triggers in one
// OU, 30,000 events of 3,000 leads) fires about 0.34 times per event with
// --max-score 60, as the command's documentation says.
func TestIssueWorkload(t *testing.T) {
	ts := triggerPlan(0, 10, 0, 60)
	for j := range ts {
		if ts[j].eventType != "" {
			t.Fatalf("--typed-every 0 made trigger %d typed (%s)", j, ts[j].eventType)
		}
		ts[j].uid = fmt.Sprint(j)
	}
	w := newWorkload("x", 1, 3000, 1, 1.1, 10, 60)
	o := newOracle([]ouTriggers{{namespace: "ns", triggers: ts}})
	firings := 0
	for range 30000 {
		ou, _, ev := w.next()
		firings += len(o.apply(ou, ev, nil))
	}
	if rate := float64(firings) / 30000; rate < 0.30 || rate > 0.38 {
		t.Fatalf("%.3f firings per event, want about 0.34", rate)
	}
}

func TestTriggerPlanTypedEvery(t *testing.T) {
	for _, tt := range []struct {
		every int
		typed []int
	}{{3, []int{2, 5, 8}}, {0, nil}, {1, []int{1, 2, 3, 4, 5, 6, 7, 8, 9}}, {4, []int{3, 7}}} {
		var got []int
		for j, tr := range triggerPlan(0, 10, tt.every, 200) {
			if tr.eventType != "" {
				got = append(got, j)
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(tt.typed) {
			t.Errorf("--typed-every %d: typed triggers %v, want %v", tt.every, got, tt.typed)
		}
	}
}

// TestRESTPublisher sends events through the REST callers to a fake
// POST /events: each request holds one OU's events, at most the batch,
// with the headers; every lead's events arrive in order; each event's
// deliveries are registered before its request, with created_at the
// request's send time.
func TestRESTPublisher(t *testing.T) {
	var mu sync.Mutex
	seen := map[string][]string{} // lead -> event ids in arrival order
	var requests, maxSize int
	rcv := &receiver{expected: map[string]expectation{}, seen: map[string]struct{}{}, want: -1, complete: make(chan struct{})}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/events" || r.Header.Get("Authorization") != "Bearer tok" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		ou := r.Header.Get("X-LeadVibe-OU")
		body, _ := io.ReadAll(r.Body)
		evs, err := event.DecodeBatch(body, time.Now())
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var answer ingestAnswer
		answer.Accepted = len(evs)
		mu.Lock()
		requests++
		maxSize = max(maxSize, len(evs))
		for _, ev := range evs {
			if want := fmt.Sprintf("ou-%d", leadNumber(ev.LeadID)%2); ou != want {
				t.Errorf("event %s of %s came in a request for %s", ev.ID, want, ou)
			}
			rcv.mu.Lock()
			e, ok := rcv.expected["hook-"+ev.ID]
			rcv.mu.Unlock()
			if !ok || !e.published.Equal(ev.CreatedAt) || e.due.After(e.published) {
				t.Errorf("event %s: expectation %+v (registered %v), created_at %s", ev.ID, e, ok, ev.CreatedAt)
			}
			seen[ev.LeadID] = append(seen[ev.LeadID], ev.ID)
			answer.Events = append(answer.Events, struct {
				ID        string `json:"id"`
				Duplicate bool   `json:"duplicate"`
			}{ID: ev.ID})
		}
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
		_ = json.NewEncoder(w).Encode(answer)
	}))
	defer srv.Close()

	for _, full := range []bool{true, false} {
		seen = map[string][]string{}
		requests, maxSize = 0, 0
		ous := []ouTriggers{{namespace: "ou-0"}, {namespace: "ou-1"}}
		p := newRESTPublisher(context.Background(), restOptions{url: srv.URL, token: "tok", batch: 7, callers: 3, full: full}, rcv, ous)
		want := map[string][]string{}
		const n = 500
		for i := range n {
			lead := i % 13
			ev := event.Event{ID: fmt.Sprintf("evt-%v-%d", full, i), LeadID: fmt.Sprintf("ld-%d", lead), EventType: "page_view", Score: int64(i % 100), CreatedAt: time.Now().UTC()}
			want[ev.LeadID] = append(want[ev.LeadID], ev.ID)
			if err := p.send(lead%2, ev, []string{"hook-" + ev.ID}); err != nil {
				t.Fatal(err)
			}
		}
		p.finish()
		if err := p.err(); err != nil {
			t.Fatal(err)
		}
		if st := p.stats(); st.acks != n || st.duplicates != 0 {
			t.Fatalf("full %v: %d acks, %d duplicates; want %d, 0", full, st.acks, st.duplicates, n)
		}
		if fmt.Sprint(seen) != fmt.Sprint(want) {
			t.Errorf("full %v: the leads' events arrived as %v, want %v", full, seen, want)
		}
		if maxSize > 7 || (full && requests > n/7+2*3) {
			t.Errorf("full %v: %d requests of up to %d events", full, requests, maxSize)
		}
		t.Logf("full %v: %d requests, %.1f events each on average", full, requests, p.restStats(restIdentity{}).meanSize)
	}
}

func leadNumber(lead string) int {
	var n int
	if _, err := fmt.Sscanf(lead, "ld-%d", &n); err != nil {
		return -1
	}
	return n
}
