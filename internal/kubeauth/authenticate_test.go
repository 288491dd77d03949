package kubeauth

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestAuthenticateAsksNoReviewWhenItNeedNot: an authenticator without a
// TokenReview client (nil: any review would panic) refuses a limited
// address, an empty token and an oversized one by itself, and counts the
// bad tokens against their address. The reviews themselves are tested
// against a real API server in internal/restapi and internal/streamauth.
func TestAuthenticateAsksNoReviewWhenItNeedNot(t *testing.T) {
	l := NewFailureLimiter(2, time.Minute, 0, nil)
	a := NewAuthenticator(nil, AuthenticatorOptions{Limiter: l})
	ctx := context.Background()
	for _, token := range []string{"", strings.Repeat("t", MaxTokenBytes+1)} {
		if _, err := a.Authenticate(ctx, token, "192.0.2.7:1234"); !errors.Is(err, ErrUnauthenticated) {
			t.Fatalf("token of %d bytes: %v", len(token), err)
		}
	}
	_, err := a.Authenticate(ctx, "any-token", "192.0.2.7:999")
	var limited *LimitedError
	if !errors.As(err, &limited) || limited.RetryAfter <= 0 || limited.RetryAfter > time.Minute {
		t.Fatalf("a limited address: %v", err)
	}
	if !strings.Contains(err.Error(), "too many failed authentications") {
		t.Errorf("message %q", err)
	}
}
