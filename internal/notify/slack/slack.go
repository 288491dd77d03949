// Package slack delivers firings to a Slack incoming webhook as a Block
// Kit message.
package slack

import (
	"net/http"

	"github.com/leadvibe/milestone-triggers-operator/internal/notify"
	"github.com/leadvibe/milestone-triggers-operator/internal/notify/chat"
	"github.com/leadvibe/milestone-triggers-operator/internal/triggerset"
)

// New returns the Slack notifier: it posts Message to the trigger's Slack
// webhook with client, which should come from safehttp.NewClient.
func New(client *http.Client) *chat.Notifier {
	return chat.NewNotifier(client, notify.ChannelSlack, "Slack",
		func(d triggerset.Destinations) triggerset.Credential { return d.Slack }, Message)
}
