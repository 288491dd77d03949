package stream

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"
)

// The users of the embedded server that bypass the auth callout, and the
// inbox prefix of the operator's own connection. Neither user name is a
// valid OU list (OU names never hold "_"), so a publisher naming its OUs
// as its user name never collides with them; and no publisher may
// subscribe to the operator's inbox prefix, which is outside every
// publisher's own (see internal/streamauth).
const (
	OperatorUser        = "_milestone-triggers"
	AdminUser           = "_admin"
	OperatorInboxPrefix = "_INBOX_OPERATOR"
	// AdminPasswordEnv names the operator's environment variable whose
	// value, when set, lets AdminUser in with every right: for the local
	// system's tools and tests, never for tenants.
	AdminPasswordEnv = "STREAM_ADMIN_PASSWORD"
)

// AuthTimeout bounds how long the server waits for a client's CONNECT to
// be authenticated, the auth callout's reviews included.
const AuthTimeout = 5 * time.Second

// CalloutAccount is the account the callout service runs in and places
// the users it admits in: the embedded server's global account.
const CalloutAccount = server.DEFAULT_GLOBAL_ACCOUNT

// listenerAuth is what secures the embedded server's listener: the auth
// callout's issuer key and the operator's password, both made at start
// and kept in memory only.
type listenerAuth struct {
	issuer           nkeys.KeyPair
	operatorPassword string
}

// newListenerAuth makes the keys of a listener, or returns nil when cfg
// has none.
func newListenerAuth(cfg Config) (*listenerAuth, error) {
	if cfg.Listen == "" {
		return nil, nil
	}
	issuer, err := nkeys.CreateAccount()
	if err != nil {
		return nil, fmt.Errorf("creating the auth callout's issuer key: %w", err)
	}
	pw := make([]byte, 32)
	if _, err := rand.Read(pw); err != nil {
		return nil, err
	}
	return &listenerAuth{issuer: issuer, operatorPassword: base64.RawURLEncoding.EncodeToString(pw)}, nil
}

// apply configures opts for the listener: the auth callout, its bypassing
// users and TLS.
func (a *listenerAuth) apply(opts *server.Options, cfg Config) error {
	pub, err := a.issuer.PublicKey()
	if err != nil {
		return err
	}
	users := []*server.User{{Username: OperatorUser, Password: a.operatorPassword}}
	authUsers := []string{OperatorUser}
	if cfg.AdminPassword != "" {
		users = append(users, &server.User{Username: AdminUser, Password: cfg.AdminPassword})
		authUsers = append(authUsers, AdminUser)
	}
	opts.Users = users
	opts.AuthCallout = &server.AuthCallout{Issuer: pub, Account: CalloutAccount, AuthUsers: authUsers}
	opts.AuthTimeout = AuthTimeout.Seconds()

	switch {
	case cfg.TLSCertFile == "" && cfg.TLSKeyFile == "":
		if cfg.TLSClientCAFile != "" {
			return errors.New("a client CA for the stream listener needs its certificate and key files too")
		}
		return nil
	case cfg.TLSCertFile == "" || cfg.TLSKeyFile == "":
		return errors.New("TLS for the stream listener needs both a certificate and a key file")
	}
	tc, err := server.GenTLSConfig(&server.TLSConfigOpts{
		CertFile: cfg.TLSCertFile,
		KeyFile:  cfg.TLSKeyFile,
		CaFile:   cfg.TLSClientCAFile,
		Verify:   cfg.TLSClientCAFile != "",
	})
	if err != nil {
		return fmt.Errorf("stream listener TLS: %w", err)
	}
	opts.TLSConfig = tc
	opts.TLS = true
	opts.TLSVerify = cfg.TLSClientCAFile != ""
	opts.TLSTimeout = 5
	return nil
}

// PlainNonLoopbackListener reports whether a --stream-listen address
// without a TLS certificate would take clients from beyond this machine in
// plain text: an address that is not loopback (an empty host listens on
// 127.0.0.1).
func PlainNonLoopbackListener(listen, certFile string) bool {
	if listen == "" || certFile != "" {
		return false
	}
	host, _, err := net.SplitHostPort(listen)
	if err != nil || host == "" || host == "localhost" {
		return false
	}
	ip, err := netip.ParseAddr(host)
	return err != nil || !ip.IsLoopback()
}
