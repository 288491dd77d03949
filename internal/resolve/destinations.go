package resolve

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	triggersv1alpha1 "github.com/leadvibe/milestone-triggers-operator/api/v1alpha1"
	"github.com/leadvibe/milestone-triggers-operator/internal/triggerset"
)

// ConfigError is a problem with what the user declared, which retrying
// will not fix: Reason is the Ready condition's reason. Its message never
// contains a secret value.
type ConfigError struct {
	Reason  string
	Message string
}

func (e *ConfigError) Error() string { return e.Reason + ": " + e.Message }

// Resolver reads the Secrets a trigger references. Reader should read the
// API server directly (a manager's APIReader), so that no Secret data sits
// in a cache.
//
// A trigger may use a Secret only when the Secret opts in with the label
// triggers.leadvibe.io/referenceable: "true": otherwise anyone allowed to
// edit triggers could make the operator sign with, or send to, a Secret
// they may not read (a confused deputy). AllowUnlabeledSecrets turns the
// check off, for a cluster of one tenant (--require-referenceable-secrets=false).
type Resolver struct {
	Reader                client.Reader
	AllowUnlabeledSecrets bool
}

// Definition is the evaluator's and the notifiers' view of obj, with every
// referenced Secret read. A *ConfigError says what the user must fix; any
// other error is worth retrying.
func (r Resolver) Definition(ctx context.Context, obj *triggersv1alpha1.MilestoneTrigger) (triggerset.Definition, error) {
	destinations, err := r.destinations(ctx, obj)
	if err != nil {
		return triggerset.Definition{}, err
	}
	var threshold int64
	if obj.Spec.ScoreThreshold != nil {
		threshold = *obj.Spec.ScoreThreshold
	}
	var rearmBelow *int64
	if r := obj.Spec.RearmBelow; r != nil {
		rearmBelow = ptr.To(*r)
	}
	var cooldown time.Duration
	if c := obj.Spec.Cooldown; c != nil {
		cooldown = c.Duration
	}
	return triggerset.Definition{
		Key:          client.ObjectKeyFromObject(obj),
		UID:          obj.UID,
		Generation:   obj.Generation,
		DisplayName:  obj.Spec.DisplayName,
		EventType:    obj.Spec.EventType,
		Threshold:    threshold,
		RearmBelow:   rearmBelow,
		Cooldown:     cooldown,
		Active:       obj.IsActive(),
		Epoch:        uint64(obj.Status.ArmedGeneration),
		Destinations: destinations,
	}, nil
}

// destinations turns the spec's destinations into the trigger set's,
// reading every referenced Secret.
func (r Resolver) destinations(ctx context.Context, obj *triggersv1alpha1.MilestoneTrigger) (triggerset.Destinations, error) {
	spec := obj.Spec
	d := triggerset.Destinations{
		EmailSubject:   spec.EmailSubject,
		EmailPreheader: spec.EmailPreheader,
		EmailMessage:   spec.EmailMessage,
	}
	for _, e := range spec.Emails {
		d.Emails = append(d.Emails, string(e))
	}

	var err error
	if d.Webhook, err = r.resolveURL(ctx, obj.Namespace, spec.WebhookURL, spec.WebhookURLSecretRef, "spec.webhookURLSecretRef"); err != nil {
		return d, err
	}
	if spec.WebhookSigningSecretRef != nil {
		raw, err := r.secretValue(ctx, obj.Namespace, *spec.WebhookSigningSecretRef, "spec.webhookSigningSecretRef")
		if err != nil {
			return d, err
		}
		secrets, err := parseSigningSecrets(raw)
		if err != nil {
			return d, invalidValue(*spec.WebhookSigningSecretRef, "spec.webhookSigningSecretRef", err)
		}
		for _, s := range secrets {
			d.WebhookSigningSecrets = append(d.WebhookSigningSecrets, triggerset.NewCredential(s))
		}
	}
	if spec.Slack != nil {
		if d.Slack, err = r.resolveURL(ctx, obj.Namespace, spec.Slack.WebhookURL, spec.Slack.WebhookURLSecretRef, "spec.slack.webhookURLSecretRef"); err != nil {
			return d, err
		}
	}
	if spec.Teams != nil {
		if d.Teams, err = r.resolveURL(ctx, obj.Namespace, spec.Teams.WebhookURL, spec.Teams.WebhookURLSecretRef, "spec.teams.webhookURLSecretRef"); err != nil {
			return d, err
		}
	}
	return d, nil
}

// resolveURL returns the inline URL, or the one held by the Secret
// reference (the schema allows at most one of them).
func (r Resolver) resolveURL(ctx context.Context, namespace string, inline *triggersv1alpha1.HTTPURL, ref *triggersv1alpha1.SecretKeyRef, field string) (triggerset.Credential, error) {
	switch {
	case inline != nil:
		return triggerset.NewCredential(string(*inline)), nil
	case ref == nil:
		return triggerset.Credential{}, nil
	}
	raw, err := r.secretValue(ctx, namespace, *ref, field)
	if err != nil {
		return triggerset.Credential{}, err
	}
	u, err := parseWebhookURL(raw)
	if err != nil {
		return triggerset.Credential{}, invalidValue(*ref, field, err)
	}
	return triggerset.NewCredential(u), nil
}

// secretValue reads one key of a Secret in the trigger's namespace.
func (r Resolver) secretValue(ctx context.Context, namespace string, ref triggersv1alpha1.SecretKeyRef, field string) (string, error) {
	secret := &corev1.Secret{}
	err := r.Reader.Get(ctx, types.NamespacedName{Namespace: namespace, Name: ref.Name}, secret)
	switch {
	case apierrors.IsNotFound(err):
		return "", &ConfigError{
			Reason:  triggersv1alpha1.ReasonSecretNotFound,
			Message: fmt.Sprintf("Secret %q referenced by %s does not exist in namespace %q", ref.Name, field, namespace),
		}
	case err != nil:
		return "", fmt.Errorf("reading Secret %q referenced by %s: %w", ref.Name, field, err)
	}
	if !r.AllowUnlabeledSecrets && secret.Labels[triggersv1alpha1.ReferenceableLabel] != triggersv1alpha1.ReferenceableValue {
		return "", &ConfigError{
			Reason: triggersv1alpha1.ReasonSecretNotReferenceable,
			Message: fmt.Sprintf("Secret %q referenced by %s does not allow triggers to use it: label it %s=%s",
				ref.Name, field, triggersv1alpha1.ReferenceableLabel, triggersv1alpha1.ReferenceableValue),
		}
	}
	value, ok := secret.Data[ref.Key]
	if !ok {
		return "", &ConfigError{
			Reason:  triggersv1alpha1.ReasonSecretKeyNotFound,
			Message: fmt.Sprintf("Secret %q referenced by %s has no key %q", ref.Name, field, ref.Key),
		}
	}
	return string(value), nil
}

func invalidValue(ref triggersv1alpha1.SecretKeyRef, field string, err error) error {
	return &ConfigError{
		Reason:  triggersv1alpha1.ReasonInvalidSecretValue,
		Message: fmt.Sprintf("key %q of Secret %q referenced by %s: %v", ref.Key, ref.Name, field, err),
	}
}
