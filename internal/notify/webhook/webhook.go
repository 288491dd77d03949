// Package webhook delivers firings to a trigger's webhook URL: a POST of
// the documented JSON payload, signed per the Standard Webhooks
// specification when the trigger has signing secrets.
package webhook

import (
	"context"
	"net/http"

	"github.com/leadvibe/milestone-triggers-operator/internal/notify"
	"github.com/leadvibe/milestone-triggers-operator/internal/notify/safehttp"
	"github.com/leadvibe/milestone-triggers-operator/internal/triggerset"
)

// Notifier sends firings on the webhook channel.
type Notifier struct {
	client *http.Client
}

var _ notify.Notifier = (*Notifier)(nil)

// New returns a webhook notifier sending with client, which should come
// from safehttp.NewClient since the URLs are tenant-supplied.
func New(client *http.Client) *Notifier {
	return &Notifier{client: client}
}

// Channel returns notify.ChannelWebhook.
func (n *Notifier) Channel() string { return notify.ChannelWebhook }

// Configured reports whether the trigger has a webhook URL.
func (n *Notifier) Configured(t triggerset.Definition) bool {
	return !t.Destinations.Webhook.IsZero()
}

// Destination returns the webhook URL redacted to its scheme and host.
func (n *Notifier) Destination(t triggerset.Definition) string {
	return triggerset.RedactURL(t.Destinations.Webhook.Reveal())
}

// Send POSTs the firing's payload to the trigger's webhook URL, with the
// headers Headers returns. A payload or signature that cannot be built is
// a permanent failure; the response is classified by safehttp.Classify.
func (n *Notifier) Send(ctx context.Context, d notify.Delivery) (notify.Result, error) {
	if !n.Configured(d.Trigger) {
		return notify.Result{}, notify.Permanentf("trigger %s has no webhook URL", d.Trigger.Key)
	}
	body, err := Payload(d.Firing)
	if err != nil {
		return notify.Result{}, notify.Permanent(err)
	}
	header, err := Headers(d, body)
	if err != nil {
		return notify.Result{}, notify.Permanent(err)
	}
	return safehttp.Post(ctx, n.client, d.Trigger.Destinations.Webhook.Reveal(), header, body)
}
