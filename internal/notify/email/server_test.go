package email

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/leadvibe/milestone-triggers-operator/internal/testcert"
)

// received is one message the test relay accepted.
type received struct {
	from     string
	to       []string
	data     []byte
	tls      bool
	authUser string
}

// relay is the behaviour of the test SMTP server, and what it received.
type relay struct {
	// username and password, when set, are required (AUTH PLAIN).
	username, password string
	// mailErr, rcptErr (by address) and dataErr are replies to give.
	mailErr error
	rcptErr map[string]error
	dataErr error

	mu       sync.Mutex
	messages []received
	sessions int
}

func (r *relay) NewSession(c *smtp.Conn) (smtp.Session, error) {
	r.mu.Lock()
	r.sessions++
	r.mu.Unlock()
	return &relaySession{relay: r, conn: c}, nil
}

func (r *relay) received() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.messages...)
}

type relaySession struct {
	relay    *relay
	conn     *smtp.Conn
	authUser string
	cur      received
}

func (s *relaySession) AuthMechanisms() []string {
	if s.relay.username == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *relaySession) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != s.relay.username || password != s.relay.password {
			return smtp.ErrAuthFailed
		}
		s.authUser = username
		return nil
	}), nil
}

func (s *relaySession) Mail(from string, _ *smtp.MailOptions) error {
	if s.relay.username != "" && s.authUser == "" {
		return smtp.ErrAuthRequired
	}
	if s.relay.mailErr != nil {
		return s.relay.mailErr
	}
	s.cur = received{from: from}
	return nil
}

func (s *relaySession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if err := s.relay.rcptErr[to]; err != nil {
		return err
	}
	s.cur.to = append(s.cur.to, to)
	return nil
}

func (s *relaySession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if s.relay.dataErr != nil {
		return s.relay.dataErr
	}
	s.cur.data = b
	_, s.cur.tls = s.conn.TLSConnectionState()
	s.cur.authUser = s.authUser
	s.relay.mu.Lock()
	s.relay.messages = append(s.relay.messages, s.cur)
	s.relay.mu.Unlock()
	return nil
}

func (s *relaySession) Reset()        { s.cur = received{} }
func (s *relaySession) Logout() error { return nil }

// startRelay runs r on a loopback listener, with STARTTLS when tlsConfig is
// set, and returns its address.
func startRelay(t *testing.T, r *relay, tlsConfig *tls.Config) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := smtp.NewServer(r)
	srv.Domain = "localhost"
	srv.TLSConfig = tlsConfig
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	srv.ErrorLog = log.New(io.Discard, "", 0)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(l); err != nil && !errors.Is(err, smtp.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			t.Errorf("SMTP server: %v", err)
		}
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		// Close misses a listener Serve has not registered yet.
		_ = l.Close()
		<-done
	})
	return l.Addr().String()
}

// selfSignedTLS returns a server configuration with a certificate for
// 127.0.0.1 and localhost, and a client configuration trusting it.
func selfSignedTLS(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	c := testcert.New(t, x509.ExtKeyUsageServerAuth)
	return &tls.Config{Certificates: []tls.Certificate{c.TLS}}, &tls.Config{RootCAs: c.Pool}
}
