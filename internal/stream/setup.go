package stream

import (
	"context"
	"errors"
	"fmt"
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
	msg.Header.Set("Leadvibe-Stream-Sequence", fmt.Sprint(seq))
	_, err := js.PublishMsg(ctx, msg, jetstream.WithMsgID(fmt.Sprintf("rejected-%d", seq)))
	return err
}

// ErrNoOU is returned for a message on a subject that names no OU.
var ErrNoOU = errors.New("the subject names no OU")
