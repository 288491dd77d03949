package ledger

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/leadvibe/milestone-triggers-operator/internal/event"
)

// Firing is one firing of a trigger for a lead, as the outbox records it.
// It holds no credential: the dispatcher resolves destinations from the
// trigger set when it delivers.
type Firing struct {
	// ID is deterministic (see FiringID); it is the delivery id of every
	// notification of this firing (the webhook-id header).
	ID string `json:"id"`
	// OU is the namespace of the trigger and of the event.
	OU string `json:"ou"`
	// Trigger is the trigger's resource name (its id); TriggerUID tells
	// it from a re-created trigger of the same name.
	Trigger    string `json:"trigger"`
	TriggerUID string `json:"trigger_uid"`
	// TriggerName is the trigger's display name when it fired.
	TriggerName string `json:"trigger_name"`
	// Threshold is the threshold that was crossed.
	Threshold int64 `json:"threshold"`
	// FromPending is true when an event of the trigger's type fired a
	// crossing made earlier by another type of event.
	FromPending bool `json:"from_pending,omitempty"`
	// Event is the event that fired the trigger; Score is the lead's score
	// it carried.
	Event event.Event `json:"event"`
	Score int64       `json:"score"`
	// EventSeq is the event's sequence in the events stream, and FiredAt
	// the time the stream stored it: both the same on every evaluation of
	// the event.
	EventSeq uint64    `json:"event_seq"`
	FiredAt  time.Time `json:"fired_at"`
}

// FiringID is the id of the firing of a trigger by an event: a function of
// the OU, the trigger's UID, the lead and the event id, so that evaluating
// the same event again, or a duplicate publish of it, gives the same id.
// An event fires a trigger at most once, so the id names one crossing.
func FiringID(ou, triggerUID, leadID, eventID string) string {
	h := sha256.New()
	for _, part := range []string{ou, triggerUID, leadID, eventID} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return firingIDPrefix + hex.EncodeToString(h.Sum(nil)[:16])
}

// firingIDPrefix starts every FiringID.
const firingIDPrefix = "mtf_"

// IsFiringID reports whether id has the shape FiringID gives: the prefix
// and 32 lowercase hex digits.
func IsFiringID(id string) bool {
	hexPart, ok := strings.CutPrefix(id, firingIDPrefix)
	if !ok || len(hexPart) != 32 {
		return false
	}
	for _, c := range hexPart {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// Encode returns the firing's JSON.
func (f Firing) Encode() ([]byte, error) {
	b, err := json.Marshal(f)
	if err != nil {
		return nil, fmt.Errorf("encoding firing %s: %w", f.ID, err)
	}
	return b, nil
}

// DecodeFiring reads a firing from the outbox.
func DecodeFiring(b []byte) (Firing, error) {
	var f Firing
	if err := json.Unmarshal(b, &f); err != nil {
		return Firing{}, fmt.Errorf("decoding a firing: %w", err)
	}
	return f, nil
}
