// Package event is the engagement event: its type, its limits, its strict
// decoder (every problem found, each named by field and given a reason
// code where it is found), its canonical encoding and the strict JSON
// scanner they share. The stream package carries events; the REST shim and
// simulate decode them with this package too, and the REST shim parses its
// other request bodies with the same scanner (ParseJSON).
package event

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Limits of the event codec. Inputs beyond them are rejected with a
// FieldError, never truncated.
const (
	// MaxEventBytes bounds one encoded event, as published to the stream or
	// as one element of a batch.
	MaxEventBytes = 64 << 10
	// MaxMetadataBytes bounds an event's metadata object once compacted.
	MaxMetadataBytes = 16 << 10
	// MaxMetadataDepth bounds how deeply metadata nests; the metadata object
	// itself is level 1.
	MaxMetadataDepth = 16
	// MaxIDLength bounds id and lead_id, in bytes.
	MaxIDLength = 256
	// MaxEventTypeLength bounds event_type, in bytes, as the CRD's eventType.
	MaxEventTypeLength = 128
	// MaxBatchEvents bounds the events of one ingest request.
	MaxBatchEvents = 1000
	// MaxBatchBytes bounds the body of one ingest request.
	MaxBatchBytes = 4 << 20
	// MaxScore bounds |score|, so that every score survives a trip through
	// a JSON number in any client (IEEE doubles are exact up to 2^53).
	MaxScore int64 = 1e15
)

// maxReportedErrors bounds the problems one DecodeError lists, so that a
// hostile batch cannot turn into a huge error response.
const maxReportedErrors = 100

// maxNameBytes bounds how much of a field's name a FieldError repeats.
const maxNameBytes = 64

// Event is one engagement event of a lead.
type Event struct {
	ID        string          `json:"id"`
	LeadID    string          `json:"lead_id"`
	EventType string          `json:"event_type"`
	Score     int64           `json:"score"`
	Metadata  json.RawMessage `json:"metadata,omitempty"` // a JSON object, compacted, passed through verbatim otherwise
	CreatedAt time.Time       `json:"created_at"`         // UTC
}

// FieldError says what is wrong with an input and where: Field is the JSON
// name of the field ("score", or "events[3].score" in a batch), empty for the
// input as a whole.
type FieldError struct {
	// Field is the path of the field, such as events[3].score or, in the
	// REST shim's answers, emails[1] (as MemberPath and ElementPath name
	// them).
	Field string `json:"field"`
	// Code is the problem's reason code (RejectReasons), set where the
	// decoder finds it; not part of an answer.
	Code string `json:"-"`
	// Message says what is wrong with it.
	Message string `json:"message"`
}

// Error returns "<field>: <message>", or the message alone for the input as
// a whole.
func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return e.Field + ": " + e.Message
}

// DecodeError lists every problem found in one input: all fields are
// checked, not just up to the first problem. At most 100 problems are
// listed; a last entry says how many more there were.
type DecodeError struct {
	Errors []FieldError
}

// Error joins the problems with "; ".
func (e *DecodeError) Error() string {
	var b strings.Builder
	for i := range e.Errors {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(e.Errors[i].Error())
	}
	return b.String()
}

// fieldErrors collects the problems of one input, up to maxReportedErrors.
type fieldErrors struct {
	errs    []FieldError
	dropped int
}

func (l *fieldErrors) add(field, code, message string) {
	if len(l.errs) >= maxReportedErrors {
		l.dropped++
		return
	}
	l.errs = append(l.errs, FieldError{Field: field, Code: code, Message: message})
}

func (l *fieldErrors) err() error {
	if len(l.errs) == 0 {
		return nil
	}
	errs := l.errs
	if l.dropped > 0 {
		errs = append(errs, FieldError{Code: ReasonOther, Message: fmt.Sprintf("and %d more problems", l.dropped)})
	}
	return &DecodeError{Errors: errs}
}
