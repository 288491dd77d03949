// Package ledger keeps what makes "exactly once per crossing" true: the
// durable state of every lead (last score, pending crossings, the last
// event applied) and the firing outbox, both in JetStream so that an
// external NATS cluster carries them too.
//
// Each batch of events writes its firings to the outbox, each under a
// subject of its own that may hold one message only, so a firing id is
// written at most once however often it is offered. Every few seconds a
// snapshot writes the states of the leads changed since the last one, each
// recording the stream sequence of the last event applied to it, then the
// evaluator's checkpoint, which is where a restarted evaluator resumes, in
// order. A crash anywhere leaves events after the checkpoint that are read
// again and re-evaluated from the state before them, giving the same
// firing ids, which the outbox refuses a second time, or leads whose state
// already covers them, which are then skipped. See docs/design.md.
package ledger

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/leadvibe/milestone-triggers-operator/internal/metrics"
	"github.com/leadvibe/milestone-triggers-operator/internal/stream"
)

// Ledger reads and writes lead states and the firing outbox, through
// the layout's writers: a batch's firings are one atomic batch, and a
// snapshot's lead states are atomic batches of up to a thousand, followed
// by the checkpoint.
type Ledger struct {
	streams *stream.Streams
}

// New returns the Ledger of an ensured layout.
func New(s *stream.Streams) *Ledger { return &Ledger{streams: s} }

// LoadLeads reads every lead state, for an evaluator taking over.
func (l *Ledger) LoadLeads(ctx context.Context) (map[string]LeadState, error) {
	w, err := l.streams.LeadsKV.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("reading lead states: %w", err)
	}
	defer func() { _ = w.Stop() }()
	states := map[string]LeadState{}
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case entry, ok := <-w.Updates():
			if !ok {
				return nil, errors.New("reading lead states: the watcher stopped")
			}
			if entry == nil { // every current value has been delivered
				return states, nil
			}
			if strings.HasPrefix(entry.Key(), "_") {
				continue // a checkpoint
			}
			s, err := decodeLeadState(entry.Value())
			if err != nil {
				return nil, fmt.Errorf("lead state %q: %w", entry.Key(), err)
			}
			states[entry.Key()] = s
		}
	}
}

// Snapshot makes lead states durable, keyed by LeadKey, in atomic batches
// of up to a thousand, then moves the evaluator's checkpoint to through:
// every event up to it is reflected in the stored states, and its firings
// are in the outbox (the caller committed them first). The checkpoint is
// written only once every state is stored, so a crash, or a failed write,
// leaves it where it was.
func (l *Ledger) Snapshot(ctx context.Context, states map[string]LeadState, through uint64) error {
	msgs := make([]stream.Msg, 0, len(states))
	for key, s := range states {
		data, err := s.encode()
		if err != nil {
			return fmt.Errorf("encoding lead state %s: %w", key, err)
		}
		msgs = append(msgs, stream.Msg{Subject: stream.KeySubject(stream.LeadsBucket, key), Data: data})
	}
	if _, err := l.streams.Leads.Write(ctx, msgs...); err != nil {
		return fmt.Errorf("writing a snapshot of %d lead states: %w", len(states), err)
	}
	return l.SaveCheckpoint(ctx, EvaluatorCheckpoint, through)
}

// CommitFirings writes firings to the outbox, as one atomic batch (up to a
// thousand). A firing already there (the same id offered again after a
// crash) is left as it is, not duplicated: each has a subject of its own
// that must be empty. The firings written and those refused as already
// there are counted in milestone_triggers_firings_total and
// _firing_duplicates_total, so the first counts each firing once across
// restarts.
func (l *Ledger) CommitFirings(ctx context.Context, firings []Firing) error {
	if len(firings) == 0 {
		return nil
	}
	msgs := make([]stream.Msg, len(firings))
	for i := range firings {
		data, err := firings[i].Encode()
		if err != nil {
			return err
		}
		msgs[i] = stream.Msg{Subject: stream.FiringSubject(firings[i].OU, firings[i].ID), Data: data, ExpectNew: true}
	}
	res, err := l.streams.Firings.Write(ctx, msgs...)
	if err != nil {
		return fmt.Errorf("writing %d firings: %w", len(firings), err)
	}
	var stored, existed int
	for _, r := range res {
		if r.Exists {
			existed++
		} else {
			stored++
		}
	}
	metrics.WrittenFirings(stored, existed)
	return nil
}
