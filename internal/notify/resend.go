package notify

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/leadvibe/milestone-triggers-operator/internal/ledger"
)

// ResendStream carries firings asked to be delivered again; the
// dispatcher consumes it beside the outbox.
const (
	ResendStream        = "LEADVIBE_RESENDS"
	resendSubjectPrefix = "leadvibe.resend."
	resendConsumer      = "dispatcher-resend"
)

// ErrNotDeadLettered is returned by Resend for a firing with no
// dead-lettered channel.
var ErrNotDeadLettered = errors.New("the firing has no dead-lettered delivery")

// ErrFiringNotFound is returned by Resend for a firing the outbox does not
// hold for that OU and trigger.
var ErrFiringNotFound = errors.New("no such firing")

func ensureResendStream(ctx context.Context, js jetstream.JetStream) error {
	_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        ResendStream,
		Description: "Dead-lettered firings asked to be delivered again",
		Subjects:    []string{resendSubjectPrefix + "*.*"},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.WorkQueuePolicy,
		Duplicates:  time.Minute,
	})
	return err
}

// Resend delivers a dead-lettered firing of trigger in ou again: its
// dead-lettered channels start over on the retry schedule (channels that
// delivered are not sent again), with the same delivery id. It is what the
// REST API's re-send calls. It returns ErrFiringNotFound when the outbox
// holds no such firing of that trigger, and ErrNotDeadLettered when none of
// its channels is dead-lettered.
func Resend(ctx context.Context, js jetstream.JetStream, ou, trigger, firingID string) error {
	if err := ensureResendStream(ctx, js); err != nil {
		return err
	}
	outbox, err := js.Stream(ctx, ledger.FiringsStream)
	if err != nil {
		return err
	}
	msg, err := outbox.GetLastMsgForSubject(ctx, ledger.FiringsSubject(ou, firingID))
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
	kv, err := js.KeyValue(ctx, DeliveriesBucket)
	if err != nil {
		return fmt.Errorf("opening bucket %s: %w", DeliveriesBucket, err)
	}
	st := &states{kv: kv}
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
	_, err = js.Publish(ctx, resendSubjectPrefix+ou+"."+firingID, msg.Data)
	return err
}
