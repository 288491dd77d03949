package kubeauth

import (
	"strconv"
	"testing"
	"time"
)

func TestFailureLimiter(t *testing.T) {
	now := time.Unix(1000, 0)
	l := NewFailureLimiter(3, time.Minute, 2, func() time.Time { return now })
	for i := range 3 {
		if _, ok := l.Allow("10.0.0.1:5000"); !ok {
			t.Fatalf("refused after %d failures", i)
		}
		l.Failed("10.0.0.1:5000")
	}
	wait, ok := l.Allow("10.0.0.1:6000") // another port of the same host
	if ok || wait != time.Minute {
		t.Fatalf("after 3 failures: Allow = %v, %v; want refused for 1m", wait, ok)
	}
	if _, ok := l.Allow("10.0.0.2:5000"); !ok {
		t.Error("another address is refused")
	}
	now = now.Add(59 * time.Second)
	if wait, ok := l.Allow("10.0.0.1"); ok || wait != time.Second {
		t.Errorf("59s in: Allow = %v, %v", wait, ok)
	}
	now = now.Add(time.Second)
	if _, ok := l.Allow("10.0.0.1"); !ok {
		t.Error("still refused once the window passed")
	}
	// A new window counts from zero.
	l.Failed("10.0.0.1")
	if _, ok := l.Allow("10.0.0.1"); !ok {
		t.Error("one failure in a new window refuses")
	}
}

func TestFailureLimiterIPv6CountsPer64(t *testing.T) {
	l := NewFailureLimiter(2, time.Minute, 10, nil)
	l.Failed("[2001:db8:1:2::1]:4222")
	l.Failed("2001:db8:1:2:ffff::9")
	if _, ok := l.Allow("[2001:db8:1:2::77]:1"); ok {
		t.Error("another address of the same /64 is allowed")
	}
	if _, ok := l.Allow("[2001:db8:1:3::1]:1"); !ok {
		t.Error("another /64 is refused")
	}
	l.Failed("::ffff:192.0.2.1")
	l.Failed("192.0.2.1:80")
	if _, ok := l.Allow("192.0.2.1"); ok {
		t.Error("an IPv4-mapped address counts apart from its IPv4 form")
	}
}

func TestFailureLimiterIsBounded(t *testing.T) {
	l := NewFailureLimiter(1, time.Minute, 100, nil)
	for i := range 1000 {
		l.Failed("10.1." + strconv.Itoa(i/256) + "." + strconv.Itoa(i%256))
	}
	if l.Len() != 100 {
		t.Errorf("Len = %d after 1000 addresses, want the bound 100", l.Len())
	}
	// The most recent failures are the ones remembered.
	if _, ok := l.Allow("10.1.3.231"); ok {
		t.Error("the last address to fail is forgotten")
	}
}

func TestFailureLimiterOff(t *testing.T) {
	var l *FailureLimiter
	if NewFailureLimiter(0, time.Minute, 0, nil) != nil || NewFailureLimiter(5, 0, 0, nil) != nil {
		t.Fatal("a zero limit or window builds a limiter")
	}
	l.Failed("10.0.0.1")
	if _, ok := l.Allow("10.0.0.1"); !ok {
		t.Error("a nil limiter refuses")
	}
	on := NewFailureLimiter(1, time.Minute, 0, nil)
	on.Failed("")
	on.Failed("not an address")
	if on.Len() != 0 {
		t.Error("an unreadable address is counted")
	}
}
