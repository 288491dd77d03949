package stream

import (
	"context"
	"fmt"

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
