// Package pipeline runs the evaluator on the event stream: it consumes the
// events of each partition it owns in order, evaluates each against its
// OU's triggers, and commits the firings, then the lead states and the
// partition's checkpoint, to the ledger.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/leadvibe/milestone-triggers-operator/internal/event"
	"github.com/leadvibe/milestone-triggers-operator/internal/ledger"
	"github.com/leadvibe/milestone-triggers-operator/internal/metrics"
	"github.com/leadvibe/milestone-triggers-operator/internal/stream"
	"github.com/leadvibe/milestone-triggers-operator/internal/triggerset"
)

// Ledger is where the pipeline keeps lead states and firings; Real makes
// one of a *ledger.Ledger.
type Ledger interface {
	// Claim makes this replica the writer of a partition, fencing out
	// the previous one, and returns it.
	Claim(ctx context.Context, partition int, owner string) (Partition, error)
	// CommitFirings makes a batch's firings durable.
	CommitFirings(ctx context.Context, firings []ledger.Firing) error
}

// Partition is a claimed partition of the ledger; *ledger.Partition is the
// real one.
type Partition interface {
	Index() int
	Checkpoint() uint64
	LoadLeads(ctx context.Context, limit int, add func(key string, s ledger.LeadState)) (complete bool, err error)
	GetLead(ctx context.Context, key string) (ledger.LeadState, bool, error)
	// Snapshot makes lead states durable, then the checkpoint; it fails
	// with ledger.ErrFenced once another owner has claimed the partition.
	Snapshot(ctx context.Context, states map[string]ledger.LeadState, through uint64) error
}

// Real is the Ledger of a *ledger.Ledger.
func Real(l *ledger.Ledger) Ledger { return realLedger{l} }

type realLedger struct{ *ledger.Ledger }

func (r realLedger) Claim(ctx context.Context, p int, owner string) (Partition, error) {
	return r.Ledger.Claim(ctx, p, owner)
}

// Pipeline evaluates the partitions of the events stream this replica
// owns: RunPartition is what internal/ownership runs for each partition
// it holds. Start evaluates every partition in this process instead, for
// a single process (tests, tools) that owns them all.
type Pipeline struct {
	// Streams is the ensured JetStream layout: the events it reads, the
	// writer of rejected events, and the number of partitions.
	Streams  *stream.Streams
	Ledger   Ledger
	Triggers triggerset.Set
	Log      logr.Logger
	// Identity names this replica in its partition claims (default
	// "pipeline").
	Identity string
	// Ready, when set, holds evaluation back until it is closed: until the
	// trigger set is complete (see controllers.StartupGate). An event
	// evaluated against an incomplete set would lose the crossings of the
	// triggers missing from it.
	Ready <-chan struct{}

	// CacheSize bounds the lead states held in memory across the owned
	// partitions (default 1,000,000); the rest are read from the bucket
	// when their lead has an event.
	CacheSize int
	// BatchSize bounds the events committed together (default 512).
	BatchSize int
	// Linger is how long a batch waits for one more event before it is
	// committed (default 1ms): the price of batching in latency.
	Linger time.Duration
	// SnapshotInterval is how often a partition's changed lead states and
	// its checkpoint are written (default 2s); a new owner re-reads the
	// events since the last snapshot. MaxDirty (default 50,000) changed
	// leads also trigger a snapshot.
	SnapshotInterval time.Duration
	MaxDirty         int
	// OnCommit, when set, is told about every committed batch, from the
	// goroutine of its partition.
	OnCommit func(Batch)

	setup sync.Once
	cache *leadCache
	owned atomic.Int64
}

// Batch summarises one committed batch.
type Batch struct {
	Partition int
	Events    int // messages consumed, whatever became of them
	Firings   int // firings written to the outbox
	Rejected  int // events that could not be decoded, recorded and skipped
	Skipped   int // redelivered events already applied
	LastSeq   uint64
}

func (p *Pipeline) defaults() {
	p.setup.Do(func() {
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
		if p.CacheSize <= 0 {
			p.CacheSize = 1_000_000
		}
		if p.Identity == "" {
			p.Identity = "pipeline"
		}
		p.cache = newLeadCache(p.CacheSize)
		metrics.InitRejectReasons(event.RejectReasons...)
	})
}

// NeedLeaderElection implements manager.LeaderElectionRunnable: a
// process that evaluates every partition must be the only one.
func (p *Pipeline) NeedLeaderElection() bool { return true }

// Start evaluates every partition until ctx ends.
func (p *Pipeline) Start(ctx context.Context) error {
	errs := make(chan error, p.Streams.Partitions)
	for i := range p.Streams.Partitions {
		go func() { errs <- p.RunPartition(ctx, i) }()
	}
	var err error
	for range p.Streams.Partitions {
		err = errors.Join(err, <-errs)
	}
	return err
}

