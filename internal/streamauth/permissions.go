package streamauth

import (
	"time"

	"github.com/nats-io/jwt/v2"

	"github.com/leadvibe/milestone-triggers-operator/internal/event"
	"github.com/leadvibe/milestone-triggers-operator/internal/stream"
)

// What a publisher is authorized for in each OU it publishes to: the same
// check as the REST API's POST /events.
const (
	Resource    = "milestonetriggers"
	Subresource = "events"
)

// Bounds of an admitted user.
const (
	// maxSubs bounds a publisher's subscriptions: its reply inboxes.
	maxSubs = 64
	// maxPayload bounds a message: an event, with room for headers.
	maxPayload = event.MaxEventBytes + 8<<10
)

// userClaims is the user a publisher is admitted as: it may publish to
// its OUs' event subjects (with or without the lead) and nothing else, subscribe under its inbox
// prefix and nowhere else, and it expires.
func userClaims(userNkey, username string, ous []string, expires time.Time) *jwt.UserClaims {
	uc := jwt.NewUserClaims(userNkey)
	uc.Name = username
	// Outside operator mode, the audience names the account the user is
	// placed in.
	uc.Audience = stream.CalloutAccount
	uc.Expires = expires.Unix()
	for _, ou := range ous {
		uc.Pub.Allow.Add(stream.EventSubject(ou), stream.LeadSubjects(ou))
	}
	uc.Sub.Allow.Add(InboxPrefix(username) + ".>")
	uc.Subs = maxSubs
	uc.Limits.Payload = maxPayload
	return uc
}
