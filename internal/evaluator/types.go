package evaluator

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
}

// Event is the part of an engagement event the decision needs.
type Event struct {
	ID     string // the event's id; carried for the caller, not used to decide
	LeadID string // the lead; carried for the caller, not used to decide
	Type   string // the engagement type, matched against Trigger.EventType
	Score  int64  // the lead's score after the event
}

// Pending is a crossing that waits for an event of the trigger's type.
type Pending struct {
	Trigger   string // trigger Name
	UID       string // trigger UID when the crossing happened
	Threshold int64  // the threshold that was crossed
	Epoch     uint64 // the trigger's Epoch when the crossing happened
}

// LeadState is all the evaluator remembers of a lead between events.
type LeadState struct {
	Seen    bool      // false for a lead never seen: below every threshold
	Score   int64     // last score, when Seen
	Pending []Pending // crossings waiting for an event of their trigger's type
}

// Firing is one trigger firing for the evaluated event.
type Firing struct {
	Trigger     string // trigger Name
	UID         string // trigger UID
	Threshold   int64  // the threshold that was crossed
	FromPending bool   // fired by a pending crossing (rule 2) rather than the crossing itself (rule 1)
}
