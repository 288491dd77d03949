package restapi

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	authenticationv1client "k8s.io/client-go/kubernetes/typed/authentication/v1"
	authorizationv1client "k8s.io/client-go/kubernetes/typed/authorization/v1"
	"sigs.k8s.io/controller-runtime/pkg/log"

	triggersv1alpha1 "github.com/leadvibe/milestone-triggers-operator/api/v1alpha1"
)

// The resource every call is authorized on, with the verb of the call.
var resourceGroup = triggersv1alpha1.GroupVersion.Group

const resourceName = "milestonetriggers"

// maxTokenBytes bounds the bearer tokens sent for review. Service account
// tokens are about a kilobyte.
const maxTokenBytes = 16 << 10

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

// authenticator validates bearer tokens with TokenReviews. Results, good and
// bad, are cached briefly under the token's SHA-256; the token itself is
// neither kept nor logged.
type authenticator struct {
	reviews   authenticationv1client.TokenReviewsGetter
	audiences []string
	cache     *ttlCache[authResult]
}

type authResult struct {
	user          authenticationv1.UserInfo
	authenticated bool
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
// carries, or a 401.
func (a *authenticator) authenticate(ctx context.Context, header string) (authenticationv1.UserInfo, error) {
	token, e := bearerToken(header)
	if e != nil {
		return authenticationv1.UserInfo{}, e
	}
	key := cacheKey(sha256.Sum256([]byte(token)))
	res, ok := a.cache.get(key)
	if !ok {
		review, err := a.reviews.TokenReviews().Create(ctx, &authenticationv1.TokenReview{
			Spec: authenticationv1.TokenReviewSpec{Token: token, Audiences: a.audiences},
		}, metav1.CreateOptions{})
		if err != nil {
			return authenticationv1.UserInfo{}, upstreamError("TokenReview", err)
		}
		res = authResult{
			user:          review.Status.User,
			authenticated: review.Status.Authenticated && audiencesMatch(a.audiences, review.Status.Audiences),
		}
		if review.Status.Error != "" {
			log.FromContext(ctx).V(1).Info("Token not authenticated", "reason", review.Status.Error)
		}
		a.cache.put(key, res)
	}
	if !res.authenticated {
		return authenticationv1.UserInfo{}, newError(http.StatusUnauthorized, "invalid or expired bearer token")
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

// access is what one call does: a verb on a resource (milestonetriggers)
// of the triggers.leadvibe.io group in an OU, on one object when name is
// set.
type access struct {
	ou, verb, resource, subresource, name string
}

// what names the resource of an access in messages.
func (a access) what() string {
	if a.subresource != "" {
		return a.resource + "/" + a.subresource
	}
	return a.resource
}

// authorizer asks the API server, with SubjectAccessReviews, whether a user
// may do a call. Answers are cached briefly per user and access.
type authorizer struct {
	reviews authorizationv1client.SubjectAccessReviewsGetter
	cache   *ttlCache[bool]
}

// authorize returns nil when user may do acc, or a 403 naming the verb, the
// resource and the OU.
func (z *authorizer) authorize(ctx context.Context, user authenticationv1.UserInfo, acc access) error {
	key := accessKey(user, acc)
	allowed, ok := z.cache.get(key)
	if !ok {
		extra := make(map[string]authorizationv1.ExtraValue, len(user.Extra))
		for k, v := range user.Extra {
			extra[k] = authorizationv1.ExtraValue(v)
		}
		review, err := z.reviews.SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{
			Spec: authorizationv1.SubjectAccessReviewSpec{
				User:   user.Username,
				UID:    user.UID,
				Groups: user.Groups,
				Extra:  extra,
				ResourceAttributes: &authorizationv1.ResourceAttributes{
					Namespace:   acc.ou,
					Verb:        acc.verb,
					Group:       resourceGroup,
					Resource:    acc.resource,
					Subresource: acc.subresource,
					Name:        acc.name,
				},
			},
		}, metav1.CreateOptions{})
		if err != nil {
			return upstreamError("SubjectAccessReview", err)
		}
		if review.Status.EvaluationError != "" {
			log.FromContext(ctx).V(1).Info("Authorization evaluation error", "error", review.Status.EvaluationError)
		}
		allowed = review.Status.Allowed && !review.Status.Denied
		z.cache.put(key, allowed)
	}
	if !allowed {
		return newError(http.StatusForbidden, fmt.Sprintf("%q is not allowed to %s %s in OU %q", user.Username, acc.verb, acc.what(), acc.ou))
	}
	return nil
}

// accessKey digests a user and an access into a cache key.
func accessKey(user authenticationv1.UserInfo, acc access) cacheKey {
	groups := slices.Clone(user.Groups)
	slices.Sort(groups)
	b, err := json.Marshal(struct {
		User   string
		UID    string
		Groups []string
		Extra  map[string]authenticationv1.ExtraValue
		OU     string
		Verb   string
		Res    string
		Sub    string
		Name   string
	}{user.Username, user.UID, groups, user.Extra, acc.ou, acc.verb, acc.resource, acc.subresource, acc.name})
	if err != nil {
		// Strings and string slices always marshal.
		panic(err)
	}
	return cacheKey(sha256.Sum256(b))
}

// upstreamError is a failed call to the API server while authenticating or
// authorizing: 503 when it may pass, otherwise a server fault (for example
// the operator lacking the RBAC to create reviews).
func upstreamError(what string, err error) *Error {
	if apierrors.IsTooManyRequests(err) || apierrors.IsServerTimeout(err) || apierrors.IsTimeout(err) ||
		apierrors.IsServiceUnavailable(err) || errors.Is(err, context.DeadlineExceeded) {
		e := newError(http.StatusServiceUnavailable, "the Kubernetes API did not answer in time; retry later")
		e.retryAfter = 1
		e.cause = fmt.Errorf("creating a %s: %w", what, err)
		return e
	}
	return internalError(fmt.Errorf("creating a %s: %w", what, err))
}
