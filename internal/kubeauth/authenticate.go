package kubeauth

import (
	"context"
	"crypto/sha256"
	"slices"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	authenticationv1client "k8s.io/client-go/kubernetes/typed/authentication/v1"
	"sigs.k8s.io/controller-runtime/pkg/log"
)

// MaxTokenBytes bounds the tokens sent for review. Service account tokens
// are about a kilobyte.
const MaxTokenBytes = 16 << 10

// Defaults of the caches.
const (
	DefaultCacheTTL  = 10 * time.Second
	DefaultCacheSize = 4096
)

// Authenticator validates tokens with TokenReviews. Results, good and bad,
// are cached briefly under the token's SHA-256; the token itself is
// neither kept nor logged. It is safe for concurrent use.
type Authenticator struct {
	reviews   authenticationv1client.TokenReviewsGetter
	audiences []string
	cache     *Cache[authResult]
	limiter   *FailureLimiter
}

type authResult struct {
	user          authenticationv1.UserInfo
	authenticated bool
}

// AuthenticatorOptions configure an Authenticator.
type AuthenticatorOptions struct {
	// Audiences, when set, are the audiences a token must be valid for;
	// empty means the API server's own.
	Audiences []string
	// CacheTTL is how long answers are reused (0: DefaultCacheTTL; negative:
	// no cache); CacheSize bounds how many are kept (0: DefaultCacheSize).
	CacheTTL  time.Duration
	CacheSize int
	// Limiter, when set, refuses addresses that failed too often.
	Limiter *FailureLimiter
}

// NewAuthenticator returns an Authenticator asking reviews.
func NewAuthenticator(reviews authenticationv1client.TokenReviewsGetter, o AuthenticatorOptions) *Authenticator {
	if o.CacheTTL == 0 {
		o.CacheTTL = DefaultCacheTTL
	}
	if o.CacheSize == 0 {
		o.CacheSize = DefaultCacheSize
	}
	return &Authenticator{
		reviews:   reviews,
		audiences: slices.Clone(o.Audiences),
		cache:     NewCache[authResult](o.CacheTTL, o.CacheSize, nil),
		limiter:   o.Limiter,
	}
}

// Audiences are the audiences tokens are reviewed for (empty: the API
// server's own).
func (a *Authenticator) Audiences() []string { return slices.Clone(a.audiences) }

// Authenticate returns the user whose token this is. addr is the client's
// address, for the failure limiter ("" counts nowhere). The error is
// ErrUnauthenticated for a token the API server refuses, a *LimitedError
// when addr failed too often lately (no review is made), or an
// *UpstreamError.
func (a *Authenticator) Authenticate(ctx context.Context, token, addr string) (authenticationv1.UserInfo, error) {
	if wait, ok := a.limiter.Allow(addr); !ok {
		return authenticationv1.UserInfo{}, &LimitedError{RetryAfter: wait}
	}
	if token == "" || len(token) > MaxTokenBytes {
		a.limiter.Failed(addr)
		return authenticationv1.UserInfo{}, ErrUnauthenticated
	}
	key := Key(sha256.Sum256([]byte(token)))
	res, ok := a.cache.Get(key)
	if !ok {
		review, err := a.reviews.TokenReviews().Create(ctx, &authenticationv1.TokenReview{
			Spec: authenticationv1.TokenReviewSpec{Token: token, Audiences: a.audiences},
		}, metav1.CreateOptions{})
		if err != nil {
			return authenticationv1.UserInfo{}, upstream("TokenReview", err)
		}
		res = authResult{
			user:          review.Status.User,
			authenticated: review.Status.Authenticated && audiencesMatch(a.audiences, review.Status.Audiences),
		}
		if review.Status.Error != "" {
			log.FromContext(ctx).V(1).Info("Token not authenticated", "reason", review.Status.Error)
		}
		a.cache.Put(key, res)
	}
	if !res.authenticated {
		a.limiter.Failed(addr)
		return authenticationv1.UserInfo{}, ErrUnauthenticated
	}
	return res.user, nil
}

// audiencesMatch reports whether a TokenReview that asked for audiences
// (none means the API server's own) was answered for one of them.
func audiencesMatch(want, got []string) bool {
	if len(want) == 0 {
		return true
	}
	for _, g := range got {
		if slices.Contains(want, g) {
			return true
		}
	}
	return false
}
