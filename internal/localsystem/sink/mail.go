package sink

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log"
	"mime"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// maxMessageBytes bounds one message the sink accepts.
const maxMessageBytes = 10 << 20

// MailSink is an SMTP server on this machine that accepts every message
// (no authentication, no TLS: the operator runs with --smtp-starttls=never)
// and writes each to a file of its own, NNNN.eml in Dir, with one line for
// each on Notices.
type MailSink struct {
	// Addr is the address the sink listens on.
	Addr string
	// Dir holds the messages received.
	Dir string

	notices io.Writer
	srv     *smtp.Server
	done    chan error

	mu sync.Mutex
	n  int
}

// StartMailSink listens on addr (host:port; port 0 picks one) and writes
// the messages it receives to dir, which it creates, and a line about each
// to notices. Close stops it.
func StartMailSink(addr, dir string, notices io.Writer) (*MailSink, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("the mail sink: %w", err)
	}
	s := &MailSink{Addr: l.Addr().String(), Dir: dir, notices: notices, done: make(chan error, 1)}
	s.srv = smtp.NewServer(backend{s})
	s.srv.Domain = "localhost"
	s.srv.ReadTimeout = 30 * time.Second
	s.srv.WriteTimeout = 30 * time.Second
	s.srv.MaxMessageBytes = maxMessageBytes
	s.srv.MaxRecipients = 1000
	s.srv.ErrorLog = log.New(io.Discard, "", 0)
	go func() {
		err := s.srv.Serve(l)
		if errors.Is(err, smtp.ErrServerClosed) || errors.Is(err, net.ErrClosed) {
			err = nil
		}
		s.done <- err
	}()
	return s, nil
}

// Close stops the sink and waits until it has.
func (s *MailSink) Close() error {
	err := s.srv.Close()
	return errors.Join(err, <-s.done)
}

// Count is how many messages the sink has stored.
func (s *MailSink) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

// store writes one message and reports it.
func (s *MailSink) store(from string, to []string, data []byte) error {
	s.mu.Lock()
	s.n++
	path := filepath.Join(s.Dir, fmt.Sprintf("%04d.eml", s.n))
	s.mu.Unlock()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return err
	}
	_, _ = fmt.Fprintf(s.notices, "mail: from %s to %s, subject %q: %s\n", from, strings.Join(to, ", "), subject(data), path)
	return nil
}

// subject is the message's decoded Subject header, or "".
func subject(data []byte) string {
	m, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		return ""
	}
	raw := m.Header.Get("Subject")
	decoded, err := new(mime.WordDecoder).DecodeHeader(raw)
	if err != nil {
		return raw
	}
	return decoded
}

type backend struct{ sink *MailSink }

func (b backend) NewSession(*smtp.Conn) (smtp.Session, error) { return &session{sink: b.sink}, nil }

// session is one SMTP conversation: any sender, any recipients.
type session struct {
	sink *MailSink
	from string
	to   []string
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	s.from, s.to = from, nil
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	return s.sink.store(s.from, s.to, data)
}

func (s *session) Reset()        { s.from, s.to = "", nil }
func (s *session) Logout() error { return nil }
