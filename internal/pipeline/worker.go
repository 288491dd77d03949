package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/leadvibe/milestone-triggers-operator/internal/evaluator"
	"github.com/leadvibe/milestone-triggers-operator/internal/event"
	"github.com/leadvibe/milestone-triggers-operator/internal/ledger"
	"github.com/leadvibe/milestone-triggers-operator/internal/metrics"
	"github.com/leadvibe/milestone-triggers-operator/internal/stream"
)

// worker is the state of the evaluator of one partition: the claimed
// partition, the trigger indexes and buffers reused from batch to batch
// (lead states are in the pipeline's cache and the dirty set). It is used
// by one goroutine.
type worker struct {
	p       *Pipeline
	part    Partition
	index   int
	indexes indexes

	batch   []jetstream.Msg
	firings []ledger.Firing
	fired   []evaluator.Firing
	rejects []stream.Msg
	reasons []string // the reject reason code of each of rejects

	// dirty holds the leads changed since the last snapshot began; applied
	// is the sequence of the last event processed, snapshotted the one the
	// checkpoint stands at.
	dirty        map[string]ledger.LeadState
	applied      uint64
	snapshotted  uint64
	lastSnapshot time.Time

	// A snapshot runs beside evaluation: writing thousands of lead states
	// takes long enough that stopping evaluation for it shows as latency.
	// inflight reports its end; it writes flushing, the states as they
	// were at sequence flushingThrough.
	inflight        chan error
	flushing        map[string]ledger.LeadState
	flushingThrough uint64
	// fenced: another owner claimed the partition; nothing more is written.
	fenced bool
}

func newWorker(p *Pipeline, part Partition) *worker {
	checkpoint := part.Checkpoint()
	return &worker{
		p:            p,
		part:         part,
		index:        part.Index(),
		indexes:      indexes{set: p.Triggers, byOU: map[string]*ouIndex{}},
		dirty:        map[string]ledger.LeadState{},
		applied:      checkpoint,
		snapshotted:  checkpoint,
		lastSnapshot: time.Now(),
	}
}

// lead returns a lead's state: changed since the last snapshot, in the
// cache, being written by the snapshot under way, or stored.
func (w *worker) lead(ctx context.Context, key string) (ledger.LeadState, error) {
	if s, ok := w.dirty[key]; ok {
		return s, nil
	}
	if s, ok := w.p.cache.get(w.index, key); ok {
		return s, nil
	}
	if s, ok := w.flushing[key]; ok {
		// The snapshot under way is encoding this copy: the evaluator
		// may change pending crossings and holds in place, so it gets its
		// own.
		s.State = s.State.Clone()
		return s, nil
	}
	metrics.LeadCacheMisses.Inc()
	var s ledger.LeadState
	err := retry(ctx, w.p, "reading a lead state", func() error {
		var err error
		s, _, err = w.part.GetLead(ctx, key)
		return err
	})
	return s, err
}

// process evaluates a batch and commits its firings to the outbox,
// retrying until it succeeds or ctx ends. The lead states it changed wait
// for the next snapshot.
func (w *worker) process(ctx context.Context, batch []jetstream.Msg) error {
	w.firings, w.rejects, w.reasons = w.firings[:0], w.rejects[:0], w.reasons[:0]
	summary := Batch{Partition: w.index}
	var pending uint64 // events after the batch's last, when the stream sent it
	now := time.Now()  // one clock reading per batch is precise enough for ages
	for _, msg := range batch {
		summary.Events++
		meta, err := msg.Metadata()
		if err != nil {
			return fmt.Errorf("reading message metadata: %w", err)
		}
		summary.LastSeq, pending = meta.Sequence.Stream, meta.NumPending
		result, err := w.evaluate(ctx, msg, meta)
		if err != nil {
			return err
		}
		switch result {
		case evaluated:
			metrics.ObserveEventAge(now.Sub(meta.Timestamp))
		case rejected:
			summary.Rejected++
		case skipped:
			summary.Skipped++
		}
	}
	summary.Firings = len(w.firings)

	// The batch's rejected events, then its firings, each as one atomic
	// batch, before the evaluator moves past the batch.
	if len(w.rejects) > 0 {
		if err := retry(ctx, w.p, "recording rejected events", func() error {
			_, err := w.p.Streams.Rejected.Write(ctx, w.rejects...)
			return err
		}); err != nil {
			return err
		}
		for _, code := range w.reasons {
			metrics.RejectedEvent(code)
		}
	}
	if err := retry(ctx, w.p, "writing firings", func() error {
		return w.p.Ledger.CommitFirings(ctx, w.firings)
	}); err != nil {
		return err
	}
	w.applied = summary.LastSeq
	metrics.ConsumedEvents(summary.Events)
	metrics.SetEvaluatorPending(w.index, pending)
	if w.p.OnCommit != nil {
		w.p.OnCommit(summary)
	}
	return nil
}

type outcome int

const (
	evaluated outcome = iota
	rejected
	skipped
)

