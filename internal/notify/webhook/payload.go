package webhook

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/leadvibe/milestone-triggers-operator/internal/ledger"
)

// TriggerType is the trigger.type of every payload.
const TriggerType = "milestone"

// payload is the documented webhook body; the field order is the
// documented one.
type payload struct {
	Trigger payloadTrigger `json:"trigger"`
	Event   payloadEvent   `json:"event"`
	Score   int64          `json:"score"`
}

type payloadTrigger struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Type string `json:"type"`
}

type payloadEvent struct {
	ID        string          `json:"id"`
	LeadID    string          `json:"lead_id"`
	EventType string          `json:"event_type"`
	Metadata  json.RawMessage `json:"metadata"`
	CreatedAt string          `json:"created_at"`
}

// emptyMetadata is the metadata of an event that had none.
var emptyMetadata = json.RawMessage(`{}`)

// Payload returns the JSON body posted for a firing:
//
//	{"trigger":{"id","name","type":"milestone"},
//	 "event":{"id","lead_id","event_type","metadata","created_at"},
//	 "score"}
//
// with the event's metadata object passed through ({} when it had none),
// created_at in UTC as RFC 3339 with fractional seconds only when the
// event had them, and the score the lead reached. Strings are not
// HTML-escaped.
func Payload(f ledger.Firing) ([]byte, error) {
	metadata := json.RawMessage(bytes.TrimSpace(f.Event.Metadata))
	if len(metadata) == 0 || string(metadata) == "null" {
		metadata = emptyMetadata
	}
	p := payload{
		Trigger: payloadTrigger{ID: f.Trigger, Name: f.TriggerName, Type: TriggerType},
		Event: payloadEvent{
			ID:        f.Event.ID,
			LeadID:    f.Event.LeadID,
			EventType: f.Event.EventType,
			Metadata:  metadata,
			CreatedAt: f.Event.CreatedAt.UTC().Format(time.RFC3339Nano),
		},
		Score: f.Score,
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(p); err != nil {
		return nil, fmt.Errorf("encoding the webhook payload of firing %s: %w", f.ID, err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
