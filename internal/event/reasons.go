package event

import "errors"

// ErrNoOU is returned for a message on a subject that names no OU.
var ErrNoOU = errors.New("the subject names no OU")

// ErrLeadMismatch is returned for an event published to another lead's
// subject than its lead_id's.
var ErrLeadMismatch = errors.New("the subject names another lead than the event's lead_id")

// Reason codes of rejected events: a small fixed set, for metrics and the
// Leadvibe-Reason-Code header, beside the free-form Leadvibe-Reason. The
// decoder sets one on each FieldError where it finds the problem.
const (
	ReasonNoOU           = "no_ou"           // the subject names no OU
	ReasonLeadMismatch   = "lead_mismatch"   // the subject names another lead than lead_id
	ReasonInvalidJSON    = "invalid_json"    // not one valid JSON value
	ReasonNotAnObject    = "not_an_object"   // valid JSON, but not an event object
	ReasonTooLarge       = "too_large"       // the event, an id, event_type or metadata beyond its limit
	ReasonMissingField   = "missing_field"   // a required field is absent
	ReasonUnknownField   = "unknown_field"   // a field the event does not have
	ReasonDuplicateField = "duplicate_field" // a field given twice
	ReasonInvalidValue   = "invalid_value"   // a wrong type or a value out of range
	ReasonOther          = "other"           // anything else
)

// RejectReasons lists every reason code RejectReason returns.
var RejectReasons = []string{
	ReasonNoOU, ReasonLeadMismatch, ReasonInvalidJSON, ReasonNotAnObject, ReasonTooLarge, ReasonMissingField,
	ReasonUnknownField, ReasonDuplicateField, ReasonInvalidValue, ReasonOther,
}

// RejectReason is the reason code of why an event was rejected: ErrNoOU,
// or the code of the first problem of the *DecodeError of DecodeEvent.
func RejectReason(err error) string {
	if errors.Is(err, ErrNoOU) {
		return ReasonNoOU
	}
	if errors.Is(err, ErrLeadMismatch) {
		return ReasonLeadMismatch
	}
	var de *DecodeError
	if !errors.As(err, &de) || len(de.Errors) == 0 || de.Errors[0].Code == "" {
		return ReasonOther
	}
	return de.Errors[0].Code
}
