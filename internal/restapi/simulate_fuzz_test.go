package restapi

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/leadvibe/milestone-triggers-operator/internal/event"
)

// FuzzDecodeSimulateRequest checks that the decoder of simulate bodies
// never panics, that every refusal is a 400 naming at least one field, and
// that what it accepts is an event the stream's codec accepts on its own.
func FuzzDecodeSimulateRequest(f *testing.F) {
	for _, seed := range []string{
		`{"event":{"id":"evt-789","lead_id":"ld_123","event_type":"demo_request","score":82,"metadata":{"source":"website"}},"previous_score":40}`,
		`{"event":{"id":"e","lead_id":"l","event_type":"x","score":1},"pending_crossing":true,"send_test_notifications":false}`,
		`{"event":{"id":"e","lead_id":"l","event_type":"x","score":"1"},"previous_score":1e3,"x":1}`,
		`{"event":null}`, `{"event":[]}`, `{}`, `[]`, `null`, `{`, `{"event":{},"event":{}}`,
		`{"previous_score":99999999999999999999}`,
	} {
		f.Add([]byte(seed))
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := decodeSimulateRequest(body, now)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Status != http.StatusBadRequest {
				t.Fatalf("refusal %v is not a 400 *Error", err)
			}
			if len(e.Fields) > maxFieldErrors {
				t.Fatalf("%d field errors", len(e.Fields))
			}
			return
		}
		enc := req.Event.Encode()
		if _, err := event.DecodeEvent(enc, now); err != nil {
			t.Fatalf("an accepted event %s does not decode on its own: %v", enc, err)
		}
		if p := req.PreviousScore; p != nil && (*p > event.MaxScore || *p < -event.MaxScore) {
			t.Fatalf("accepted previous_score %d", *p)
		}
	})
}
