package email

import (
	"fmt"
	"strings"
	"testing"

	"github.com/leadvibe/milestone-triggers-operator/internal/notify"
)

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"valid", Config{Addr: "smtp.example.com:587", From: testFrom}, true},
		{"valid IPv6", Config{Addr: "[::1]:25", From: "a@example.com"}, true},
		{"credentials over loopback without TLS", Config{Addr: "127.0.0.1:25", From: "a@example.com", Username: "u", Password: "p", StartTLS: StartTLSNever}, true},
		{"bad from", Config{Addr: "smtp.example.com:587", From: "alerts"}, false},
		{"no port", Config{Addr: "smtp.example.com", From: testFrom}, false},
		{"bad port", Config{Addr: "smtp.example.com:99999", From: testFrom}, false},
		{"no host", Config{Addr: ":25", From: testFrom}, false},
		{"password without user", Config{Addr: "smtp.example.com:587", From: testFrom, Password: "p"}, false},
		{"credentials in clear", Config{Addr: "smtp.example.com:587", From: testFrom, Username: "u", Password: "p", StartTLS: StartTLSNever}, false},
		{"bad policy", Config{Addr: "smtp.example.com:587", From: testFrom, StartTLS: 7}, false},
		{"bad helo", Config{Addr: "smtp.example.com:587", From: testFrom, HeloName: "a\r\nb"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			if (err == nil) != tt.ok {
				t.Errorf("New = %v, want ok %v", err, tt.ok)
			}
		})
	}
}

func TestConfigFromEnv(t *testing.T) {
	t.Setenv(EnvUsername, "mailer")
	t.Setenv(EnvPassword, "s3cret")
	cfg := ConfigFromEnv("smtp.example.com:587", testFrom)
	if cfg.Username != "mailer" || cfg.Password != "s3cret" || cfg.StartTLS != StartTLSAuto || cfg.Addr != "smtp.example.com:587" || cfg.From != testFrom {
		t.Errorf("ConfigFromEnv = %+v", cfg)
	}
	for _, s := range []string{fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg)} {
		if strings.Contains(s, "s3cret") {
			t.Errorf("the password is printed: %s", s)
		}
	}
}

func TestParseStartTLSPolicy(t *testing.T) {
	for _, p := range []StartTLSPolicy{StartTLSAuto, StartTLSAlways, StartTLSNever} {
		got, err := ParseStartTLSPolicy(p.String())
		if err != nil || got != p {
			t.Errorf("ParseStartTLSPolicy(%q) = %v, %v", p.String(), got, err)
		}
	}
	if _, err := ParseStartTLSPolicy("sometimes"); err == nil {
		t.Errorf("ParseStartTLSPolicy accepted sometimes")
	}
}

func TestNotifierDescribesDestinations(t *testing.T) {
	n := newTestNotifier(t, Config{Addr: "127.0.0.1:25"})
	if n.Channel() != notify.ChannelEmail {
		t.Errorf("Channel = %q", n.Channel())
	}
	if n.Configured(testDefinition()) {
		t.Errorf("Configured without addresses")
	}
	def := testDefinition("a@example.com", "b@example.com")
	if !n.Configured(def) {
		t.Errorf("not Configured with addresses")
	}
	if got := n.Destination(def); got != "a@example.com, b@example.com" {
		t.Errorf("Destination = %q", got)
	}
}
