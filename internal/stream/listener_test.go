package stream

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/leadvibe/milestone-triggers-operator/internal/testcert"
)

// TestListenerTLSAndAdmin: with TLS files the listener speaks TLS only;
// the admin user gets in with every right, anyone else waits for the
// callout service (not running here) and is refused; the operator's own
// in-process connection keeps its rights.
func TestListenerTLSAndAdmin(t *testing.T) {
	certFile, keyFile, pool := testcert.Files(t)
	conn, err := Open(context.Background(), Config{
		DataDir:       t.TempDir(),
		Sync:          SyncPolicy{Interval: time.Minute},
		Listen:        "127.0.0.1:0",
		TLSCertFile:   certFile,
		TLSKeyFile:    keyFile,
		AdminPassword: "admin-secret",
	})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if conn.CalloutIssuer() == nil {
		t.Fatal("a listener without a callout issuer")
	}
	if !strings.HasPrefix(conn.NC.NewRespInbox(), OperatorInboxPrefix+".") {
		t.Errorf("the operator's inbox is %q", conn.NC.NewRespInbox())
	}
	if _, err := conn.JS.AccountInfo(context.Background()); err != nil {
		t.Fatalf("the operator's own connection: %v", err)
	}
	url := conn.ClientURL()
	tlsOpt := nats.Secure(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})

	// Plain text is refused.
	if nc, err := nats.Connect(strings.Replace(url, "tls://", "nats://", 1), nats.UserInfo(AdminUser, "admin-secret"), nats.NoReconnect()); err == nil {
		nc.Close()
		t.Error("a plain-text client got in")
	}
	// The admin, over TLS.
	nc, err := nats.Connect(url, tlsOpt, nats.UserInfo(AdminUser, "admin-secret"), nats.NoReconnect())
	if err != nil {
		t.Fatalf("the admin over TLS: %v", err)
	}
	if !nc.TLSRequired() {
		t.Error("the connection is not TLS")
	}
	sub, err := nc.SubscribeSync(">")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := conn.NC.Publish("leadvibe.firings.x", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := sub.NextMsg(5 * time.Second); err != nil {
		t.Errorf("the admin reads nothing: %v", err)
	}
	nc.Close()

	// A wrong admin password, and the operator's user name with a guessed
	// password, go to the callout service, which is not running: refused.
	for _, opt := range []nats.Option{nats.UserInfo(AdminUser, "guess"), nats.UserInfo(OperatorUser, "guess")} {
		if nc, err := nats.Connect(url, tlsOpt, opt, nats.NoReconnect(), nats.Timeout(2*AuthTimeout)); err == nil {
			nc.Close()
			t.Error("a guessed password got in")
		} else if !strings.Contains(err.Error(), "Authorization Violation") {
			t.Errorf("a guessed password: %v", err)
		}
	}
}

func TestListenerConfigErrors(t *testing.T) {
	certFile, keyFile, _ := testcert.Files(t)
	for name, cfg := range map[string]Config{
		"cert without key": {Listen: "127.0.0.1:0", TLSCertFile: certFile},
		"key without cert": {Listen: "127.0.0.1:0", TLSKeyFile: keyFile},
		"CA alone":         {Listen: "127.0.0.1:0", TLSClientCAFile: certFile},
		"missing cert":     {Listen: "127.0.0.1:0", TLSCertFile: filepath.Join(t.TempDir(), "none"), TLSKeyFile: keyFile},
		"bad port":         {Listen: "127.0.0.1:99999"},
	} {
		cfg.DataDir = t.TempDir()
		if conn, err := Open(context.Background(), cfg); err == nil {
			conn.Close()
			t.Errorf("%s: opened", name)
		}
	}
}

// TestListenerClientCertificates: with a client CA, a client needs a
// certificate it signed, besides its credentials.
func TestListenerClientCertificates(t *testing.T) {
	certFile, keyFile, pool := testcert.Files(t)
	clientCert, clientKey, _ := testcert.FilesFor(t, x509.ExtKeyUsageClientAuth)
	conn, err := Open(context.Background(), Config{
		DataDir:         t.TempDir(),
		Sync:            SyncPolicy{Interval: time.Minute},
		Listen:          "127.0.0.1:0",
		TLSCertFile:     certFile,
		TLSKeyFile:      keyFile,
		TLSClientCAFile: clientCert,
		AdminPassword:   "admin-secret",
	})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	tc := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if nc, err := nats.Connect(conn.ClientURL(), nats.Secure(tc), nats.UserInfo(AdminUser, "admin-secret"), nats.NoReconnect()); err == nil {
		nc.Close()
		t.Error("a client without a certificate got in")
	}
	pair, err := tls.LoadX509KeyPair(clientCert, clientKey)
	if err != nil {
		t.Fatal(err)
	}
	withCert := tc.Clone()
	withCert.Certificates = []tls.Certificate{pair}
	nc, err := nats.Connect(conn.ClientURL(), nats.Secure(withCert), nats.UserInfo(AdminUser, "admin-secret"), nats.NoReconnect())
	if err != nil {
		t.Fatalf("a client with a certificate: %v", err)
	}
	nc.Close()
}

func TestPlainNonLoopbackListener(t *testing.T) {
	for _, tc := range []struct {
		listen, cert string
		warn         bool
	}{
		{"", "", false},
		{"127.0.0.1:4222", "", false},
		{"[::1]:4222", "", false},
		{"localhost:4222", "", false},
		{":4222", "", false},
		{"0.0.0.0:4222", "", true},
		{"10.1.2.3:4222", "", true},
		{"nats.example.com:4222", "", true},
		{"0.0.0.0:4222", "tls.crt", false},
	} {
		if got := PlainNonLoopbackListener(tc.listen, tc.cert); got != tc.warn {
			t.Errorf("PlainNonLoopbackListener(%q, %q) = %v", tc.listen, tc.cert, got)
		}
	}
}
