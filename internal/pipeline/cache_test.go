package pipeline

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/leadvibe/milestone-triggers-operator/internal/evaluator"
	"github.com/leadvibe/milestone-triggers-operator/internal/ledger"
)

func cached(score int64) ledger.LeadState {
	return ledger.LeadState{State: evaluator.LeadState{Seen: true, Score: score}, AppliedSeq: uint64(score)}
}

func TestLeadCacheForgetsTheLeastRecentlyUsed(t *testing.T) {
	c := newLeadCache(3)
	c.setComplete(0, true)
	c.setComplete(1, true)
	c.put(0, "a", cached(1))
	c.put(0, "b", cached(2))
	c.put(1, "c", cached(3))
	if _, ok := c.get(0, "a"); !ok { // a is now the most recent
		t.Fatal("a is missing")
	}
	c.put(1, "d", cached(4)) // forgets b, the least recent
	if s, ok := c.get(0, "b"); ok && s.State.Seen {
		t.Errorf("b was kept: %+v", s)
	}
	if _, ok := c.get(0, "b"); ok {
		t.Error("partition 0 lost a lead but still says it holds all of them")
	}
	if _, ok := c.get(1, "unknown"); !ok {
		t.Error("partition 1 is complete: a lead it does not hold is a new one")
	}
	for key, want := range map[string]int64{"a": 1, "c": 3, "d": 4} {
		if s, ok := c.get(0, key); !ok || s.State.Score != want {
			t.Errorf("%s = %+v, %v", key, s, ok)
		}
	}
	c.put(0, "a", cached(9))
	if s, _ := c.get(0, "a"); s.State.Score != 9 || c.len() != 3 {
		t.Errorf("an update: %+v, %d entries", s, c.len())
	}
	c.drop(1)
	if c.len() != 1 || c.room() != 2 {
		t.Errorf("after dropping partition 1: %d entries, room %d", c.len(), c.room())
	}
	if _, ok := c.get(1, "c"); ok {
		t.Error("a dropped partition's lead is still known")
	}
}

// BenchmarkLeadCacheBytesPerLead measures what one lead costs in memory
// in the lead cache: the heap it holds after 200,000 leads are put, per
// lead, for leads without pending crossings and for leads with one.
func BenchmarkLeadCacheBytesPerLead(b *testing.B) {
	for _, pending := range []int{0, 1} {
		b.Run(fmt.Sprintf("pending=%d", pending), func(b *testing.B) {
			const leads = 200_000
			var perLead float64
			for b.Loop() {
				runtime.GC()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				c := newLeadCache(leads)
				for i := range leads {
					s := cached(int64(i % 100))
					for range pending {
						s.State.Pending = append(s.State.Pending, evaluator.Pending{Trigger: "demo-request-hot"})
					}
					// A lead key as the worker makes it: partition, OU and
					// a base64url lead id of 10 bytes.
					c.put(i%16, ledger.LeadKey(i%16, "acme-marketing", fmt.Sprintf("ld_%07d", i)), s)
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				perLead = float64(after.HeapAlloc-before.HeapAlloc) / leads
				runtime.KeepAlive(c)
			}
			b.ReportMetric(perLead, "bytes/lead")
		})
	}
}
