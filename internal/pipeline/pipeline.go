// Package pipeline runs the evaluator on the event stream: it consumes the
// events of every OU in order, evaluates each against its OU's triggers,
// and commits the firings and lead states to the ledger before it
// acknowledges the events.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/leadvibe/milestone-triggers-operator/internal/event"
	"github.com/leadvibe/milestone-triggers-operator/internal/ledger"
	"github.com/leadvibe/milestone-triggers-operator/internal/metrics"
	"github.com/leadvibe/milestone-triggers-operator/internal/stream"
	"github.com/leadvibe/milestone-triggers-operator/internal/triggerset"
)

// Ledger is where the pipeline keeps lead states and firings;
// *ledger.Ledger is the real one.
type Ledger interface {
	LoadLeads(ctx context.Context) (map[string]ledger.LeadState, error)
	LoadCheckpoint(ctx context.Context, name string) (uint64, error)
	// CommitFirings makes a batch's firings durable.
	CommitFirings(ctx context.Context, firings []ledger.Firing) error
	// Snapshot makes lead states durable, then the checkpoint.
	Snapshot(ctx context.Context, states map[string]ledger.LeadState, through uint64) error
}

// Pipeline is a manager Runnable; it needs leader election, so that one
// evaluator at a time owns the lead states.
type Pipeline struct {
	// Streams is the ensured JetStream layout: the events it reads, the
	// writer of rejected events.
	Streams  *stream.Streams
	Ledger   Ledger
	Triggers triggerset.Set
	Log      logr.Logger
	// Ready, when set, holds evaluation back until it is closed: until the
	// trigger set is complete (see controllers.StartupGate). An event
	// evaluated against an incomplete set would lose the crossings of the
	// triggers missing from it.
	Ready <-chan struct{}

	// BatchSize bounds the events committed together (default 512).
	BatchSize int
	// Linger is how long a batch waits for one more event before it is
	// committed (default 1ms): the price of batching in latency.
	Linger time.Duration
	// SnapshotInterval is how often the changed lead states and the
	// checkpoint are written (default 2s); a restart re-reads the events
	// since the last snapshot. MaxDirty (default 50,000) changed leads also
	// trigger a snapshot.
	SnapshotInterval time.Duration
	MaxDirty         int
	// OnCommit, when set, is told about every committed batch.
	OnCommit func(Batch)
}

// Batch summarises one committed batch.
type Batch struct {
	Events   int // messages consumed, whatever became of them
	Firings  int // firings written to the outbox
	Rejected int // events that could not be decoded, recorded and skipped
	Skipped  int // redelivered events already applied
	LastSeq  uint64
}

// NeedLeaderElection implements manager.LeaderElectionRunnable.
func (p *Pipeline) NeedLeaderElection() bool { return true }

// Start consumes until ctx ends.
func (p *Pipeline) Start(ctx context.Context) error {
	if p.BatchSize <= 0 {
		p.BatchSize = 512
	}
	if p.Linger <= 0 {
		p.Linger = time.Millisecond
	}
	if p.SnapshotInterval <= 0 {
		p.SnapshotInterval = 2 * time.Second
	}
	if p.MaxDirty <= 0 {
		p.MaxDirty = 50_000
	}
	if p.Ready != nil {
		select {
		case <-p.Ready:
		case <-ctx.Done():
			return nil
		}
	}
	leads, err := p.Ledger.LoadLeads(ctx)
	if err != nil {
		return err
	}
	checkpoint, err := p.Ledger.LoadCheckpoint(ctx, ledger.EvaluatorCheckpoint)
	if err != nil {
		return err
	}
	// An ordered consumer from the checkpoint: events are evaluated in
	// stream order, and a restart resumes right after the last snapshot.
	// The checkpoint, not an acknowledgement, records progress.
	consumer, err := ledger.OrderedFrom(ctx, p.Streams.JS, stream.EventsStream, checkpoint)
	if err != nil {
		return err
	}
	p.Log.Info("Evaluator starting", "leads", len(leads), "checkpoint", checkpoint)
	metrics.InitRejectReasons(event.RejectReasons...)

	msgs, err := consumer.Messages(jetstream.PullMaxMessages(2 * p.BatchSize))
	if err != nil {
		return fmt.Errorf("consuming events: %w", err)
	}
	stopped := make(chan struct{})
	defer close(stopped)
	go func() {
		select {
		case <-ctx.Done():
		case <-stopped:
		}
		msgs.Stop()
	}()

	w := newWorker(p, leads, checkpoint)
	defer w.finalSnapshot()
	for {
		batch, err := w.collect(msgs)
		if ctx.Err() != nil || errors.Is(err, jetstream.ErrMsgIteratorClosed) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("consuming events: %w", err)
		}
		if len(batch) > 0 {
			if err := w.process(ctx, batch); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
		}
		if err := w.maybeSnapshot(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
}

// collect waits up to a second for one message, then gathers more while
// they arrive within the linger time, up to the batch size. It returns an
// empty batch when the stream is idle.
func (w *worker) collect(msgs jetstream.MessagesContext) ([]jetstream.Msg, error) {
	batch := w.batch[:0]
	msg, err := msgs.Next(jetstream.NextMaxWait(time.Second))
	if errors.Is(err, nats.ErrTimeout) {
		return batch, nil
	}
	if err != nil {
		return nil, err
	}
	batch = append(batch, msg)
	for len(batch) < w.p.BatchSize {
		msg, err := msgs.Next(jetstream.NextMaxWait(w.p.Linger))
		if err != nil {
			break // a timeout ends the batch; anything else shows on the next collect
		}
		batch = append(batch, msg)
	}
	w.batch = batch
	return batch, nil
}
