package stream

import (
	"errors"
	"testing"
	"time"

	"github.com/leadvibe/milestone-triggers-operator/internal/event"
)

// DecodeEventMsg reads back what EventMsg writes, stored in a partition,
// and refuses what the evaluator refuses, naming the OU when the subject
// has one.
func TestDecodeEventMsg(t *testing.T) {
	stored := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	ev := event.Event{ID: "e1", LeadID: "ld/1", EventType: "page_view", Score: 7, CreatedAt: stored.Add(-time.Hour)}
	msg := EventMsg("acme", ev)
	subject := msg.Subject + ".3"

	parts, got, err := DecodeEventMsg(subject, msg.Data, stored)
	if err != nil || parts.OU != "acme" || parts.Partition != 3 || got.ID != "e1" || got.LeadID != "ld/1" || !got.CreatedAt.Equal(ev.CreatedAt) {
		t.Fatalf("DecodeEventMsg = %+v, %+v, %v", parts, got, err)
	}
	// Without a created_at, the event's time is when it was stored.
	if _, got, err := DecodeEventMsg(subject, []byte(`{"id":"e2","lead_id":"ld/1","event_type":"x","score":1}`), stored); err != nil || !got.CreatedAt.Equal(stored) {
		t.Errorf("without created_at: %+v, %v", got, err)
	}
	other := ev
	other.LeadID = "ld/2"
	for name, c := range map[string]struct {
		subject string
		data    []byte
		ou      string
		want    error
	}{
		"not an events subject":  {"leadvibe.firings.acme.x", msg.Data, "", event.ErrNoOU},
		"the older form":         {"leadvibe.events.acme", msg.Data, "", event.ErrNoOU},
		"another lead's subject": {subject, other.Encode(), "acme", event.ErrLeadMismatch},
		"not an event":           {subject, []byte(`{"x":1}`), "acme", nil},
	} {
		parts, _, err := DecodeEventMsg(c.subject, c.data, stored)
		if err == nil || parts.OU != c.ou || c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("%s: parts %+v, err %v; want OU %q and %v", name, parts, err, c.ou, c.want)
		}
	}
}
