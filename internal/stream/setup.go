package stream

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/leadvibe/milestone-triggers-operator/internal/text"
)

// EventMsg is the message of an event of an OU, with the event id as the
// message id so that the stream drops a duplicate publish.
func EventMsg(ou string, ev Event) Msg {
	return Msg{Subject: EventSubject(ou), Data: ev.Encode(), ID: ev.ID}
}

// Publish writes events of an OU through the events stream's writer, in
// order, and says of each whether the stream already held it.
func Publish(ctx context.Context, w *Writer, ou string, evs ...Event) ([]Result, error) {
	msgs := make([]Msg, len(evs))
	for i, ev := range evs {
		msgs[i] = EventMsg(ou, ev)
	}
	return w.Write(ctx, msgs...)
}

// RejectMsg is the record of an undecodable event, with why, so that an
// operator can find it; the evaluator then moves past it so that it never
// blocks the stream.
func RejectMsg(ou string, seq uint64, data []byte, reason error) Msg {
	h := nats.Header{}
	h.Set("Leadvibe-Reason", text.ClipBytes(reason.Error(), 1024))
	h.Set("Leadvibe-Reason-Code", RejectReason(reason))
	h.Set("Leadvibe-Stream-Sequence", fmt.Sprint(seq))
	return Msg{Subject: RejectedSubject(ou), Data: data, Header: h, ID: fmt.Sprintf("rejected-%d", seq)}
}

// ErrNoOU is returned for a message on a subject that names no OU.
var ErrNoOU = errors.New("the subject names no OU")

// Reason codes of rejected events: a small fixed set, for metrics and the
// Leadvibe-Reason-Code header, beside the free-form Leadvibe-Reason.
const (
	ReasonNoOU           = "no_ou"           // the subject names no OU
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
	ReasonNoOU, ReasonInvalidJSON, ReasonNotAnObject, ReasonTooLarge, ReasonMissingField,
	ReasonUnknownField, ReasonDuplicateField, ReasonInvalidValue, ReasonOther,
}

// RejectReason maps why an event was rejected (ErrNoOU, or the
// *DecodeError of DecodeEvent) to one of the RejectReasons codes. An event
// with several problems is classified by the first one the codec reports.
func RejectReason(err error) string {
	if errors.Is(err, ErrNoOU) {
		return ReasonNoOU
	}
	var de *DecodeError
	if !errors.As(err, &de) || len(de.Errors) == 0 {
		return ReasonOther
	}
	fe := de.Errors[0]
	switch msg := fe.Message; {
	case strings.HasPrefix(msg, "invalid JSON"):
		return ReasonInvalidJSON
	case strings.Contains(msg, "more than the limit"), strings.HasPrefix(msg, "must be at most"):
		return ReasonTooLarge
	case msg == "required":
		return ReasonMissingField
	case msg == "unknown field":
		return ReasonUnknownField
	case msg == "duplicate field":
		return ReasonDuplicateField
	case fe.Field == "" && strings.HasPrefix(msg, "must be a JSON object"):
		return ReasonNotAnObject
	case fe.Field != "":
		return ReasonInvalidValue
	}
	return ReasonOther
}
