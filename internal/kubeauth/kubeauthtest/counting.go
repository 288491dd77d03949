// Package kubeauthtest helps test the callers of internal/kubeauth.
package kubeauthtest

import (
	"context"
	"sync/atomic"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	authenticationv1client "k8s.io/client-go/kubernetes/typed/authentication/v1"
)

// CountingReviews counts the TokenReviews made through it to Next (the
// real API server's client), so that a test can show a check made none.
type CountingReviews struct {
	Next  authenticationv1client.TokenReviewsGetter
	count atomic.Int64
}

// Count is how many TokenReviews were created through c.
func (c *CountingReviews) Count() int64 { return c.count.Load() }

// TokenReviews implements authenticationv1client.TokenReviewsGetter.
func (c *CountingReviews) TokenReviews() authenticationv1client.TokenReviewInterface {
	return countingReviewInterface{TokenReviewInterface: c.Next.TokenReviews(), count: &c.count}
}

type countingReviewInterface struct {
	authenticationv1client.TokenReviewInterface
	count *atomic.Int64
}

func (c countingReviewInterface) Create(ctx context.Context, r *authenticationv1.TokenReview, o metav1.CreateOptions) (*authenticationv1.TokenReview, error) {
	c.count.Add(1)
	return c.TokenReviewInterface.Create(ctx, r, o)
}
