package evaluator

import (
	"slices"
	"time"
)

// Trigger is one trigger of an OU as the evaluator sees it.
type Trigger struct {
	Name      string // resource name, unique within the OU
	UID       string // distinguishes a re-created trigger of the same name
	EventType string // "" means any event type
	Threshold int64  // the score a lead must reach from below
	Active    bool   // false for a deactivated trigger, which never fires
	// Epoch changes whenever the trigger loses its pending crossings
	// (deactivated, re-thresholded), even if it is changed back before the
	// lead's next event: a pending crossing recorded in another epoch is
	// dropped. The trigger set maintains it.
	Epoch uint64
	// RearmBelow, when set below Threshold, is the score a lead that
	// reached Threshold must drop below before the trigger can fire for it
	// again, and what a pending crossing survives down to. Unset, or not
	// below Threshold, it is Threshold (SPEC rule 3).
	RearmBelow *int64
	// Cooldown, when positive, is how long after the trigger fires for a
	// lead a new crossing by that lead neither fires nor becomes pending,
	// measured between the events' times (Event.At).
	Cooldown time.Duration
}

// Event is the part of an engagement event the decision needs.
type Event struct {
	ID     string // the event's id; carried for the caller, not used to decide
	LeadID string // the lead; carried for the caller, not used to decide
	Type   string // the engagement type, matched against Trigger.EventType
	Score  int64  // the lead's score after the event
	// At is when the event happened (its created_at, else when the stream
	// stored it): the clock of cooldowns. The evaluator reads no other.
	At time.Time
}

// Pending is a crossing that waits for an event of the trigger's type.
type Pending struct {
	Trigger   string // trigger Name
	UID       string // trigger UID when the crossing happened
	Threshold int64  // the threshold that was crossed
	Epoch     uint64 // the trigger's Epoch when the crossing happened
}

// Disarmed says that the lead, now below a trigger's threshold, has not
// dropped below the trigger's RearmBelow since it was last at or above the
// threshold, so that reaching the threshold again is not a crossing. It is
// kept only for triggers with a RearmBelow, and only while the lead's score
// is in [RearmBelow, Threshold): at or above the threshold the score alone
// says the lead is disarmed, and below RearmBelow it is armed.
type Disarmed struct {
	Trigger   string // trigger Name
	UID       string // trigger UID when recorded
	Threshold int64  // the threshold the lead was at or above
	Epoch     uint64 // the trigger's Epoch when recorded
}

// Cooldown is the last firing of a trigger with a Cooldown for the lead,
// kept while the cooldown runs.
type Cooldown struct {
	Trigger string    // trigger Name
	UID     string    // trigger UID when it fired
	Epoch   uint64    // the trigger's Epoch when it fired
	FiredAt time.Time // the At of the event that fired it
}

// LeadState is all the evaluator remembers of a lead between events.
type LeadState struct {
	Seen    bool      // false for a lead never seen: below every threshold
	Score   int64     // last score, when Seen
	Pending []Pending // crossings waiting for an event of their trigger's type
	// Holds is what the lead remembers for triggers with a RearmBelow or a
	// Cooldown; nil until it needs any, and left out of the JSON encoding
	// while empty, so that the state of a lead without them is as small as
	// before those settings existed.
	Holds *Holds `json:",omitzero"`
}

// Holds is what a lead remembers for triggers with a RearmBelow or a
// Cooldown, beside its score and pending crossings.
type Holds struct {
	// Disarmed lists the triggers the lead has not re-armed for, below
	// their thresholds, by threshold then name, descending.
	Disarmed []Disarmed `json:",omitempty"`
	// Cooldowns lists the firings whose cooldown runs, by trigger name.
	Cooldowns []Cooldown `json:",omitempty"`
}

// IsZero reports whether h holds nothing; a nil h holds nothing.
func (h *Holds) IsZero() bool {
	return h == nil || len(h.Disarmed) == 0 && len(h.Cooldowns) == 0
}

// Clone returns a copy of s that shares no memory with s: Evaluate reuses
// the memory of the state it is given, so a caller that keeps a state (to
// encode it while evaluation goes on, say) clones it first.
func (s LeadState) Clone() LeadState {
	s.Pending = slices.Clone(s.Pending)
	if s.Holds.IsZero() {
		s.Holds = nil
	} else {
		s.Holds = &Holds{Disarmed: slices.Clone(s.Holds.Disarmed), Cooldowns: slices.Clone(s.Holds.Cooldowns)}
	}
	return s
}

// Firing is one trigger firing for the evaluated event.
type Firing struct {
	Trigger     string // trigger Name
	UID         string // trigger UID
	Threshold   int64  // the threshold that was crossed
	FromPending bool   // fired by a pending crossing (rule 2) rather than the crossing itself (rule 1)
}
