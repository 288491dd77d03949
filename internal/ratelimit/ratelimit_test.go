package ratelimit

import (
	"testing"
	"time"
)

func TestAdmitRefillsAndKeepsOUsApart(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	l := New(Rate{PerSecond: 10, Burst: 100}, 50, func() time.Time { return now })
	if wait := l.Admit("a", 100); wait != 0 {
		t.Fatalf("a full burst: wait %v", wait)
	}
	if wait := l.Admit("a", 20); wait != 2*time.Second {
		t.Fatalf("20 more at once: wait %v, want 2s", wait)
	}
	if wait := l.Admit("b", 100); wait != 0 {
		t.Fatalf("another OU is limited by the first one's use: wait %v", wait)
	}
	now = now.Add(2 * time.Second)
	if wait := l.Admit("a", 20); wait != 0 {
		t.Fatalf("after the wait the refused request was not admitted: wait %v", wait)
	}
	if wait := l.Admit("a", 1); wait == 0 {
		t.Fatal("a refused request took no tokens, but the next one found the bucket refilled beyond its rate")
	}
	if wait := l.Admit("c", 101); wait != 10100*time.Millisecond {
		t.Fatalf("more than a burst: wait %v, want the time 101 events take", wait)
	}
	var none *OUs
	if none.Admit("a", 1e6) != 0 || New(Rate{}, 1, nil).Admit("a", 1e6) != 0 {
		t.Fatal("no limiter, or a zero rate, limits")
	}
	if got := New(Rate{PerSecond: 1, Burst: 5}, 1000, nil).Rate().Burst; got != 1000 {
		t.Errorf("burst %d, want raised to 1000", got)
	}
}

func TestChargeGoesIntoDebt(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	l := New(Rate{PerSecond: 100, Burst: 1000}, 1, func() time.Time { return now })
	if over := l.Charge("a", 1000); over != 0 {
		t.Fatalf("a burst's worth: over for %v", over)
	}
	if over := l.Charge("a", 2500); over != 25*time.Second {
		t.Fatalf("2,500 past the burst: over for %v, want 25s", over)
	}
	if wait := l.Admit("a", 1); wait <= 25*time.Second {
		t.Fatalf("POST /events of an OU in debt: wait %v, want past the debt", wait)
	}
	now = now.Add(26 * time.Second)
	if over := l.Charge("a", 1); over != 0 {
		t.Fatalf("after the debt is paid: over for %v", over)
	}
}
