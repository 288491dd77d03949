package main

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/leadvibe/milestone-triggers-operator/internal/stream"
)

// outboxWatch tells when the evaluator has committed the run's firings:
// it reads (never writes) the operator's firing outbox, whose last
// sequence grows by one per firing. The sentinels are published last and
// the stream is evaluated in order, so the outbox holds every expected
// firing exactly when every event has been evaluated, and the stream's
// time of its last message says when, to the server's clock (the same
// machine's). This separates evaluation from delivery.
type outboxWatch struct {
	js   jetstream.JetStream
	base uint64
}

func newOutboxWatch(ctx context.Context, js jetstream.JetStream) (*outboxWatch, error) {
	s, err := js.Stream(ctx, stream.FiringsStream)
	if err != nil {
		return nil, fmt.Errorf("reading the firing outbox %s: %w", stream.FiringsStream, err)
	}
	return &outboxWatch{js: js, base: s.CachedInfo().State.LastSeq}, nil
}

// wait polls until the outbox has want more firings than at the start and
// returns the time the last of them was stored.
func (w *outboxWatch) wait(ctx context.Context, want int, timeout time.Duration) (time.Time, error) {
	deadline := time.Now().Add(timeout)
	var got uint64
	for {
		s, err := w.js.Stream(ctx, stream.FiringsStream)
		if err == nil {
			st := s.CachedInfo().State
			got = st.LastSeq - w.base
			if got >= uint64(want) {
				return st.LastTime, nil
			}
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("the outbox has %d of %d firings after %s", got, want, timeout)
		}
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
