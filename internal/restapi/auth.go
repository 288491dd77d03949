package restapi

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"

	triggersv1alpha1 "github.com/leadvibe/milestone-triggers-operator/api/v1alpha1"
	"github.com/leadvibe/milestone-triggers-operator/internal/kubeauth"
)

// The resource every call is authorized on, with the verb of the call.
var resourceGroup = triggersv1alpha1.GroupVersion.Group

const resourceName = "milestonetriggers"

// maxTokenBytes bounds the bearer tokens sent for review.
const maxTokenBytes = kubeauth.MaxTokenBytes

// Caller is who made a request, as the Kubernetes API server authenticated
// them, and the OU (namespace) the request is about.
type Caller struct {
	// User is the caller's identity from the TokenReview.
	User authenticationv1.UserInfo
	// OU is the request's active Organizational Unit.
	OU string
}

type callerKey struct{}

// CallerFrom returns the authenticated and authorized caller of a request
// served by the shim.
func CallerFrom(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(Caller)
	return c, ok
}

func withCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

type clientAddrKey struct{}

// withClientAddr records the client address of a request (its RemoteAddr)
// for the failed-authentication limiter.
func withClientAddr(ctx context.Context, addr string) context.Context {
	return context.WithValue(ctx, clientAddrKey{}, addr)
}

func clientAddrFrom(ctx context.Context) string {
	addr, _ := ctx.Value(clientAddrKey{}).(string)
	return addr
}

// authenticator validates bearer tokens with the shared kubeauth
// Authenticator (TokenReviews, cached, with the failed-authentication
// limiter) and turns its answers into the shim's errors.
type authenticator struct {
	kube *kubeauth.Authenticator
}

// bearerToken extracts the token of an "Authorization: Bearer <token>"
// header.
func bearerToken(header string) (string, *Error) {
	if header == "" {
		return "", newError(http.StatusUnauthorized, "missing bearer token: send Authorization: Bearer <token>")
	}
	scheme, token, ok := strings.Cut(header, " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" || strings.ContainsAny(token, " \t") {
		return "", newError(http.StatusUnauthorized, "malformed Authorization header: want Bearer <token>")
	}
	if len(token) > maxTokenBytes {
		return "", newError(http.StatusUnauthorized, "invalid bearer token")
	}
	return token, nil
}

// authenticate returns the user whose token the Authorization header
// carries, a 401, or a 429 when the client's address failed too often
// lately.
func (a *authenticator) authenticate(ctx context.Context, header string) (authenticationv1.UserInfo, error) {
	token, e := bearerToken(header)
	if e != nil {
		return authenticationv1.UserInfo{}, e
	}
	user, err := a.kube.Authenticate(ctx, token, clientAddrFrom(ctx))
	if err != nil {
		return authenticationv1.UserInfo{}, kubeError(err)
	}
	return user, nil
}

// access is what one call does: a verb on a resource (milestonetriggers)
// of the triggers.leadvibe.io group in an OU, on one object when name is
// set.
type access struct {
	ou, verb, resource, subresource, name string
}

// kube is the access as kubeauth authorizes it.
func (a access) kube() kubeauth.Access {
	return kubeauth.Access{OU: a.ou, Verb: a.verb, Resource: a.resource, Subresource: a.subresource, Name: a.name}
}

// authorizer asks the shared kubeauth Authorizer (SubjectAccessReviews,
// cached) whether a user may do a call.
type authorizer struct {
	kube *kubeauth.Authorizer
}

// authorize returns nil when user may do acc, or a 403 naming the verb, the
// resource and the OU.
func (z *authorizer) authorize(ctx context.Context, user authenticationv1.UserInfo, acc access) error {
	allowed, err := z.kube.Allowed(ctx, user, acc.kube())
	if err != nil {
		return kubeError(err)
	}
	if !allowed {
		return newError(http.StatusForbidden, fmt.Sprintf("%q is not allowed to %s %s in OU %q", user.Username, acc.verb, acc.kube().What(), acc.ou))
	}
	return nil
}

// kubeError turns an answer of kubeauth into the shim's error: 401 for a
// refused token, 429 with Retry-After for a limited address, 503 for an
// API server that may answer later, 500 otherwise (for example the
// operator lacking the RBAC to create reviews).
func kubeError(err error) *Error {
	var limited *kubeauth.LimitedError
	var up *kubeauth.UpstreamError
	switch {
	case errors.Is(err, kubeauth.ErrUnauthenticated):
		return newError(http.StatusUnauthorized, "invalid or expired bearer token")
	case errors.As(err, &limited):
		e := newError(http.StatusTooManyRequests, "too many failed authentications from this address; retry later")
		e.retryAfter = max(1, int(math.Ceil(limited.RetryAfter.Seconds())))
		return e
	case errors.As(err, &up) && up.Temporary:
		e := newError(http.StatusServiceUnavailable, "the Kubernetes API did not answer in time; retry later")
		e.retryAfter = 1
		e.cause = err
		return e
	default:
		return internalError(err)
	}
}
