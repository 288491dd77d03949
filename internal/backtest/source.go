package backtest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/leadvibe/milestone-triggers-operator/internal/ledger"
	"github.com/leadvibe/milestone-triggers-operator/internal/stream"
)

// readAhead is how many messages the stream source fetches ahead.
const readAhead = 1024

// idleWait is how long the stream source waits for the next of an OU's
// events before taking it that there is none left.
const idleWait = time.Second

// unfilteredShare is the share of the stream an OU's events must reach for
// the stream source to read the whole stream and skip the other OUs'
// events itself: the server's wildcard filter costs several times more per
// message than an unfiltered read (docs/benchmarks.md, "Backtests").
const unfilteredShare = 5

// Stream reads an OU's events from the events stream: its lead subjects
// (stream.EventOUFilter), where the evaluator reads them. Events published
// in the older form are read once the router has moved them there.
type Stream struct {
	JS jetstream.JetStream
}

// Read implements Source with an ordered consumer from the stream's first
// message, which needs no durable state and is gone when Read returns. It
// stops at the stream's last sequence when Read started, or when no more
// of the OU's events are pending. When the OU holds a fifth of the stream
// or more, the consumer reads the whole stream and Read skips the other
// OUs' events.
func (s Stream) Read(ctx context.Context, ou string, fn func(Message) error) error {
	st, err := s.JS.Stream(ctx, stream.EventsStream)
	if err != nil {
		return fmt.Errorf("reading stream %s: %w", stream.EventsStream, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return fmt.Errorf("reading stream %s: %w", stream.EventsStream, err)
	}
	if info.State.Msgs == 0 {
		return nil
	}
	filter := stream.EventOUFilter(ou)
	mine, err := s.count(ctx, filter)
	if err != nil {
		return err
	}
	if mine == 0 {
		return nil
	}
	var filters []string
	if mine*unfilteredShare < info.State.Msgs {
		filters = []string{filter}
	}
	prefix := strings.TrimSuffix(filter, ">")
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	msgs, stop, err := ledger.ReadFrom(ctx, s.JS, stream.EventsStream, 0, readAhead, filters...)
	if err != nil {
		return err
	}
	defer stop()
	end, read := info.State.LastSeq, uint64(0)
	for read < mine {
		msg, err := msgs.Next(jetstream.NextMaxWait(idleWait))
		switch {
		case errors.Is(err, nats.ErrTimeout):
			// Nothing of the OU's is left before end.
			return ctx.Err()
		case err != nil:
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("reading stream %s: %w", stream.EventsStream, err)
		}
		meta, err := msg.Metadata()
		if err != nil {
			return fmt.Errorf("reading stream %s: %w", stream.EventsStream, err)
		}
		if meta.Sequence.Stream > end {
			return nil
		}
		if strings.HasPrefix(msg.Subject(), prefix) {
			read++
			if err := fn(Message{Subject: msg.Subject(), Data: msg.Data(), Stored: meta.Timestamp}); err != nil {
				return err
			}
		}
		if meta.Sequence.Stream == end || meta.NumPending == 0 {
			return nil
		}
	}
	return nil
}

// count returns how many messages of the events stream match filter: the
// pending count of a short-lived consumer, deleted at once.
func (s Stream) count(ctx context.Context, filter string) (uint64, error) {
	c, err := s.JS.CreateConsumer(ctx, stream.EventsStream, jetstream.ConsumerConfig{
		FilterSubject:     filter,
		DeliverPolicy:     jetstream.DeliverAllPolicy,
		AckPolicy:         jetstream.AckNonePolicy,
		InactiveThreshold: time.Minute,
		MemoryStorage:     true,
	})
	if err != nil {
		return 0, fmt.Errorf("counting the events of %s: %w", filter, err)
	}
	pending := c.CachedInfo().NumPending
	// The consumer goes by itself after its inactive threshold otherwise.
	_ = s.JS.DeleteConsumer(context.WithoutCancel(ctx), stream.EventsStream, c.CachedInfo().Name)
	return pending, nil
}
