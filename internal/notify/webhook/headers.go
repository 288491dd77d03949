package webhook

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/leadvibe/milestone-triggers-operator/internal/notify"
)

// Header names and values of a webhook request. The webhook-* names are
// the Standard Webhooks ones.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
	// HeaderTest marks a test notification sent on request.
	HeaderTest = "x-leadvibe-test"
	// UserAgent identifies the sender.
	UserAgent = "milestone-triggers/1"
)

// Headers returns the headers of the request delivering body for d:
// Content-Type, User-Agent, webhook-id (the firing's id, the same on every
// attempt), webhook-timestamp (the attempt's time, d.Now, or the current
// time when it is zero), webhook-signature when the trigger has signing
// secrets, and x-leadvibe-test: true for a test delivery.
func Headers(d notify.Delivery, body []byte) (http.Header, error) {
	now := d.Now
	if now.IsZero() {
		now = time.Now()
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", UserAgent)
	h.Set(HeaderID, d.Firing.ID)
	h.Set(HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	if secrets := d.Trigger.Destinations.WebhookSigningSecrets; len(secrets) > 0 {
		revealed := make([]string, len(secrets))
		for i, s := range secrets {
			revealed[i] = s.Reveal()
		}
		sig, err := Sign(revealed, d.Firing.ID, now, body)
		if err != nil {
			return nil, fmt.Errorf("signing the webhook of trigger %s: %w", d.Trigger.Key, err)
		}
		h.Set(HeaderSignature, sig)
	}
	if d.Test {
		h.Set(HeaderTest, "true")
	}
	return h, nil
}
