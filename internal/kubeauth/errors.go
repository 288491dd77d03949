package kubeauth

import (
	"context"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// ErrUnauthenticated is the answer for a token the API server does not
// accept: unknown, expired, revoked, or not valid for the audiences asked
// for.
var ErrUnauthenticated = errors.New("invalid or expired token")

// LimitedError refuses an authentication, without a TokenReview, from a
// client address that failed too often lately.
type LimitedError struct {
	// RetryAfter is how long until the address may try again.
	RetryAfter time.Duration
}

func (e *LimitedError) Error() string {
	return fmt.Sprintf("too many failed authentications from this address; retry in %s", e.RetryAfter.Round(time.Second))
}

// UpstreamError is a review the API server did not answer.
type UpstreamError struct {
	// Review names the review: TokenReview or SubjectAccessReview.
	Review string
	// Temporary says the failure may pass (throttling, a timeout, the API
	// server unavailable); otherwise it is a fault, such as the operator
	// lacking the RBAC to create reviews.
	Temporary bool
	// Err is the client's error.
	Err error
}

func (e *UpstreamError) Error() string { return fmt.Sprintf("creating a %s: %v", e.Review, e.Err) }

// Unwrap returns the client's error.
func (e *UpstreamError) Unwrap() error { return e.Err }

func upstream(review string, err error) *UpstreamError {
	temporary := apierrors.IsTooManyRequests(err) || apierrors.IsServerTimeout(err) || apierrors.IsTimeout(err) ||
		apierrors.IsServiceUnavailable(err) || errors.Is(err, context.DeadlineExceeded)
	return &UpstreamError{Review: review, Temporary: temporary, Err: err}
}
