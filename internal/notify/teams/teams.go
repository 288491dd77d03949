// Package teams delivers firings to a Microsoft Teams Workflows webhook as
// an Adaptive Card (the retired Office 365 connector MessageCard is not
// used).
package teams

import (
	"net/http"

	"github.com/leadvibe/milestone-triggers-operator/internal/notify"
	"github.com/leadvibe/milestone-triggers-operator/internal/notify/chat"
	"github.com/leadvibe/milestone-triggers-operator/internal/triggerset"
)

// New returns the Teams notifier: it posts Message to the trigger's Teams
// Workflows webhook (which answers 202 Accepted) with client, which should
// come from safehttp.NewClient.
func New(client *http.Client) *chat.Notifier {
	return chat.NewNotifier(client, notify.ChannelTeams, "Teams",
		func(d triggerset.Destinations) triggerset.Credential { return d.Teams }, Message)
}
