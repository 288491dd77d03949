package notify

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/leadvibe/milestone-triggers-operator/internal/ledger"
	"github.com/leadvibe/milestone-triggers-operator/internal/stream"
)

// ErrNotDeadLettered is returned by Resend for a firing with no
// dead-lettered channel.
var ErrNotDeadLettered = errors.New("the firing has no dead-lettered delivery")

// ErrFiringNotFound is returned by Resend for a firing the outbox does not
// hold for that OU and trigger.
var ErrFiringNotFound = errors.New("no such firing")

// Resend delivers a dead-lettered firing of trigger in ou again: its
// dead-lettered channels start over on the retry schedule (channels that
// delivered are not sent again), with the same delivery id. It is what the
// REST API's re-send calls. It returns ErrFiringNotFound when the outbox
// holds no such firing of that trigger, and ErrNotDeadLettered when none of
// its channels is dead-lettered.
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
	st := newStates(s)
	state, err := st.load(ctx, firingID)
	if err != nil {
		return err
	}
	reset := false
	for _, ch := range state.Channels {
		if ch.Outcome == OutcomeDeadLettered {
			*ch = channelState{Outcome: OutcomePending}
			reset = true
		}
	}
	if !reset {
		return ErrNotDeadLettered
	}
	if err := st.save(ctx, firingID, state); err != nil {
		return err
	}
	_, err = s.Resends.Write(ctx, stream.Msg{Subject: stream.ResendSubject(ou, firingID), Data: msg.Data})
	return err
}
