package stream

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/leadvibe/milestone-triggers-operator/internal/event"
	"github.com/leadvibe/milestone-triggers-operator/internal/text"
)

// EventMsg is the message of an event of an OU, on its lead's subject (so
// in the lead's partition), with the event id as the message id so that
// the stream drops a duplicate publish.
func EventMsg(ou string, ev event.Event) Msg {
	return Msg{Subject: LeadSubject(ou, ev.LeadID), Data: ev.Encode(), ID: ev.ID}
}

// DecodeEventMsg reads a stored message of the events stream as the
// evaluator does: its subject must be a lead subject (ParseEventSubject,
// with a lead token), its data an event the codec accepts, with stored as
// its time when it has no created_at, and its lead_id the subject's lead.
// The subject's parts are returned whenever the subject parses, so that a
// caller can name the OU of a rejection.
func DecodeEventMsg(subject string, data []byte, stored time.Time) (EventSubjectParts, event.Event, error) {
	parts, ok := ParseEventSubject(subject)
	if !ok || parts.LeadToken == "" {
		return EventSubjectParts{}, event.Event{}, fmt.Errorf("subject %q: %w", subject, event.ErrNoOU)
	}
	ev, err := event.DecodeEvent(data, stored)
	if err != nil {
		return parts, event.Event{}, err
	}
	if !IsLeadToken(parts.LeadToken, ev.LeadID) {
		// Another lead's subject: evaluating it could take its lead out of
		// order with the lead's own partition.
		return parts, event.Event{}, fmt.Errorf("subject %q, lead_id %q: %w", subject, ev.LeadID, event.ErrLeadMismatch)
	}
	return parts, ev, nil
}

// Publish writes events of an OU through the events stream's writer, in
// order, and says of each whether the stream already held it.
func Publish(ctx context.Context, w *Writer, ou string, evs ...event.Event) ([]Result, error) {
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
	h.Set("Leadvibe-Reason-Code", event.RejectReason(reason))
	h.Set("Leadvibe-Stream-Sequence", fmt.Sprint(seq))
	return Msg{Subject: RejectedSubject(ou), Data: data, Header: h, ID: fmt.Sprintf("rejected-%d", seq)}
}
