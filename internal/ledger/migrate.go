package ledger

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/leadvibe/milestone-triggers-operator/internal/stream"
)

// MigrateUnpartitioned moves what a release without partitions stored
// into the partitioned layout, once, before any partition is evaluated:
//
//   - lead states keyed <ou>.<lead> move to their partition's key,
//     LeadKey(partition, ou, lead), keeping their applied sequence (every
//     event evaluated from now on is routed or published anew, so has a
//     higher sequence);
//   - the single evaluator's checkpoint becomes the router's: the events
//     it had evaluated, all published without the lead, are not routed
//     (evaluated) a second time.
//
// It is idempotent: a state is written to its new key, unless that key
// holds one already (written since, so newer), before its old key is
// deleted, and a stream with a router checkpoint is left as it is. Run it
// with the replicas of the older release stopped: they would go on
// writing under the old keys.
func (l *Ledger) MigrateUnpartitioned(ctx context.Context, partitions int) (moved int, err error) {
	old, err := l.LoadCheckpoint(ctx, EvaluatorCheckpoint)
	if err != nil {
		return 0, err
	}
	keys, err := l.streams.LeadsKV.ListKeys(ctx)
	if err != nil && !errors.Is(err, jetstream.ErrNoKeysFound) {
		return 0, fmt.Errorf("listing lead states: %w", err)
	}
	if keys != nil {
		for key := range keys.Keys() {
			ou, lead, ok := unpartitionedKey(key)
			if !ok {
				continue
			}
			entry, err := l.streams.LeadsKV.Get(ctx, key)
			if errors.Is(err, jetstream.ErrKeyNotFound) {
				continue
			}
			if err != nil {
				return moved, fmt.Errorf("reading lead state %s: %w", key, err)
			}
			// Only where the partition has no state of the lead yet: one
			// there was written by an owner since, and is newer.
			newKey := LeadKey(stream.PartitionOf(ou, lead, partitions), ou, lead)
			if _, err := l.streams.Leads.Write(ctx, stream.Msg{Subject: stream.KeySubject(stream.LeadsBucket, newKey), Data: entry.Value()}.Expect(0)); err != nil {
				return moved, fmt.Errorf("moving lead state %s: %w", key, err)
			}
			if err := l.streams.LeadsKV.Delete(ctx, key); err != nil {
				return moved, fmt.Errorf("deleting lead state %s after moving it: %w", key, err)
			}
			moved++
		}
	}
	if old == 0 {
		return moved, nil
	}
	through, rev, err := stream.RouterCheckpoint(ctx, l.streams.JS)
	if err != nil {
		return moved, err
	}
	if rev == 0 && through == 0 {
		if _, err := l.streams.Events.WriteAll(ctx, stream.RouterCheckpointMsg(old, 0)); err != nil && !errors.Is(err, stream.ErrRefused) {
			return moved, fmt.Errorf("moving the evaluator's checkpoint to the router: %w", err)
		}
	}
	if err := l.streams.LeadsKV.Delete(ctx, checkpointKey(EvaluatorCheckpoint)); err != nil {
		return moved, fmt.Errorf("deleting the unpartitioned checkpoint: %w", err)
	}
	return moved, nil
}

// unpartitionedKey reads a lead key of the layout without partitions,
// <ou>.<base64url lead>: two parts, where a partitioned key has three.
func unpartitionedKey(key string) (ou, lead string, ok bool) {
	if strings.HasPrefix(key, "_") {
		return "", "", false
	}
	ou, enc, ok := strings.Cut(key, ".")
	if !ok || strings.Contains(enc, ".") {
		return "", "", false
	}
	b, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil {
		return "", "", false
	}
	return ou, string(b), true
}
