package ledger_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/leadvibe/milestone-triggers-operator/internal/evaluator"
	"github.com/leadvibe/milestone-triggers-operator/internal/ledger"
	"github.com/leadvibe/milestone-triggers-operator/internal/stream"
	"github.com/leadvibe/milestone-triggers-operator/internal/stream/streamtest"
)

func state(score int64, seq uint64) ledger.LeadState {
	return ledger.LeadState{State: evaluator.LeadState{Seen: true, Score: score}, AppliedSeq: seq}
}

// TestClaimFencesThePreviousOwner: once a second owner has claimed a
// partition, the first cannot store a lead state or move the checkpoint,
// whatever it tries; the second starts from what the first stored before.
func TestClaimFencesThePreviousOwner(t *testing.T) {
	_, streams := streamtest.Open(t)
	ctx := context.Background()
	l := ledger.New(streams)

	a, err := l.Claim(ctx, 3, "replica-a")
	if err != nil {
		t.Fatal(err)
	}
	if a.Checkpoint() != 0 {
		t.Fatalf("a new partition at checkpoint %d", a.Checkpoint())
	}
	key := ledger.LeadKey(3, "demo", "ld_1")
	if err := a.Snapshot(ctx, map[string]ledger.LeadState{key: state(60, 10)}, 10); err != nil {
		t.Fatal(err)
	}

	b, err := l.Claim(ctx, 3, "replica-b")
	if err != nil {
		t.Fatal(err)
	}
	if b.Checkpoint() != 10 {
		t.Errorf("b resumes after %d, want 10", b.Checkpoint())
	}
	// A stale write of a, many states (several batches) or one.
	many := map[string]ledger.LeadState{key: state(90, 20)}
	for i := range 2500 {
		many[ledger.LeadKey(3, "demo", fmt.Sprint("other-", i))] = state(1, 20)
	}
	for _, states := range []map[string]ledger.LeadState{many, {key: state(90, 20)}} {
		if err := a.Snapshot(ctx, states, 20); !errors.Is(err, ledger.ErrFenced) {
			t.Fatalf("a stale owner's snapshot: %v, want ErrFenced", err)
		}
	}
	got, ok, err := b.GetLead(ctx, key)
	if err != nil || !ok || !reflect.DeepEqual(got, state(60, 10)) {
		t.Errorf("after a's stale snapshot the lead is %+v, %v, %v; want a's last durable state", got, ok, err)
	}
	if _, ok, _ := b.GetLead(ctx, ledger.LeadKey(3, "demo", "other-0")); ok {
		t.Error("a stale snapshot's first batch was stored")
	}
	// b writes on, over several batches, and its successor sees it all.
	if err := b.Snapshot(ctx, many, 30); err != nil {
		t.Fatal(err)
	}
	if err := b.Snapshot(ctx, map[string]ledger.LeadState{key: state(95, 31)}, 31); err != nil {
		t.Fatal(err)
	}
	c, err := l.Claim(ctx, 3, "replica-c")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	complete, err := c.LoadLeads(ctx, 0, func(string, ledger.LeadState) { n++ })
	if err != nil || !complete || n != 2501 || c.Checkpoint() != 31 {
		t.Errorf("c loads %d leads (complete %v, %v), checkpoint %d; want 2501 and 31", n, complete, err, c.Checkpoint())
	}
	n = 0
	complete, err = c.LoadLeads(ctx, 100, func(string, ledger.LeadState) { n++ })
	if err != nil || complete || n != 100 {
		t.Errorf("a limit of 100 loads %d (complete %v, %v)", n, complete, err)
	}
	// Other partitions are apart: their own fence, checkpoint and leads.
	other, err := l.Claim(ctx, 4, "replica-a")
	if err != nil || other.Checkpoint() != 0 {
		t.Fatalf("partition 4: %v, checkpoint %d", err, other.Checkpoint())
	}
	n = 0
	if _, err := other.LoadLeads(ctx, 0, func(string, ledger.LeadState) { n++ }); err != nil || n != 0 {
		t.Errorf("partition 4 sees %d leads of partition 3 (%v)", n, err)
	}
}

// TestMigrateUnpartitioned moves the lead states and checkpoint of the
// layout without partitions: each state to its partition's key, the
// evaluator's checkpoint to the router's; a second run changes nothing.
func TestMigrateUnpartitioned(t *testing.T) {
	_, streams := streamtest.Open(t)
	ctx := context.Background()
	l := ledger.New(streams)
	leads := []string{"ld_1", "ld.2", "ünï"}
	for i, lead := range leads {
		oldKey := "demo." + base64.RawURLEncoding.EncodeToString([]byte(lead))
		if _, err := streams.LeadsKV.Put(ctx, oldKey, []byte(fmt.Sprintf(`{"state":{"Seen":true,"Score":%d},"applied_seq":%d}`, 70+i, 5+i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.SaveCheckpoint(ctx, ledger.EvaluatorCheckpoint, 42); err != nil {
		t.Fatal(err)
	}
	for run := range 2 {
		moved, err := l.MigrateUnpartitioned(ctx, 16)
		if err != nil {
			t.Fatal(err)
		}
		if want := []int{3, 0}[run]; moved != want {
			t.Errorf("run %d moved %d, want %d", run, moved, want)
		}
	}
	for i, lead := range leads {
		p, err := l.Claim(ctx, stream.PartitionOf("demo", lead, 16), "test")
		if err != nil {
			t.Fatal(err)
		}
		got, ok, err := p.GetLead(ctx, ledger.LeadKey(p.Index(), "demo", lead))
		if err != nil || !ok || !reflect.DeepEqual(got, state(int64(70+i), uint64(5+i))) {
			t.Errorf("lead %q after the migration: %+v, %v, %v", lead, got, ok, err)
		}
	}
	if _, err := streams.LeadsKV.Get(ctx, "_checkpoint.evaluator"); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Errorf("the old checkpoint is still there: %v", err)
	}
	through, rev, err := stream.RouterCheckpoint(ctx, streams.JS)
	if err != nil || through != 42 || rev == 0 {
		t.Errorf("router checkpoint %d (revision %d, %v), want 42", through, rev, err)
	}
}
