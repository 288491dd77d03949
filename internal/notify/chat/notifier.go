// Package chat is what the chat channels (Slack, Microsoft Teams) share:
// a notifier that posts a rendered message to the trigger's chat webhook,
// and the bounded rendering of an event's metadata. Each channel's package
// only renders its message.
package chat

import (
	"context"
	"net/http"

	"github.com/leadvibe/milestone-triggers-operator/internal/ledger"
	"github.com/leadvibe/milestone-triggers-operator/internal/notify"
	"github.com/leadvibe/milestone-triggers-operator/internal/notify/safehttp"
	"github.com/leadvibe/milestone-triggers-operator/internal/triggerset"
)

// UserAgent identifies the sender.
const UserAgent = "milestone-triggers/1"

// Render turns a firing of a trigger into a channel's JSON message; test
// marks a test notification.
type Render func(f ledger.Firing, def triggerset.Definition, test bool) ([]byte, error)

// Notifier posts rendered messages to one chat channel's webhook.
type Notifier struct {
	client  *http.Client
	channel string // notify.ChannelSlack, notify.ChannelTeams
	label   string // "Slack", "Teams", for errors
	url     func(triggerset.Destinations) triggerset.Credential
	render  Render
}

var _ notify.Notifier = (*Notifier)(nil)

// NewNotifier returns a notifier for channel that posts render's message
// to the URL url picks from a trigger's destinations, with client, which
// should come from safehttp.NewClient since the URLs are tenant-supplied.
func NewNotifier(client *http.Client, channel, label string, url func(triggerset.Destinations) triggerset.Credential, render Render) *Notifier {
	return &Notifier{client: client, channel: channel, label: label, url: url, render: render}
}

// Channel implements notify.Notifier.
func (n *Notifier) Channel() string { return n.channel }

// Configured reports whether the trigger has a webhook URL on this channel.
func (n *Notifier) Configured(t triggerset.Definition) bool { return !n.url(t.Destinations).IsZero() }

// Destination returns the webhook URL redacted to its scheme and host.
func (n *Notifier) Destination(t triggerset.Definition) string {
	return triggerset.RedactURL(n.url(t.Destinations).Reveal())
}

// Send posts the firing's message to the trigger's webhook; the answer is
// classified by safehttp.Classify (any 2xx, such as Teams' 202, succeeds).
func (n *Notifier) Send(ctx context.Context, d notify.Delivery) (notify.Result, error) {
	if !n.Configured(d.Trigger) {
		return notify.Result{}, notify.Permanentf("trigger %s has no %s webhook URL", d.Trigger.Key, n.label)
	}
	body, err := n.render(d.Firing, d.Trigger, d.Test)
	if err != nil {
		return notify.Result{}, notify.Permanent(err)
	}
	header := http.Header{}
	header.Set("Content-Type", "application/json")
	header.Set("User-Agent", UserAgent)
	return safehttp.Post(ctx, n.client, n.url(d.Trigger.Destinations).Reveal(), header, body)
}
