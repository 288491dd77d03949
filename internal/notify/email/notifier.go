package email

import (
	"net/mail"
	"strings"

	"github.com/leadvibe/milestone-triggers-operator/internal/notify"
	"github.com/leadvibe/milestone-triggers-operator/internal/triggerset"
)

// Notifier sends firings by email through one SMTP relay. It is safe for
// concurrent use: every Send opens its own connection.
type Notifier struct {
	cfg  Config
	from *mail.Address
	host string
	helo string
}

var _ notify.Notifier = (*Notifier)(nil)

// New returns a Notifier for cfg, after checking that From is an address
// and Addr a host:port.
func New(cfg Config) (*Notifier, error) {
	from, host, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	helo := cfg.HeloName
	if helo == "" {
		helo = defaultHeloName()
	}
	return &Notifier{cfg: cfg, from: from, host: host, helo: helo}, nil
}

// Channel returns notify.ChannelEmail.
func (n *Notifier) Channel() string { return notify.ChannelEmail }

// Configured reports whether the trigger has email addresses.
func (n *Notifier) Configured(t triggerset.Definition) bool {
	return len(t.Destinations.Emails) > 0
}

// Destination returns the trigger's email addresses joined with ", ".
func (n *Notifier) Destination(t triggerset.Definition) string {
	return strings.Join(t.Destinations.Emails, ", ")
}
