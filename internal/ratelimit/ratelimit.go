// Package ratelimit holds the per-OU event budget that POST /events and
// the stream listener share: a token bucket per OU, so that one OU's
// publishers cannot take every other OU's share of the operator.
package ratelimit

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Rate is an OU's budget: PerSecond events a second on average, in bursts
// of up to Burst. A zero PerSecond means no limit.
type Rate struct {
	PerSecond float64
	Burst     int
}

// maxOUs bounds the buckets kept; past it, the OUs whose bucket is full
// again (idle ones) are forgotten, which costs them nothing.
const maxOUs = 10000

// OUs holds one token bucket per OU. It is safe for concurrent use; a nil
// *OUs limits nothing.
type OUs struct {
	rate Rate
	now  func() time.Time

	mu  sync.Mutex
	ous map[string]*rate.Limiter
}

// New returns the buckets of r; now is the clock (nil: time.Now). Burst is
// raised to at least minBurst, so that one full request always fits.
func New(r Rate, minBurst int, now func() time.Time) *OUs {
	if now == nil {
		now = time.Now
	}
	r.Burst = max(r.Burst, minBurst, 1)
	return &OUs{rate: r, now: now, ous: map[string]*rate.Limiter{}}
}

// Rate is the budget, with its burst as raised by New.
func (l *OUs) Rate() Rate {
	if l == nil {
		return Rate{}
	}
	return l.rate
}

// Limited reports whether there is a limit at all.
func (l *OUs) Limited() bool { return l != nil && l.rate.PerSecond > 0 }

// Admit takes n events from ou's bucket when they are there now, and
// returns 0; otherwise it takes nothing and returns how long until they
// would be (a request refused before anything of it is published).
func (l *OUs) Admit(ou string, n int) (retryAfter time.Duration) {
	if !l.Limited() {
		return 0
	}
	now := l.now()
	r := l.bucket(ou, now).ReserveN(now, n)
	if r.OK() && r.DelayFrom(now) == 0 {
		return 0
	}
	if !r.OK() {
		return l.cost(n)
	}
	wait := r.DelayFrom(now)
	r.CancelAt(now)
	return wait
}

// Charge takes n events that were already published from ou's bucket,
// into debt if it must, and returns how long until the bucket is out of
// debt: 0 while ou is within its budget.
func (l *OUs) Charge(ou string, n int) (overFor time.Duration) {
	if !l.Limited() || n <= 0 {
		return 0
	}
	now := l.now()
	b := l.bucket(ou, now)
	for n > 0 {
		// A reservation is at most a burst: charge larger counts in parts.
		part := min(n, l.rate.Burst)
		overFor = b.ReserveN(now, part).DelayFrom(now)
		n -= part
	}
	return overFor
}

// cost is how long n events take at the rate.
func (l *OUs) cost(n int) time.Duration {
	return time.Duration(float64(n) / l.rate.PerSecond * float64(time.Second))
}

func (l *OUs) bucket(ou string, now time.Time) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.ous[ou]
	if b != nil {
		return b
	}
	if len(l.ous) >= maxOUs {
		for k, v := range l.ous {
			if v.TokensAt(now) >= float64(l.rate.Burst) {
				delete(l.ous, k)
			}
		}
	}
	b = rate.NewLimiter(rate.Limit(l.rate.PerSecond), l.rate.Burst)
	l.ous[ou] = b
	return b
}
