package restapi

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/leadvibe/milestone-triggers-operator/internal/event"
	"github.com/leadvibe/milestone-triggers-operator/internal/stream"
)

// TestIngestAnswers507WhenTheEventsStreamIsFull fills a real events
// stream of 1 MiB through the route: the request that does not fit is
// answered 507 with Retry-After, the events stored before are kept, and
// the same request sent again is refused the same way.
func TestIngestAnswers507WhenTheEventsStreamIsFull(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn, err := stream.Open(ctx, stream.Config{DataDir: t.TempDir(), Sync: stream.SyncPolicy{Always: true}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	streams, err := conn.Ensure(ctx, stream.Layout{Bytes: stream.ByteLimits{Events: 1 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	route := IngestRoute(streams.Events, nil)
	pad := strings.Repeat("x", 2000)
	post := func(from int) *httptest.ResponseRecorder {
		var b strings.Builder
		b.WriteString(`{"events":[`)
		for i := range 100 {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"id":"full-%d","lead_id":"ld_1","event_type":"page_view","score":1,"metadata":{"pad":%q}}`, from+i, pad)
		}
		b.WriteString(`]}`)
		req := httptest.NewRequest(http.MethodPost, "/events", strings.NewReader(b.String()))
		req.Header.Set("Content-Type", "application/json")
		req = req.WithContext(withCaller(req.Context(), Caller{OU: "ou-full"}))
		rec := httptest.NewRecorder()
		route.Handler.ServeHTTP(rec, req)
		return rec
	}
	var full *httptest.ResponseRecorder
	n := 0
	for ; n < 20; n++ {
		rec := post(n * 100)
		if rec.Code == http.StatusInsufficientStorage {
			full = rec
			break
		}
		if rec.Code != http.StatusAccepted {
			t.Fatalf("request %d: %d %s", n, rec.Code, rec.Body)
		}
	}
	if full == nil {
		t.Fatal("2,000 events of 2 KB fit in a 1 MiB stream")
	}
	if full.Header().Get("Retry-After") == "" || !strings.Contains(full.Body.String(), "events stream is full") {
		t.Errorf("507 without Retry-After or a clear message: %v %s", full.Header(), full.Body)
	}
	st, err := streams.JS.Stream(ctx, stream.EventsStream)
	if err != nil {
		t.Fatal(err)
	}
	first, err := st.GetMsg(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if ev, err := event.DecodeEvent(first.Data, first.Time); err != nil || ev.ID != "full-0" {
		t.Fatalf("the first event stored is %v (%v): a full stream dropped old events", ev.ID, err)
	}
	// Again, while the stream is still full: still 507, nothing lost.
	if again := post(n * 100); again.Code != http.StatusInsufficientStorage {
		t.Fatalf("the same request again: %d %s, want 507 while the stream is full", again.Code, again.Body)
	}
}
