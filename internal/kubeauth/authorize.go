package kubeauth

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"slices"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	authorizationv1client "k8s.io/client-go/kubernetes/typed/authorization/v1"
	"sigs.k8s.io/controller-runtime/pkg/log"

	triggersv1alpha1 "github.com/leadvibe/milestone-triggers-operator/api/v1alpha1"
)

// Group is the API group every access is authorized in.
var Group = triggersv1alpha1.GroupVersion.Group

// Access is what one call does: a verb on a resource of the
// triggers.leadvibe.io group in an OU (namespace), on one object when Name
// is set.
type Access struct {
	OU, Verb, Resource, Subresource, Name string
}

// What names the resource of an access in messages.
func (a Access) What() string {
	if a.Subresource != "" {
		return a.Resource + "/" + a.Subresource
	}
	return a.Resource
}

// Authorizer asks the API server, with SubjectAccessReviews, whether a user
// may do an access. Answers are cached briefly per user and access. It is
// safe for concurrent use.
type Authorizer struct {
	reviews authorizationv1client.SubjectAccessReviewsGetter
	cache   *Cache[bool]
}

// NewAuthorizer returns an Authorizer asking reviews, caching answers for
// ttl (0: DefaultCacheTTL; negative: no cache), at most size of them (0:
// DefaultCacheSize).
func NewAuthorizer(reviews authorizationv1client.SubjectAccessReviewsGetter, ttl time.Duration, size int) *Authorizer {
	if ttl == 0 {
		ttl = DefaultCacheTTL
	}
	if size == 0 {
		size = DefaultCacheSize
	}
	return &Authorizer{reviews: reviews, cache: NewCache[bool](ttl, size, nil)}
}

// Allowed reports whether user may do acc. The error is an *UpstreamError.
func (z *Authorizer) Allowed(ctx context.Context, user authenticationv1.UserInfo, acc Access) (bool, error) {
	key := AccessKey(user, acc)
	if allowed, ok := z.cache.Get(key); ok {
		return allowed, nil
	}
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
				Namespace:   acc.OU,
				Verb:        acc.Verb,
				Group:       Group,
				Resource:    acc.Resource,
				Subresource: acc.Subresource,
				Name:        acc.Name,
			},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return false, upstream("SubjectAccessReview", err)
	}
	if review.Status.EvaluationError != "" {
		log.FromContext(ctx).V(1).Info("Authorization evaluation error", "error", review.Status.EvaluationError)
	}
	allowed := review.Status.Allowed && !review.Status.Denied
	z.cache.Put(key, allowed)
	return allowed, nil
}

// AccessKey digests a user and an access into a cache key.
func AccessKey(user authenticationv1.UserInfo, acc Access) Key {
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
	}{user.Username, user.UID, groups, user.Extra, acc.OU, acc.Verb, acc.Resource, acc.Subresource, acc.Name})
	if err != nil {
		// Strings and string slices always marshal.
		panic(err)
	}
	return Key(sha256.Sum256(b))
}
