package ledger

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/leadvibe/milestone-triggers-operator/internal/evaluator"
)

// LeadState is the durable state of one lead of one OU.
type LeadState struct {
	// State is what the evaluator remembers of the lead.
	State evaluator.LeadState `json:"state"`
	// AppliedSeq is the events-stream sequence of the last event applied
	// to State. A redelivered event at or below it was already applied,
	// and its firings are already in the outbox, so it is skipped.
	AppliedSeq uint64 `json:"applied_seq"`
}

// LeadKey is the bucket key of a lead: its partition (so that an owner
// reads its partitions' leads alone), the OU, then the lead id in unpadded
// base64url, since lead ids may hold characters keys may not.
func LeadKey(partition int, ou, leadID string) string {
	return strconv.Itoa(partition) + "." + ou + "." + base64.RawURLEncoding.EncodeToString([]byte(leadID))
}

func (s LeadState) encode() ([]byte, error) { return json.Marshal(s) }

func decodeLeadState(b []byte) (LeadState, error) {
	var s LeadState
	if err := json.Unmarshal(b, &s); err != nil {
		return LeadState{}, fmt.Errorf("decoding: %w", err)
	}
	return s, nil
}
