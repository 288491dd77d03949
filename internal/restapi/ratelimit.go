package restapi

import (
	"fmt"
	"math"
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// EventRate is the per-OU limit of POST /events: each OU may publish
// PerSecond events a second on average, in bursts of up to Burst (at
// least a full request, stream.MaxBatchEvents). A zero PerSecond means no
// limit.
type EventRate struct {
	PerSecond float64
	Burst     int
}

// maxLimitedOUs bounds the limiters kept; past it, the OUs whose bucket
// is full again (idle ones) are forgotten, which costs them nothing.
const maxLimitedOUs = 10000

// ouLimiter holds one token bucket per OU, so that one OU's publishers
// cannot take every other OU's share of the operator. The caller was
// authorized in the OU before it is counted, so the OUs are those the
// cluster has.
type ouLimiter struct {
	rate EventRate
	now  func() time.Time

	mu  sync.Mutex
	ous map[string]*rate.Limiter
}

func newOULimiter(r EventRate, now func() time.Time) *ouLimiter {
	if now == nil {
		now = time.Now
	}
	return &ouLimiter{rate: r, now: now, ous: map[string]*rate.Limiter{}}
}

// admit takes n events from ou's bucket, or returns a 429 saying when to
// retry, and takes nothing.
func (l *ouLimiter) admit(ou string, n int) *Error {
	if l == nil || l.rate.PerSecond <= 0 {
		return nil
	}
	now := l.now()
	r := l.limiter(ou, now).ReserveN(now, n)
	if r.OK() && r.DelayFrom(now) == 0 {
		return nil
	}
	wait := time.Duration(float64(n) / l.rate.PerSecond * float64(time.Second))
	if r.OK() {
		wait = r.DelayFrom(now)
		r.CancelAt(now)
	}
	e := newError(http.StatusTooManyRequests, fmt.Sprintf("OU %q is over its event rate limit (%g events a second, bursts of %d); retry after the Retry-After header's seconds", ou, l.rate.PerSecond, l.rate.Burst))
	e.retryAfter = max(1, int(math.Ceil(wait.Seconds())))
	return e
}

func (l *ouLimiter) limiter(ou string, now time.Time) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim := l.ous[ou]
	if lim != nil {
		return lim
	}
	if len(l.ous) >= maxLimitedOUs {
		for k, v := range l.ous {
			if v.TokensAt(now) >= float64(l.rate.Burst) {
				delete(l.ous, k)
			}
		}
	}
	lim = rate.NewLimiter(rate.Limit(l.rate.PerSecond), l.rate.Burst)
	l.ous[ou] = lim
	return lim
}
