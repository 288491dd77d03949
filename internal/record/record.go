// Package record is the one record of the firing history: a firing, or
// one delivery attempt of a firing. The dispatcher makes it, the history
// stores and returns it, the status projector folds it and the REST shim
// shows it; none of them has a type of its own for it. It is a leaf: it
// imports no other package of the operator.
package record

import (
	"encoding/json"
	"time"
)

// Kinds of records.
const (
	KindFiring  = "firing"
	KindAttempt = "attempt"
)

// Outcomes of an attempt (and of a channel's delivery of a firing), spelled
// as the REST API and SPEC section 5 spell them, everywhere a user reads
// them: history, the delivery state, metrics labels.
const (
	// OutcomePending is a failed attempt that will be retried (and a
	// channel still delivering).
	OutcomePending = "pending"
	// OutcomeDelivered is an attempt that succeeded.
	OutcomeDelivered = "delivered"
	// OutcomeDeadLettered is a failed attempt after which the channel gave
	// the firing up: a permanent failure, or the retry schedule exhausted.
	OutcomeDeadLettered = "dead-lettered"
)

// CanonicalOutcome returns the one spelling of an outcome, reading older
// spellings ("dead_lettered", as metrics once had it) as the current one.
func CanonicalOutcome(s string) string {
	if s == "dead_lettered" {
		return OutcomeDeadLettered
	}
	return s
}

// Record is one entry of the history: a firing (KindFiring), or one
// delivery attempt of a firing (KindAttempt). Its JSON is how the history
// stores it; the fields of the other kind are left out.
type Record struct {
	Kind     string `json:"kind"`
	FiringID string `json:"firing_id"`
	// OU is the trigger's namespace, Trigger its name.
	OU      string    `json:"ou"`
	Trigger string    `json:"trigger"`
	LeadID  string    `json:"lead_id"`
	At      time.Time `json:"at"`

	// Firings: the event that fired the trigger, and the score reached.
	EventID   string `json:"event_id,omitempty"`
	EventType string `json:"event_type,omitempty"`
	Score     int64  `json:"score,omitempty"`

	// Channel is the attempt's channel (webhook, email, slack, teams; or
	// "trigger" while the firing waits for its trigger).
	Channel string `json:"channel,omitempty"`
	// Destination is where the attempt went, safe to show: a URL redacted
	// to its scheme and host, or the email addresses. Attempts whose
	// destination differs from the trigger's current one on that channel
	// are about an old destination (the status projector clears their
	// error when the destination changed).
	Destination string `json:"destination,omitempty"`
	// Round is the attempt's re-send round: 0 (absent) before any re-send,
	// n for the attempts of the n-th re-send; Attempt counts from 1 in
	// each round.
	Round   int `json:"round,omitempty"`
	Attempt int `json:"attempt,omitempty"`
	// StatusCode is the receiver's answer, on success as on failure: the
	// HTTP status, or the SMTP reply code; 0 when there was no answer (a
	// timeout, a refused connection).
	StatusCode int `json:"status_code,omitempty"`
	// Error says why the attempt failed, in the operator's words; empty
	// when it succeeded.
	Error string `json:"error,omitempty"`
	// Outcome is OutcomeDelivered, OutcomePending or OutcomeDeadLettered.
	Outcome    string `json:"outcome,omitempty"`
	DurationMS int64  `json:"duration_ms,omitempty"`
}

// UnmarshalJSON reads a stored record, with the outcome's older spellings
// read as the current one.
func (r *Record) UnmarshalJSON(b []byte) error {
	type plain Record
	if err := json.Unmarshal(b, (*plain)(r)); err != nil {
		return err
	}
	r.Outcome = CanonicalOutcome(r.Outcome)
	return nil
}
