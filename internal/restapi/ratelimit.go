package restapi

import (
	"fmt"
	"math"
	"net/http"

	"github.com/leadvibe/milestone-triggers-operator/internal/ratelimit"
)

// rateLimited is the 429 of a request that would take an OU over its
// event budget: nothing of it was published.
func rateLimited(ou string, limits *ratelimit.OUs, n int) *Error {
	wait := limits.Admit(ou, n)
	if wait <= 0 {
		return nil
	}
	r := limits.Rate()
	e := newError(http.StatusTooManyRequests, fmt.Sprintf("OU %q is over its event rate limit (%g events a second, bursts of %d); retry after the Retry-After header's seconds", ou, r.PerSecond, r.Burst))
	e.retryAfter = max(1, int(math.Ceil(wait.Seconds())))
	return e
}
