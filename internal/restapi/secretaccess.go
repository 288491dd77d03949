package restapi

import (
	"context"
	"fmt"
	"net/http"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	authorizationv1client "k8s.io/client-go/kubernetes/typed/authorization/v1"
	"sigs.k8s.io/controller-runtime/pkg/log"

	triggersv1alpha1 "github.com/leadvibe/milestone-triggers-operator/api/v1alpha1"
	"github.com/leadvibe/milestone-triggers-operator/internal/notify"
	"github.com/leadvibe/milestone-triggers-operator/internal/notify/webhook"
	"github.com/leadvibe/milestone-triggers-operator/internal/simulate"
)

// SecretAccess reports whether user may get the Secret name in the
// namespace ou. Simulate asks it for every Secret a trigger references:
// what the operator makes with a Secret (a webhook signature, a request to
// the URL it holds) is shown, or sent, only for a caller who could read
// the Secret itself. A nil SecretAccess allows no one.
type SecretAccess func(ctx context.Context, user authenticationv1.UserInfo, ou, name string) (bool, error)

// SecretAccessReviews is the SecretAccess that asks the API server: a
// SubjectAccessReview of the verb get on the Secret (core group, resource
// secrets, by name) for the user. Answers are not cached: a simulation
// asks at most four.
func SecretAccessReviews(reviews authorizationv1client.SubjectAccessReviewsGetter) SecretAccess {
	return func(ctx context.Context, user authenticationv1.UserInfo, ou, name string) (bool, error) {
		extra := make(map[string]authorizationv1.ExtraValue, len(user.Extra))
		for k, v := range user.Extra {
			extra[k] = authorizationv1.ExtraValue(v)
		}
		review, err := reviews.SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{
			Spec: authorizationv1.SubjectAccessReviewSpec{
				User: user.Username, UID: user.UID, Groups: user.Groups, Extra: extra,
				ResourceAttributes: &authorizationv1.ResourceAttributes{
					Namespace: ou, Verb: "get", Group: "", Resource: "secrets", Name: name,
				},
			},
		}, metav1.CreateOptions{})
		if err != nil {
			return false, fmt.Errorf("creating a SubjectAccessReview for Secret %q: %w", name, err)
		}
		if review.Status.EvaluationError != "" {
			log.FromContext(ctx).V(1).Info("Authorization evaluation error", "error", review.Status.EvaluationError)
		}
		return review.Status.Allowed && !review.Status.Denied, nil
	}
}

// secretUse is one Secret a trigger references, and what for.
type secretUse struct {
	field, name string
	// channel is the notification channel the Secret serves.
	channel string
	// signs says the Secret holds the webhook signing secret; otherwise it
	// holds the channel's URL.
	signs bool
}

// secretUses lists the Secrets spec references, field by field.
func secretUses(spec *triggersv1alpha1.MilestoneTriggerSpec) []secretUse {
	var uses []secretUse
	add := func(ref *triggersv1alpha1.SecretKeyRef, field, channel string, signs bool) {
		if ref != nil {
			uses = append(uses, secretUse{field: field, name: ref.Name, channel: channel, signs: signs})
		}
	}
	add(spec.WebhookURLSecretRef, "webhook_url_secret_ref", notify.ChannelWebhook, false)
	add(spec.WebhookSigningSecretRef, "webhook_signing_secret_ref", notify.ChannelWebhook, true)
	if spec.Slack != nil {
		add(spec.Slack.WebhookURLSecretRef, "slack.webhook_url_secret_ref", notify.ChannelSlack, false)
	}
	if spec.Teams != nil {
		add(spec.Teams.WebhookURLSecretRef, "teams.webhook_url_secret_ref", notify.ChannelTeams, false)
	}
	return uses
}

// hiddenSecrets returns the Secrets of spec that the caller may not get.
func hiddenSecrets(ctx context.Context, access SecretAccess, c Caller, spec *triggersv1alpha1.MilestoneTriggerSpec) ([]secretUse, error) {
	var hidden []secretUse
	allowed := map[string]bool{}
	for _, u := range secretUses(spec) {
		ok, seen := allowed[u.name]
		if !seen && access != nil {
			var err error
			if ok, err = access(ctx, c.User, c.OU, u.name); err != nil {
				return nil, err
			}
			allowed[u.name] = ok
		}
		if !ok {
			hidden = append(hidden, u)
		}
	}
	return hidden, nil
}

// refuseTestSends is the 403 of a simulation that asks for test
// notifications while the caller may not get a Secret the trigger uses.
func refuseTestSends(c Caller, hidden []secretUse) *Error {
	u := hidden[0]
	return newError(http.StatusForbidden, fmt.Sprintf(
		"send_test_notifications needs permission to get Secret %q (referenced by %s): %q may not get it in OU %q",
		u.name, u.field, c.User.Username, c.OU))
}

// redactHidden removes from a simulation's notifications what was made
// with a Secret the caller may not get, and says so in each: the webhook
// signature (which would let the caller have the operator sign bodies of
// their choosing) and the destination of a URL held in a Secret.
func redactHidden(res *simulate.Result, hidden []secretUse) {
	signature := http.CanonicalHeaderKey(webhook.HeaderSignature)
	for i := range res.Notifications {
		n := &res.Notifications[i]
		for _, u := range hidden {
			if u.channel != n.Channel {
				continue
			}
			var note string
			if u.signs {
				if n.Webhook != nil {
					if _, ok := n.Webhook.Headers[signature]; ok {
						n.Webhook.Headers[signature] = "<redacted>"
					}
				}
				note = fmt.Sprintf("the %s header is redacted: it is made with Secret %q (%s), which you may not get", webhook.HeaderSignature, u.name, u.field)
			} else {
				n.Destination = "<redacted>"
				note = fmt.Sprintf("the destination is redacted: it comes from Secret %q (%s), which you may not get", u.name, u.field)
			}
			if n.Note != "" {
				n.Note += "; "
			}
			n.Note += note
		}
	}
}
