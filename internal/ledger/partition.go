package ledger

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/leadvibe/milestone-triggers-operator/internal/stream"
)

// A partition's owner is fenced: a snapshot's every atomic batch carries,
// as its last message, a compare-and-swap of the partition's fence key at
// the revision the owner's previous write left it. Claiming a partition
// rewrites the fence key, so once a new owner has claimed it, a previous
// owner that has not noticed it lost the partition (a paused process, a
// Lease it could not renew in time) cannot store one more lead state or
// move the checkpoint: its batch is refused whole (ErrFenced). The new
// owner reads the checkpoint and the lead states after its claim, so it
// starts from the last states the previous owner made durable.
//
// The outbox needs no fence: a firing's id is made from the trigger, the
// lead and the event, and each firing's subject may hold one message, so a
// previous owner that evaluates an event again can only offer a firing the
// outbox already has or one its successor will offer too (docs/design.md,
// "Partitions and owners").

// ErrFenced says that another owner has claimed the partition since this
// one did: nothing was written, and this owner must stop.
var ErrFenced = errors.New("the partition was claimed by another owner")

// fenceKey is the key of partition p's fence; like checkpoints, it starts
// with an underscore, which no lead key does.
func fenceKey(p int) string { return "_fence.evaluator." + strconv.Itoa(p) }

// Partition is one claimed partition: its checkpoint, and the fenced
// writes of its lead states.
type Partition struct {
	l     *Ledger
	index int
	// checkpoint is the events-stream sequence the partition's lead
	// states are durable through when it was claimed.
	checkpoint uint64
	// fence is the fence key's revision after this owner's last write,
	// and token what this claim writes there, its own.
	fence uint64
	token []byte
}

// Claim makes owner the partition's writer, fencing out any previous one,
// and reads where the partition's evaluation stands.
func (l *Ledger) Claim(ctx context.Context, p int, owner string) (*Partition, error) {
	for {
		var rev uint64
		entry, err := l.streams.LeadsKV.Get(ctx, fenceKey(p))
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
		case err != nil:
			return nil, fmt.Errorf("reading the fence of partition %d: %w", p, err)
		default:
			rev = entry.Revision()
		}
		token := []byte(owner + "/" + nuid.Next())
		msg := stream.Msg{Subject: stream.KeySubject(stream.LeadsBucket, fenceKey(p)), Data: token}.Expect(rev)
		seq, err := l.streams.Leads.WriteAll(ctx, msg)
		if errors.Is(err, stream.ErrRefused) {
			continue // the previous owner wrote in between: read again
		}
		if err != nil {
			return nil, fmt.Errorf("claiming partition %d: %w", p, err)
		}
		checkpoint, err := l.LoadCheckpoint(ctx, EvaluatorCheckpointOf(p))
		if err != nil {
			return nil, err
		}
		return &Partition{l: l, index: p, checkpoint: checkpoint, fence: seq, token: token}, nil
	}
}

// Index is the partition's number.
func (pt *Partition) Index() int { return pt.index }

// Checkpoint is the events-stream sequence the partition's lead states
// were durable through when it was claimed: evaluation resumes after it.
func (pt *Partition) Checkpoint() uint64 { return pt.checkpoint }

// LoadLeads hands add the partition's stored lead states, up to limit of
// them (0: all), and reports whether it handed all of them. It reads the
// partition's leads and its fence together, in stream order, and is done
// only once it has read this claim's own fence write: every state stored
// before the claim comes before it, so none is missed even when the reader
// is served by a replica that is behind.
func (pt *Partition) LoadLeads(ctx context.Context, limit int, add func(key string, s LeadState)) (complete bool, err error) {
	w, err := pt.l.streams.LeadsKV.WatchFiltered(ctx, []string{strconv.Itoa(pt.index) + ".>", fenceKey(pt.index)}, jetstream.IgnoreDeletes())
	if err != nil {
		return false, fmt.Errorf("reading the lead states of partition %d: %w", pt.index, err)
	}
	defer func() { _ = w.Stop() }()
	n := 0
	caughtUp, sawClaim := false, false
	for {
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case entry, ok := <-w.Updates():
			if !ok {
				return false, errors.New("reading lead states: the watcher stopped")
			}
			switch {
			case entry == nil: // every value the reader had has been delivered
				caughtUp = true
			case entry.Key() == fenceKey(pt.index):
				sawClaim = sawClaim || entry.Revision() >= pt.fence
			default:
				if limit > 0 && n == limit {
					return false, nil
				}
				s, err := decodeLeadState(entry.Value())
				if err != nil {
					return false, fmt.Errorf("lead state %q: %w", entry.Key(), err)
				}
				add(entry.Key(), s)
				n++
			}
			if caughtUp && sawClaim {
				return true, nil
			}
		}
	}
}

