// Package ledger keeps what makes "exactly once per crossing" true: the
// durable state of every lead (last score, pending crossings, the last
// event applied) and the firing outbox, both in JetStream so that an
// external NATS cluster carries them too.
//
// The events stream is partitioned by lead, and each partition has one
// owner at a time (internal/ownership), which claims it here (Claim):
// that fences out the previous owner. Each batch of events writes its
// firings to the outbox, each under a subject of its own that may hold one
// message only, so a firing id is written at most once however often it is
// offered. Every few seconds a snapshot writes the states of the
// partition's leads changed since the last one, each recording the stream
// sequence of the last event applied to it, then the partition's
// checkpoint, which is where its next owner resumes, in order. A crash anywhere leaves events after the checkpoint that are read
// again and re-evaluated from the state before them, giving the same
// firing ids, which the outbox refuses a second time, or leads whose state
// already covers them, which are then skipped. See docs/design.md.
package ledger

import (
	"context"
	"fmt"

	"github.com/leadvibe/milestone-triggers-operator/internal/metrics"
	"github.com/leadvibe/milestone-triggers-operator/internal/stream"
)

// Ledger reads and writes lead states and the firing outbox, through
// the layout's writers: a batch's firings are one atomic batch, and a
// snapshot's lead states are fenced atomic batches of up to a thousand
// (see Partition).
type Ledger struct {
	streams *stream.Streams
}

// New returns the Ledger of an ensured layout.
func New(s *stream.Streams) *Ledger { return &Ledger{streams: s} }

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
