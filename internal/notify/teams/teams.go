// Package teams delivers firings to a Microsoft Teams Workflows webhook as
// an Adaptive Card (the retired Office 365 connector MessageCard is not
// used).
package teams

import (
	"context"
	"net/http"

	"github.com/leadvibe/milestone-triggers-operator/internal/notify"
	"github.com/leadvibe/milestone-triggers-operator/internal/notify/safehttp"
	"github.com/leadvibe/milestone-triggers-operator/internal/triggerset"
)

// UserAgent identifies the sender.
const UserAgent = "milestone-triggers/1"

// Notifier sends firings on the Teams channel.
type Notifier struct {
	client *http.Client
}

var _ notify.Notifier = (*Notifier)(nil)

// New returns a Teams notifier sending with client, which should come from
// safehttp.NewClient since the URLs are tenant-supplied.
func New(client *http.Client) *Notifier {
	return &Notifier{client: client}
}

// Channel returns notify.ChannelTeams.
func (n *Notifier) Channel() string { return notify.ChannelTeams }

// Configured reports whether the trigger has a Teams webhook URL.
func (n *Notifier) Configured(t triggerset.Definition) bool {
	return !t.Destinations.Teams.IsZero()
}

// Destination returns the Teams webhook URL redacted to its scheme and
// host.
func (n *Notifier) Destination(t triggerset.Definition) string {
	return triggerset.RedactURL(t.Destinations.Teams.Reveal())
}

// Send posts the firing's Message to the trigger's Teams Workflows
// webhook, which answers 202 Accepted on success. The response is
// classified by safehttp.Classify.
func (n *Notifier) Send(ctx context.Context, d notify.Delivery) error {
	if !n.Configured(d.Trigger) {
		return notify.Permanentf("trigger %s has no Teams webhook URL", d.Trigger.Key)
	}
	body, err := Message(d.Firing, d.Trigger, d.Test)
	if err != nil {
		return notify.Permanent(err)
	}
	header := http.Header{}
	header.Set("Content-Type", "application/json")
	header.Set("User-Agent", UserAgent)
	return safehttp.Post(ctx, n.client, d.Trigger.Destinations.Teams.Reveal(), header, body)
}