// evaluate applies one message to its lead's state.
func (w *worker) evaluate(ctx context.Context, msg jetstream.Msg, meta *jetstream.MsgMetadata) (outcome, error) {
	seq := meta.Sequence.Stream
	parts, ev, err := stream.DecodeEventMsg(msg.Subject(), msg.Data(), meta.Timestamp)
	if parts.OU == "" || parts.Partition != w.index {
		w.reject("unknown", seq, msg.Data(), fmt.Errorf("subject %q: %w", msg.Subject(), event.ErrNoOU))
		return rejected, nil
	}
	ou := parts.OU
	if err != nil {
		w.reject(ou, seq, msg.Data(), err)
		return rejected, nil
	}

	key := ledger.LeadKey(w.index, ou, ev.LeadID)
	lead, err := w.lead(ctx, key)
	if err != nil {
		return 0, err
	}
	if seq <= lead.AppliedSeq {
		return skipped, nil
	}
	ix := w.indexes.get(ou)
	var state evaluator.LeadState
	state, w.fired = ix.index.Evaluate(lead.State, evaluator.Event{ID: ev.ID, LeadID: ev.LeadID, Type: ev.EventType, Score: ev.Score, At: ev.CreatedAt}, w.fired[:0])
	for _, f := range w.fired {
		w.firings = append(w.firings, ledger.Firing{
			ID:          ledger.FiringID(ou, f.UID, ev.LeadID, ev.ID),
			OU:          ou,
			Trigger:     f.Trigger,
			TriggerUID:  f.UID,
			TriggerName: ix.displayNames[f.Trigger],
			Threshold:   f.Threshold,
			FromPending: f.FromPending,
			Event:       ev,
			Score:       ev.Score,
			EventSeq:    seq,
			FiredAt:     meta.Timestamp.UTC(),
		})
	}
	lead = ledger.LeadState{State: state, AppliedSeq: seq}
	w.p.cache.put(w.index, key, lead)
	w.dirty[key] = lead
	return evaluated, nil
}

// reject queues the record of an undecodable event, with its reason, for
// the batch's commit. The checkpoint then moves past it with its batch: it
// never blocks the stream.
func (w *worker) reject(ou string, seq uint64, data []byte, reason error) {
	code := event.RejectReason(reason)
	w.p.Log.Info("Event rejected", "ou", ou, "sequence", seq, "reason", reason.Error(), "code", code)
	w.rejects = append(w.rejects, stream.RejectMsg(ou, seq, data, reason))
	w.reasons = append(w.reasons, code)
}

// maybeSnapshot collects a finished snapshot, and starts one when the
// interval has passed or MaxDirty leads have changed. At most one runs at
// a time; with MaxDirty changed leads and one still running, it waits for
// it, so memory stays bounded.
func (w *worker) maybeSnapshot(ctx context.Context) error {
	if w.inflight != nil {
		select {
		case err := <-w.inflight:
			if err := w.snapshotDone(err); err != nil {
				return err
			}
		default:
			if len(w.dirty) < w.p.MaxDirty {
				return nil
			}
			select {
			case err := <-w.inflight:
				if err := w.snapshotDone(err); err != nil {
					return err
				}
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	if w.inflight != nil || w.applied == w.snapshotted && len(w.flushing) == 0 {
		return nil
	}
	if len(w.dirty) < w.p.MaxDirty && time.Since(w.lastSnapshot) < w.p.SnapshotInterval {
		return nil
	}
	w.startSnapshot(ctx)
	return nil
}

// startSnapshot hands the changed leads to a snapshot running beside
// evaluation. The states are copied, pending crossings and holds included:
// the evaluator reuses their memory as it goes on.
func (w *worker) startSnapshot(ctx context.Context) {
	states := w.flushing // a failed snapshot's leads, not changed since
	if states == nil {
		states = make(map[string]ledger.LeadState, len(w.dirty))
	}
	for k, v := range w.dirty {
		v.State = v.State.Clone()
		states[k] = v
	}
	clear(w.dirty)
	through := w.applied
	w.flushing, w.flushingThrough, w.lastSnapshot = states, through, time.Now()
	done := make(chan error, 1)
	w.inflight = done
	go func() { done <- w.part.Snapshot(ctx, states, through) }()
}

// snapshotDone records the end of a snapshot. A failed one keeps its leads
// for the next, unless they changed since (then dirty has them, newer). A
// fenced one ends the partition's evaluation: another owner has it.
func (w *worker) snapshotDone(err error) error {
	w.inflight = nil
	if errors.Is(err, ledger.ErrFenced) {
		w.fenced = true
		return err
	}
	if err != nil {
		w.p.Log.Error(err, "Writing a snapshot failed; the next one writes its lead states again")
		for k := range w.flushing {
			if _, newer := w.dirty[k]; newer {
				delete(w.flushing, k)
			}
		}
		return nil
	}
	w.snapshotted, w.flushing = w.flushingThrough, nil
	return nil
}

// finalSnapshot saves what the evaluator did since the last snapshot when
// it stops cleanly, so that its successor does not read those events again.
func (w *worker) finalSnapshot() {
	if w.inflight != nil {
		_ = w.snapshotDone(<-w.inflight)
	}
	if w.fenced || w.applied == w.snapshotted {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	w.startSnapshot(ctx)
	if err := <-w.inflight; err != nil {
		w.p.Log.Error(err, "Final snapshot failed; the next owner re-reads the events since the last one", "partition", w.index)
		return
	}
	_ = w.snapshotDone(nil)
}

// retry runs op until it succeeds or ctx ends, backing off up to 5s.
// Every operation retried here is idempotent.
func retry(ctx context.Context, p *Pipeline, what string, op func() error) error {
	backoff := 50 * time.Millisecond
	for {
		err := op()
		if err == nil {
			return nil
		}
		p.Log.Error(err, "Retrying", "operation", what, "after", backoff)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}
