package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/leadvibe/milestone-triggers-operator/internal/event"
	"github.com/leadvibe/milestone-triggers-operator/internal/ledger"
	"github.com/leadvibe/milestone-triggers-operator/internal/stream"
)

// ErrNotDeadLettered is returned by Resend for a firing with no
// dead-lettered channel.
var ErrNotDeadLettered = errors.New("the firing has no dead-lettered delivery")

// ErrFiringNotFound is returned by Resend for a firing the outbox does not
// hold for that OU and trigger.
var ErrFiringNotFound = errors.New("no such firing")

// Resend asks the dispatcher to deliver a dead-lettered firing of trigger
// in ou again: its dead-lettered channels start over on the retry schedule
// (channels that delivered are not sent again), with the same delivery id,
// in a new re-send round. It is what the REST API's re-send calls. It
// writes no delivery state (the dispatcher is that state's one writer): it
// checks the state and queues a command on stream.ResendsStream naming the
// state's current round, which the dispatcher carries out only while that
// round is current. Asked again before the dispatcher carried it out, it
// queues the same command (message id resend-<firing>-<round>), which the
// stream drops as a duplicate, and returns nil again; a command that comes
// anyway (after the duplicate window) finds its round gone and does
// nothing. It returns ErrFiringNotFound when the outbox holds no such
// firing of that trigger, and ErrNotDeadLettered when none of its channels
// is dead-lettered (a re-send carried out, or under way, included).
func Resend(ctx context.Context, s *stream.Streams, ou, trigger, firingID string) error {
	outbox, err := s.JS.Stream(ctx, stream.FiringsStream)
	if err != nil {
		return err
	}
	msg, err := outbox.GetLastMsgForSubject(ctx, stream.FiringSubject(ou, firingID))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return ErrFiringNotFound
	}
	if err != nil {
		return fmt.Errorf("reading firing %s from the outbox: %w", firingID, err)
	}
	f, err := ledger.DecodeFiring(msg.Data)
	if err != nil {
		return err
	}
	if f.Trigger != trigger {
		return ErrFiringNotFound
	}
	state, err := newStates(s).load(ctx, firingID)
	if err != nil {
		return err
	}
	if !state.deadLettered() {
		return ErrNotDeadLettered
	}
	data, err := json.Marshal(resendCommand{Round: state.Round, Firing: msg.Data})
	if err != nil {
		return err
	}
	_, err = s.Resends.Write(ctx, stream.Msg{
		Subject: stream.ResendSubject(ou, firingID), Data: data, ID: ResendCommandID(firingID, state.Round),
	})
	return err
}

// ResendCommandID is the message id of the re-send of a firing asked in
// round (the rounds count from 0, the deliveries before any re-send).
func ResendCommandID(firingID string, round int) string {
	return fmt.Sprintf("resend-%s-%d", firingID, round)
}

// resendCommand is a re-send queued on stream.ResendsStream: re-send the
// dead-lettered channels of Firing, if its delivery state is still at
// Round.
type resendCommand struct {
	// Round is the delivery state's round the re-send was asked in.
	Round int `json:"round"`
	// Firing is the firing, as the outbox holds it.
	Firing json.RawMessage `json:"firing"`
}

// maxResendCommand bounds a command: a firing is bounded by the event it
// holds (event.MaxEventBytes), and the command adds a few bytes.
const maxResendCommand = 2 * event.MaxEventBytes

// DecodeResendCommand decodes a re-send command from the stream: strictly
// (unknown fields refused), with a round of 0 or more and a firing that
// ledger.DecodeFiring reads. It returns the round and the firing.
func DecodeResendCommand(data []byte) (round int, f ledger.Firing, err error) {
	if len(data) > maxResendCommand {
		return 0, f, fmt.Errorf("re-send command: %d bytes, more than %d", len(data), maxResendCommand)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var c resendCommand
	if err := dec.Decode(&c); err != nil {
		return 0, f, fmt.Errorf("re-send command: %w", err)
	}
	if dec.More() {
		return 0, f, errors.New("re-send command: data after the object")
	}
	if c.Round < 0 {
		return 0, f, fmt.Errorf("re-send command: round: %d, must be 0 or more", c.Round)
	}
	if len(c.Firing) == 0 {
		return 0, f, errors.New("re-send command: firing: required")
	}
	if f, err = ledger.DecodeFiring(c.Firing); err != nil {
		return 0, f, fmt.Errorf("re-send command: firing: %w", err)
	}
	if f.ID == "" || f.OU == "" {
		return 0, f, errors.New("re-send command: firing: no id or OU")
	}
	return c.Round, f, nil
}
