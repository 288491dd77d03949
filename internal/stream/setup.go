package stream

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Retention says how long the streams keep what they hold.
type Retention struct {
	// Events is how long engagement events are kept.
	Events time.Duration
	// Duplicates is the window within which a second publish of an event
	// id is dropped by the stream.
	Duplicates time.Duration
}

// DefaultRetention keeps a week of events and drops duplicate publishes
// for ten minutes.
var DefaultRetention = Retention{Events: 7 * 24 * time.Hour, Duplicates: 10 * time.Minute}

// EnsureStreams creates the events and rejected-events streams, or brings
// an existing one's settings up to date.
func EnsureStreams(ctx context.Context, js jetstream.JetStream, r Retention) error {
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        EventsStream,
		Description: "Lead engagement events, one subject per OU",
		Subjects:    []string{eventsSubjectPrefix + "*"},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		MaxAge:      r.Events,
		Duplicates:  r.Duplicates,
		MaxMsgSize:  MaxEventBytes,
		Discard:     jetstream.DiscardOld,
	}); err != nil {
		return fmt.Errorf("creating stream %s: %w", EventsStream, err)
	}
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        RejectedStream,
		Description: "Events that could not be decoded, with the reason, one subject per OU",
		Subjects:    []string{rejectedSubjectPrefix + "*"},
		Storage:     jetstream.FileStorage,
		MaxAge:      r.Events,
		Discard:     jetstream.DiscardOld,
	}); err != nil {
		return fmt.Errorf("creating stream %s: %w", RejectedStream, err)
	}
	return nil
}

// Publish puts an event on its OU's subject, with the event id as the
// message id so that the stream drops a duplicate publish.
func Publish(ctx context.Context, js jetstream.JetStream, ou string, ev Event) (*jetstream.PubAck, error) {
	return js.Publish(ctx, EventSubject(ou), ev.Encode(), jetstream.WithMsgID(ev.ID))
}

// Reject records an undecodable event with why, so that an operator can
// find it; the caller then acknowledges it so that it never blocks the
// stream.
func Reject(ctx context.Context, js jetstream.JetStream, ou string, seq uint64, data []byte, reason error) error {
	msg := &nats.Msg{Subject: RejectedSubject(ou), Data: data, Header: nats.Header{}}
	msg.Header.Set("Leadvibe-Reason", shorten(reason.Error(), 1024))
	msg.Header.Set("Leadvibe-Reason-Code", RejectReason(reason))
	msg.Header.Set("Leadvibe-Stream-Sequence", fmt.Sprint(seq))
	_, err := js.PublishMsg(ctx, msg, jetstream.WithMsgID(fmt.Sprintf("rejected-%d", seq)))
	return err
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