// GetLead reads one stored lead state: for a lead not in memory.
func (pt *Partition) GetLead(ctx context.Context, key string) (LeadState, bool, error) {
	s, _, found, err := pt.l.readLeadKey(ctx, key)
	return s, found, err
}

// snapshotBatch is how many lead states one fenced batch carries: the
// rest of an atomic batch holds the checkpoint and the fence.
const snapshotBatch = stream.MaxAtomicBatch - 2

// rewrite writes a refused batch again if the fence still holds this
// claim's token, over the fence's current revision.
func (pt *Partition) rewrite(ctx context.Context, msgs []stream.Msg) (uint64, error) {
	entry, err := pt.l.streams.LeadsKV.Get(ctx, fenceKey(pt.index))
	if err != nil {
		return 0, fmt.Errorf("reading the fence of partition %d: %w", pt.index, err)
	}
	if !bytes.Equal(entry.Value(), pt.token) {
		return 0, stream.ErrRefused
	}
	fence := stream.Msg{Subject: stream.KeySubject(stream.LeadsBucket, fenceKey(pt.index)), Data: pt.token}.Expect(entry.Revision())
	return pt.l.streams.Leads.WriteAll(ctx, append(msgs, fence)...)
}

// Snapshot makes lead states durable, keyed by LeadKey, in fenced atomic
// batches, the last of them moving the partition's checkpoint to through:
// every event of the partition up to it is reflected in the stored
// states, and its firings are in the outbox (the caller committed them
// first). A crash, or a failed write, leaves the checkpoint where it was;
// lead states written by the batches before it record their own applied
// sequence, so the events after the checkpoint skip them. ErrFenced means
// another owner claimed the partition: nothing of that batch was stored.
func (pt *Partition) Snapshot(ctx context.Context, states map[string]LeadState, through uint64) error {
	msgs := make([]stream.Msg, 0, min(len(states), snapshotBatch)+2)
	flush := func(last bool) error {
		if last {
			msgs = append(msgs, checkpointMsg(EvaluatorCheckpointOf(pt.index), through))
		}
		if len(msgs) == 0 {
			return nil
		}
		fence := stream.Msg{Subject: stream.KeySubject(stream.LeadsBucket, fenceKey(pt.index)), Data: pt.token}.Expect(pt.fence)
		seq, err := pt.l.streams.Leads.WriteAll(ctx, append(msgs, fence)...)
		if errors.Is(err, stream.ErrRefused) {
			// Refused: another owner's claim, or a write of this one whose
			// answer was lost (a timeout) but that was stored. The fence
			// then holds this claim's token, and the batch is written
			// again (it is idempotent) over it.
			if seq, err = pt.rewrite(ctx, msgs); errors.Is(err, stream.ErrRefused) {
				return fmt.Errorf("writing a snapshot of partition %d: %w", pt.index, ErrFenced)
			}
		}
		if err != nil {
			return fmt.Errorf("writing a snapshot of %d lead states of partition %d: %w", len(msgs), pt.index, err)
		}
		pt.fence, msgs = seq, msgs[:0]
		return nil
	}
	for key, s := range states {
		data, err := s.encode()
		if err != nil {
			return fmt.Errorf("encoding lead state %s: %w", key, err)
		}
		msgs = append(msgs, stream.Msg{Subject: stream.KeySubject(stream.LeadsBucket, key), Data: data})
		if len(msgs) == snapshotBatch {
			if err := flush(false); err != nil {
				return err
			}
		}
	}
	return flush(true)
}
