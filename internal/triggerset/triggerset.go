// Package triggerset holds the effective definitions of the milestone
// triggers: what the controller accepted from the custom resources, with
// Secrets resolved, in the form the evaluator reads. The controller writes
// it; the evaluator only reads it.
package triggerset

import (
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// Definition is one trigger as the evaluator sees it.
type Definition struct {
	// Key is the trigger's namespace (its OU) and resource name (its id).
	Key types.NamespacedName
	// UID tells a re-created trigger of the same name from its predecessor.
	UID types.UID
	// Generation is the metadata.generation this definition was built from.
	Generation int64

	// DisplayName is the spec's name.
	DisplayName string
	// EventType, when not empty, is the only event type that fires the trigger.
	EventType string
	// Threshold is the score a lead must reach from below.
	Threshold int64
	// RearmBelow, when set, is the score a lead must drop below after
	// reaching Threshold before the trigger can fire for it again (the
	// spec's rearmBelow); nil means Threshold.
	RearmBelow *int64
	// Cooldown, when positive, is how long after the trigger fires for a
	// lead a new crossing by that lead does not fire (the spec's cooldown).
	Cooldown time.Duration
	// Active is false for a deactivated trigger, which must not fire and
	// keeps no pending crossings.
	Active bool
	// Epoch changes whenever the trigger loses its pending crossings:
	// deactivated, or out of the set while its Secret was missing, then
	// back. The evaluator drops a pending crossing recorded in an older
	// epoch. It is the status's armedGeneration, so it survives restarts.
	Epoch uint64

	// Destinations are where a firing is delivered, credentials resolved.
	Destinations Destinations
}

// Destinations are the resolved notification targets of a trigger.
type Destinations struct {
	// Webhook is the webhook URL; empty when the trigger has none.
	Webhook Credential
	// WebhookSigningSecrets are the Standard Webhooks secrets ("whsec_...");
	// more than one during a rotation.
	WebhookSigningSecrets []Credential

	Emails         []string
	EmailSubject   string
	EmailPreheader string
	EmailMessage   string

	// Slack and Teams are chat webhook URLs; empty when not configured.
	Slack Credential
	Teams Credential
}

// Set is the in-process collection of trigger definitions. Implementations
// are safe for concurrent use and return copies, so a caller never shares
// memory with the set.
type Set interface {
	// Upsert adds or replaces the definition stored under d.Key.
	Upsert(d Definition)
	// Delete removes the definition stored under key, if any.
	Delete(key types.NamespacedName)
	// Get returns the definition stored under key.
	Get(key types.NamespacedName) (Definition, bool)
	// List returns the definitions of one namespace (OU), sorted by name.
	List(namespace string) []Definition
	// Revision changes whenever a definition of the namespace is added,
	// replaced or removed, so a reader can keep a derived index and rebuild
	// it only when it is stale.
	Revision(namespace string) uint64
}
