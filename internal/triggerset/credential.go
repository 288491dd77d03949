package triggerset

import (
	"fmt"
	"net/url"
)

// Credential is a secret value, such as a webhook URL carrying a token or a
// signing secret. It prints redacted, so passing one to a logger, an error
// or a condition message does not leak it; Reveal returns the value for the
// code that must use it.
type Credential struct {
	value string
}

// NewCredential wraps a secret value.
func NewCredential(value string) Credential { return Credential{value: value} }

// Reveal returns the secret value.
func (c Credential) Reveal() string { return c.value }

// IsZero reports whether the credential is empty.
func (c Credential) IsZero() bool { return c.value == "" }

// String returns a redacted form: for a URL its scheme and host, otherwise
// a placeholder.
func (c Credential) String() string {
	if c.value == "" {
		return ""
	}
	return RedactURL(c.value)
}

// GoString redacts under %#v as well.
func (c Credential) GoString() string { return fmt.Sprintf("triggerset.Credential(%q)", c.String()) }

// MarshalText redacts when the credential is encoded, for example by a
// structured logger.
func (c Credential) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// RedactURL keeps only the scheme and host of a URL, which is enough to
// tell destinations apart in logs, and hides the user info, path and query
// where tokens live. Anything that does not parse as a URL with a host is
// hidden entirely.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Scheme == "" {
		return "<redacted>"
	}
	redacted := u.Scheme + "://" + u.Host
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.User != nil {
		redacted += "/<redacted>"
	}
	return redacted
}
