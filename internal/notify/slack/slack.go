// Package slack delivers firings to a Slack incoming webhook as a Block
// Kit message.
package slack

import (
	"context"
	"net/http"

	"github.com/leadvibe/milestone-triggers-operator/internal/notify"
	"github.com/leadvibe/milestone-triggers-operator/internal/notify/safehttp"
	"github.com/leadvibe/milestone-triggers-operator/internal/triggerset"
)

// UserAgent identifies the sender.
const UserAgent = "milestone-triggers/1"

// Notifier sends firings on the Slack channel.
type Notifier struct {
	client *http.Client
}

var _ notify.Notifier = (*Notifier)(nil)

// New returns a Slack notifier sending with client, which should come from
// safehttp.NewClient since the URLs are tenant-supplied.
func New(client *http.Client) *Notifier {
	return &Notifier{client: client}
}

// Channel returns notify.ChannelSlack.
func (n *Notifier) Channel() string { return notify.ChannelSlack }

// Configured reports whether the trigger has a Slack webhook URL.
func (n *Notifier) Configured(t triggerset.Definition) bool {
	return !t.Destinations.Slack.IsZero()
}

// Destination returns the Slack webhook URL redacted to its scheme and
// host.
func (n *Notifier) Destination(t triggerset.Definition) string {
	return triggerset.RedactURL(t.Destinations.Slack.Reveal())
}

// Send posts the firing's Message to the trigger's Slack webhook. The
// response is classified by safehttp.Classify.
func (n *Notifier) Send(ctx context.Context, d notify.Delivery) error {
	if !n.Configured(d.Trigger) {
		return notify.Permanentf("trigger %s has no Slack webhook URL", d.Trigger.Key)
	}
	body, err := Message(d.Firing, d.Trigger, d.Test)
	if err != nil {
		return notify.Permanent(err)
	}
	header := http.Header{}
	header.Set("Content-Type", "application/json")
	header.Set("User-Agent", UserAgent)
	return safehttp.Post(ctx, n.client, d.Trigger.Destinations.Slack.Reveal(), header, body)
}