// RunPartition evaluates one partition until ctx ends: it claims it,
// loads its lead states, and consumes its events in order from its
// checkpoint. An error other than ctx's end is retried after a pause,
// from a new claim; a claim by another owner (ledger.ErrFenced) waits for
// ctx to end first, since ownership has moved.
func (p *Pipeline) RunPartition(ctx context.Context, partition int) error {
	p.defaults()
	if p.Ready != nil {
		select {
		case <-p.Ready:
		case <-ctx.Done():
			return nil
		}
	}
	metrics.PartitionsOwned.Set(float64(p.owned.Add(1)))
	defer func() {
		metrics.PartitionsOwned.Set(float64(p.owned.Add(-1)))
		metrics.ForgetPartition(partition)
		p.cache.drop(partition)
	}()
	backoff := time.Second
	for {
		err := p.evaluatePartition(ctx, partition)
		if ctx.Err() != nil {
			return nil
		}
		wait := backoff
		if errors.Is(err, ledger.ErrFenced) {
			// Another replica claimed the partition: this one is about
			// to hear that it lost it. Should it still hold the Lease
			// after a while, it claims the partition back.
			p.Log.Info("Partition claimed by another owner; waiting for the hand-off", "partition", partition)
			wait = 30 * time.Second
		} else {
			p.Log.Error(err, "Evaluating a partition failed; starting it again", "partition", partition, "after", wait)
			backoff = min(2*backoff, 30*time.Second)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}

// evaluatePartition claims a partition and evaluates its events until ctx
// ends or something fails.
func (p *Pipeline) evaluatePartition(ctx context.Context, partition int) error {
	part, err := p.Ledger.Claim(ctx, partition, p.Identity)
	if err != nil {
		return err
	}
	// What the cache held of the partition may be older than what its
	// last owner stored.
	// Loading them, it holds all of them unless it runs out of room, or
	// forgets one of them for another partition's lead meanwhile (put
	// then marks the partition incomplete).
	p.cache.drop(partition)
	p.cache.setComplete(partition, true)
	complete, loaded := false, 0
	if room := p.cache.room(); room > 0 {
		complete, err = part.LoadLeads(ctx, room, func(key string, s ledger.LeadState) {
			p.cache.put(partition, key, s)
			loaded++
		})
		if err != nil {
			return err
		}
	}
	if !complete {
		p.cache.setComplete(partition, false)
	}
	checkpoint := part.Checkpoint()
	// An ordered consumer from the checkpoint: events are evaluated in
	// stream order, and a new owner resumes right after the last snapshot.
	// The checkpoint, not an acknowledgement, records progress.
	msgs, stop, err := ledger.ReadFrom(ctx, p.Streams.JS, stream.EventsStream, checkpoint, 2*p.BatchSize, stream.PartitionFilter(partition))
	if err != nil {
		return err
	}
	defer stop()
	p.Log.Info("Evaluating a partition", "partition", partition, "checkpoint", checkpoint, "leads", loaded, "allLeadsCached", complete)

	w := newWorker(p, part)
	defer w.finalSnapshot()
	watch := stallWatch{partition: partition, interval: stallInterval, last: time.Now()}
	for {
		batch, err := w.collect(msgs)
		if ctx.Err() != nil || errors.Is(err, jetstream.ErrMsgIteratorClosed) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("consuming events: %w", err)
		}
		if len(batch) > 0 {
			watch.last, watch.behind = time.Now(), 0
			if err := w.process(ctx, batch); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
		} else if err := watch.check(ctx, p.Streams.JS, w.applied); err != nil {
			return err
		}
		if err := w.maybeSnapshot(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
}

// collect reads the next batch of the partition's events (empty when the
// stream is idle).
func (w *worker) collect(msgs jetstream.MessagesContext) ([]jetstream.Msg, error) {
	batch, err := ledger.NextBatch(msgs, w.batch, w.p.BatchSize, w.p.Linger)
	if batch != nil {
		w.batch = batch
	}
	return batch, err
}

// stallInterval is how long a partition's reader may deliver nothing
// before the pipeline checks whether the partition has events it has
// not delivered.
const stallInterval = 15 * time.Second

// stallWatch notices a partition's reader that has stopped delivering
// while the partition has events after the last one evaluated (an
// ordered consumer lost on a cluster, a client library's failed reset):
// the partition's evaluation then starts again, from a new claim and a
// new reader, instead of waiting forever.
type stallWatch struct {
	partition int
	interval  time.Duration
	last      time.Time // the last batch, or the last check
	// behind is an event the last check found stored and not delivered;
	// it must be delivered by the next check.
	behind uint64
}

func (s *stallWatch) check(ctx context.Context, js jetstream.JetStream, applied uint64) error {
	if time.Since(s.last) < s.interval {
		return nil
	}
	s.last = time.Now()
	if s.behind > applied {
		return fmt.Errorf("%w: partition %d held event %d %s ago, and the evaluator is still at %d", errStalled, s.partition, s.behind, s.interval, applied)
	}
	s.behind = 0
	st, err := js.Stream(ctx, stream.EventsStream)
	if err != nil {
		return nil // the stream is unreachable: the reader says so itself
	}
	if msg, err := st.GetLastMsgForSubject(ctx, stream.PartitionFilter(s.partition)); err == nil && msg.Sequence > applied {
		s.behind = msg.Sequence
	}
	return nil
}

// errStalled says a partition's reader stopped delivering its events.
var errStalled = errors.New("the partition's reader stopped delivering events")
