package ledger_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/leadvibe/milestone-triggers-operator/internal/evaluator"
	"github.com/leadvibe/milestone-triggers-operator/internal/ledger"
	"github.com/leadvibe/milestone-triggers-operator/internal/stream"
	"github.com/leadvibe/milestone-triggers-operator/internal/stream/streamtest"
)

// TestReadLeadReadsWithoutClaiming: ReadLead finds a lead's state where
// its partition's owner stored it, with when it was stored, finds nothing
// for a lead of another OU or one never stored, and claims nothing: the
// owner goes on writing.
func TestReadLeadReadsWithoutClaiming(t *testing.T) {
	_, streams := streamtest.Open(t)
	ctx := context.Background()
	l := ledger.New(streams)
	const ou, lead = "demo", "ld.1 with/odd*chars"
	p := stream.PartitionOf(ou, lead, streams.Partitions)
	owner, err := l.Claim(ctx, p, "replica-a")
	if err != nil {
		t.Fatal(err)
	}
	want := ledger.LeadState{State: evaluator.LeadState{Seen: true, Score: 80,
		Pending: []evaluator.Pending{{Trigger: "hot", UID: "uid-1", Threshold: 75, Epoch: 2}}}, AppliedSeq: 17}
	before := time.Now().Add(-time.Second)
	if err := owner.Snapshot(ctx, map[string]ledger.LeadState{ledger.LeadKey(p, ou, lead): want}, 17); err != nil {
		t.Fatal(err)
	}

	got, stored, found, err := l.ReadLead(ctx, ou, lead)
	if err != nil || !found || !reflect.DeepEqual(got, want) {
		t.Fatalf("ReadLead: %+v, %v, %v; want %+v", got, found, err, want)
	}
	if stored.Before(before) || stored.After(time.Now().Add(time.Second)) || stored.Location() != time.UTC {
		t.Errorf("stored at %v, want the UTC time of the snapshot", stored)
	}
	for _, c := range [][2]string{{"other", lead}, {ou, "ld.2"}} {
		if _, _, found, err := l.ReadLead(ctx, c[0], c[1]); err != nil || found {
			t.Errorf("ReadLead(%q, %q): found %v, %v; want nothing", c[0], c[1], found, err)
		}
	}

	// Reading fenced nothing: the owner's next snapshot is stored.
	want.State.Score, want.AppliedSeq = 90, 18
	if err := owner.Snapshot(ctx, map[string]ledger.LeadState{ledger.LeadKey(p, ou, lead): want}, 18); err != nil {
		t.Fatalf("a snapshot after ReadLead: %v", err)
	}
	if got, _, _, err := l.ReadLead(ctx, ou, lead); err != nil || got.State.Score != 90 || got.AppliedSeq != 18 {
		t.Errorf("after the owner's next snapshot: %+v, %v", got, err)
	}
}
