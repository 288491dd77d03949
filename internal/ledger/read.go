package ledger

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/leadvibe/milestone-triggers-operator/internal/stream"
)

// ReadLead reads the stored state of one lead of an OU, for a reader that
// is no partition's owner (a simulation): it claims nothing, so it never
// fences the evaluator. The state is the one the partition's last snapshot
// stored, as of stored, and covers the events up to its AppliedSeq; the
// evaluator may have applied later events that its next snapshot stores
// (every few seconds). found is false for a lead with no stored state.
func (l *Ledger) ReadLead(ctx context.Context, ou, leadID string) (state LeadState, stored time.Time, found bool, err error) {
	n := l.streams.Partitions
	if n <= 0 {
		return LeadState{}, time.Time{}, false, fmt.Errorf("reading lead states: the layout has %d partitions", n)
	}
	return l.readLeadKey(ctx, LeadKey(stream.PartitionOf(ou, leadID, n), ou, leadID))
}

// readLeadKey reads the lead state stored under key, and when it was
// stored; found is false when there is none.
func (l *Ledger) readLeadKey(ctx context.Context, key string) (state LeadState, stored time.Time, found bool, err error) {
	entry, err := l.streams.LeadsKV.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return LeadState{}, time.Time{}, false, nil
	}
	if err != nil {
		return LeadState{}, time.Time{}, false, fmt.Errorf("reading lead state %s: %w", key, err)
	}
	state, err = decodeLeadState(entry.Value())
	if err != nil {
		return LeadState{}, time.Time{}, false, fmt.Errorf("lead state %q: %w", key, err)
	}
	return state, entry.Created().UTC(), true, nil
}
