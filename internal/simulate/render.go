package simulate

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/leadvibe/milestone-triggers-operator/internal/ledger"
	"github.com/leadvibe/milestone-triggers-operator/internal/notify"
	"github.com/leadvibe/milestone-triggers-operator/internal/notify/email"
	"github.com/leadvibe/milestone-triggers-operator/internal/notify/slack"
	"github.com/leadvibe/milestone-triggers-operator/internal/notify/teams"
	"github.com/leadvibe/milestone-triggers-operator/internal/notify/webhook"
	"github.com/leadvibe/milestone-triggers-operator/internal/triggerset"
)

// Notification is one channel's notification, rendered exactly as it is
// sent. Destinations are redacted: they often hold credentials.
type Notification struct {
	Channel     string `json:"channel"`
	Destination string `json:"destination"`
	// Webhook is the request a webhook receives.
	Webhook *WebhookRequest `json:"webhook,omitempty"`
	// Email is the email message.
	Email *Email `json:"email,omitempty"`
	// Message is the JSON a Slack or Teams webhook receives.
	Message json.RawMessage `json:"message,omitempty"`
	// Note says why nothing is rendered or sent on this channel.
	Note string `json:"note,omitempty"`
}

// WebhookRequest is a webhook delivery: the headers are those of the
// first attempt (webhook-timestamp and the signature change with each
// attempt's time).
type WebhookRequest struct {
	Method  string            `json:"method"`
	Headers map[string]string `json:"headers"`
	Body    json.RawMessage   `json:"body"`
}

// Email is an email notification.
type Email struct {
	From      string   `json:"from"`
	To        []string `json:"to"`
	Subject   string   `json:"subject"`
	Preheader string   `json:"preheader"`
	Text      string   `json:"text"`
	HTML      string   `json:"html"`
}

// render renders every notification def sends for f, in channel order:
// webhook, email, Slack, Teams.
func render(f ledger.Firing, def triggerset.Definition, emailFrom string, now time.Time) ([]Notification, error) {
	d := def.Destinations
	out := []Notification{}
	if !d.Webhook.IsZero() {
		n, err := renderWebhook(f, def, now)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	if len(d.Emails) > 0 {
		n, err := renderEmail(f, def, emailFrom, now)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	for _, chat := range []struct {
		channel string
		url     triggerset.Credential
		render  func(ledger.Firing, triggerset.Definition, bool) ([]byte, error)
	}{
		{notify.ChannelSlack, d.Slack, slack.Message},
		{notify.ChannelTeams, d.Teams, teams.Message},
	} {
		if chat.url.IsZero() {
			continue
		}
		msg, err := chat.render(f, def, false)
		if err != nil {
			return nil, err
		}
		out = append(out, Notification{Channel: chat.channel, Destination: chat.url.String(), Message: msg})
	}
	return out, nil
}

func renderWebhook(f ledger.Firing, def triggerset.Definition, now time.Time) (Notification, error) {
	body, err := webhook.Payload(f)
	if err != nil {
		return Notification{}, err
	}
	h, err := webhook.Headers(notify.Delivery{Firing: f, Trigger: def, Attempt: 1, Now: now}, body)
	if err != nil {
		return Notification{}, err
	}
	return Notification{
		Channel:     notify.ChannelWebhook,
		Destination: def.Destinations.Webhook.String(),
		Webhook:     &WebhookRequest{Method: http.MethodPost, Headers: flatten(h), Body: body},
	}, nil
}

func renderEmail(f ledger.Firing, def triggerset.Definition, from string, now time.Time) (Notification, error) {
	n := Notification{Channel: notify.ChannelEmail, Destination: strings.Join(def.Destinations.Emails, ", ")}
	if from == "" {
		// The trigger's Delivering condition says the same, with the reason
		// EmailDisabled.
		n.Note = "email is off in this operator (it runs without --smtp-addr): no email is sent (Delivering: EmailDisabled)"
		return n, nil
	}
	m, err := email.Render(f, def, from, false, now)
	if err != nil {
		return Notification{}, err
	}
	n.Email = &Email{From: m.From, To: m.To, Subject: m.Subject, Preheader: m.Preheader, Text: m.Text, HTML: m.HTML}
	return n, nil
}

// flatten turns headers into one value per name, as sent.
func flatten(h http.Header) map[string]string {
	out := make(map[string]string, len(h))
	for k, v := range h {
		out[k] = strings.Join(v, ", ")
	}
	return out
}

func sortByChannel[T any](s []T, channel func(T) string) {
	order := []string{notify.ChannelWebhook, notify.ChannelEmail, notify.ChannelSlack, notify.ChannelTeams}
	slices.SortStableFunc(s, func(a, b T) int {
		return slices.Index(order, channel(a)) - slices.Index(order, channel(b))
	})
}
