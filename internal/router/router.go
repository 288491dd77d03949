// Package router keeps the subject form without the lead working: an event
// published to leadvibe.events.<ou> names its lead only in its body, so the
// stream cannot place it in its lead's partition. The router reads those
// events in order and publishes each to its lead's subject, where the
// stream's transform partitions it. Each routed batch carries the router's
// checkpoint as its last message, with a compare-and-swap on the previous
// one, in one atomic batch: an event is routed exactly once whatever
// crashes, and a second router (a stale leader) cannot route anything
// again.
package router

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/go-logr/logr"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/leadvibe/milestone-triggers-operator/internal/event"
	"github.com/leadvibe/milestone-triggers-operator/internal/ledger"
	"github.com/leadvibe/milestone-triggers-operator/internal/metrics"
	"github.com/leadvibe/milestone-triggers-operator/internal/stream"
)

// Router is a manager Runnable for the leader.
type Router struct {
	Streams *stream.Streams
	Log     logr.Logger
	// BatchSize bounds the events routed together (default 500).
	BatchSize int
	// OnRoute, when set, is told the legacy sequence routed through after
	// each batch.
	OnRoute func(through uint64)
}

// NeedLeaderElection implements manager.LeaderElectionRunnable.
func (r *Router) NeedLeaderElection() bool { return true }

// Start routes until ctx ends, starting again after a failure.
func (r *Router) Start(ctx context.Context) error {
	if r.BatchSize <= 0 || r.BatchSize > stream.MaxAtomicBatch-1 {
		r.BatchSize = 500
	}
	backoff := time.Second
	for {
		err := r.route(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if !errors.Is(err, stream.ErrRefused) {
			r.Log.Error(err, "Routing events failed; starting again", "after", backoff)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 30*time.Second)
			continue
		}
		// Another router moved the checkpoint: read it again.
		r.Log.Info("The router's checkpoint moved under it; reading it again")
	}
}

// route reads the checkpoint and routes from it until something fails.
func (r *Router) route(ctx context.Context) error {
	through, rev, err := stream.RouterCheckpoint(ctx, r.Streams.JS)
	if err != nil {
		return err
	}
	msgs, stop, err := ledger.ReadFrom(ctx, r.Streams.JS, stream.EventsStream, through, 2*r.BatchSize, stream.LegacyFilter)
	if err != nil {
		return err
	}
	defer stop()
	r.Log.Info("Routing events published without their lead", "after", through)
	batch := make([]jetstream.Msg, 0, r.BatchSize)
	for {
		batch, err = ledger.NextBatch(msgs, batch, r.BatchSize, time.Millisecond)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return nil
			}
			return fmt.Errorf("reading events to route: %w", err)
		}
		if len(batch) == 0 {
			continue
		}
		if through, rev, err = r.routeBatch(ctx, batch, through, rev); err != nil {
			return err
		}
		if r.OnRoute != nil {
			r.OnRoute(through)
		}
	}
}

// routeBatch publishes a batch's events to their leads' subjects with the
// checkpoint, as one atomic batch, after recording the events that cannot
// be routed as rejected.
func (r *Router) routeBatch(ctx context.Context, batch []jetstream.Msg, through, rev uint64) (uint64, uint64, error) {
	out := make([]stream.Msg, 0, len(batch)+1)
	var rejects []stream.Msg
	var reasons []string
	last := through
	for _, msg := range batch {
		meta, err := msg.Metadata()
		if err != nil {
			return through, rev, fmt.Errorf("reading message metadata: %w", err)
		}
		last = meta.Sequence.Stream
		parts, ok := stream.ParseEventSubject(msg.Subject())
		if !ok || parts.Partition >= 0 || stream.IsRouterCheckpoint(msg.Subject()) {
			continue // the checkpoint itself
		}
		ev, err := event.DecodeEvent(msg.Data(), meta.Timestamp)
		if err != nil {
			rejects = append(rejects, stream.RejectMsg(parts.OU, last, msg.Data(), err))
			reasons = append(reasons, event.RejectReason(err))
			continue
		}
		// The decoded event, re-encoded: created_at is kept, or set from
		// the time the stream stored the original.
		routed := stream.EventMsg(parts.OU, ev)
		routed.ID = "" // the original's id was checked when it was published
		routed.Header = nats.Header{stream.HeaderRoutedFrom: []string{strconv.FormatUint(last, 10)}}
		out = append(out, routed)
	}
	if len(rejects) > 0 {
		if _, err := r.Streams.Rejected.Write(ctx, rejects...); err != nil {
			return through, rev, err
		}
		for _, code := range reasons {
			metrics.RejectedEvent(code)
		}
	}
	if len(out) == 0 && len(rejects) == 0 {
		// Only checkpoints, this router's own among them: writing one
		// more would be read back, and so on forever.
		return through, rev, nil
	}
	out = append(out, stream.RouterCheckpointMsg(last, rev))
	newRev, err := r.Streams.Events.WriteAll(ctx, out...)
	if err != nil {
		return through, rev, err
	}
	return last, newRev, nil
}
