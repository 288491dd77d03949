package email

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"os"
	"strconv"
	"strings"
)

// Environment variables ConfigFromEnv reads the relay's credentials from.
const (
	EnvUsername = "SMTP_USERNAME"
	EnvPassword = "SMTP_PASSWORD"
)

// StartTLSPolicy says when the client upgrades the connection to the relay
// with STARTTLS.
type StartTLSPolicy int

const (
	// StartTLSAuto uses STARTTLS when the relay offers it. Credentials are
	// never sent over a connection that is not encrypted, except to a
	// loopback relay.
	StartTLSAuto StartTLSPolicy = iota
	// StartTLSAlways requires STARTTLS: an attempt fails (retryably) when
	// the relay does not offer it.
	StartTLSAlways
	// StartTLSNever never upgrades the connection.
	StartTLSNever
)

// String returns "auto", "always" or "never".
func (p StartTLSPolicy) String() string {
	switch p {
	case StartTLSAuto:
		return "auto"
	case StartTLSAlways:
		return "always"
	case StartTLSNever:
		return "never"
	}
	return "StartTLSPolicy(" + strconv.Itoa(int(p)) + ")"
}

// ParseStartTLSPolicy parses "auto", "always" or "never" (for a flag).
func ParseStartTLSPolicy(s string) (StartTLSPolicy, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "auto", "":
		return StartTLSAuto, nil
	case "always":
		return StartTLSAlways, nil
	case "never":
		return StartTLSNever, nil
	}
	return 0, fmt.Errorf("invalid STARTTLS policy %q: want auto, always or never", s)
}

// Config configures the email notifier.
type Config struct {
	// Addr is the relay's host:port.
	Addr string
	// From is the sender, an RFC 5322 address such as
	// "LeadVibe <alerts@example.com>".
	From string
	// Username and Password authenticate to the relay with AUTH PLAIN when
	// Username is set. They come from the environment or a Secret, never
	// from flags (see ConfigFromEnv), and are never logged.
	Username string
	Password string
	// StartTLS says when to upgrade the connection; StartTLSAuto by default.
	StartTLS StartTLSPolicy
	// TLSConfig is the TLS configuration for STARTTLS; when nil, the system
	// roots verify the relay's certificate for the host of Addr. When its
	// ServerName is empty, the host of Addr is used.
	TLSConfig *tls.Config
	// HeloName is the name sent with EHLO; the host name by default.
	HeloName string
}

// ConfigFromEnv returns a Config for the relay at addr sending from from,
// with the credentials read from SMTP_USERNAME and SMTP_PASSWORD and the
// StartTLSAuto policy.
func ConfigFromEnv(addr, from string) Config {
	return Config{
		Addr:     addr,
		From:     from,
		Username: os.Getenv(EnvUsername),
		Password: os.Getenv(EnvPassword),
		StartTLS: StartTLSAuto,
	}
}

// String describes the configuration without the password.
func (c Config) String() string {
	user := "none"
	if c.Username != "" {
		user = strconv.Quote(c.Username)
	}
	return fmt.Sprintf("smtp relay %s from %q (user %s, starttls %s)", c.Addr, c.From, user, c.StartTLS)
}

// GoString is String, so that %#v does not print the password either.
func (c Config) GoString() string { return c.String() }

// validate checks the configuration and returns the parsed sender and the
// relay's host.
func (c Config) validate() (*mail.Address, string, error) {
	var errs []error
	from, err := mail.ParseAddress(c.From)
	if err != nil {
		errs = append(errs, fmt.Errorf("from %q: %w", c.From, err))
	}
	host, err := validateAddr(c.Addr)
	if err != nil {
		errs = append(errs, err)
	}
	switch c.StartTLS {
	case StartTLSAuto, StartTLSAlways, StartTLSNever:
	default:
		errs = append(errs, fmt.Errorf("invalid STARTTLS policy %d", int(c.StartTLS)))
	}
	if c.Password != "" && c.Username == "" {
		errs = append(errs, errors.New("a password is set without a username"))
	}
	if c.Username != "" && c.StartTLS == StartTLSNever && host != "" && !isLoopback(host) {
		errs = append(errs, fmt.Errorf("credentials would be sent unencrypted to %s: STARTTLS is never used", c.Addr))
	}
	if strings.ContainsAny(c.HeloName, " \t\r\n") {
		errs = append(errs, fmt.Errorf("helo name %q must not contain spaces or line breaks", c.HeloName))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, "", fmt.Errorf("invalid email configuration: %w", err)
	}
	return from, host, nil
}

func validateAddr(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("addr %q: want host:port: %w", addr, err)
	}
	if host == "" {
		return "", fmt.Errorf("addr %q: no host", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("addr %q: invalid port %q", addr, port)
	}
	if strings.ContainsAny(host, " \t\r\n") {
		return "", fmt.Errorf("addr %q: invalid host", addr)
	}
	return host, nil
}

// isLoopback reports whether host names this machine, as net/smtp's
// PlainAuth sees it (it sends credentials unencrypted only to these).
func isLoopback(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}

// defaultHeloName returns the machine's host name, or "localhost".
func defaultHeloName() string {
	name, err := os.Hostname()
	if err != nil || name == "" || strings.ContainsAny(name, " \t\r\n") {
		return "localhost"
	}
	return name
}
