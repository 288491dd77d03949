package e2e

import (
	"bytes"
	"errors"
	"io"
	"log"
	"mime"
	"net"
	"net/mail"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// smtpServer is a mail relay on loopback that accepts every message and
// keeps it.
type smtpServer struct {
	addr string
	srv  *smtp.Server
	done chan struct{}

	mu       sync.Mutex
	messages []receivedMail
}

// receivedMail is one message the relay accepted.
type receivedMail struct {
	From    string
	To      []string
	Subject string
	// FiringID is the X-LeadVibe-Firing-Id header.
	FiringID string
	Data     []byte
}

func startSMTPServer() *smtpServer {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	s := &smtpServer{addr: l.Addr().String(), done: make(chan struct{})}
	s.srv = smtp.NewServer(s)
	s.srv.Domain = "localhost"
	s.srv.ReadTimeout = 30 * time.Second
	s.srv.WriteTimeout = 30 * time.Second
	s.srv.ErrorLog = log.New(io.Discard, "", 0)
	go func() {
		defer GinkgoRecover()
		defer close(s.done)
		if err := s.srv.Serve(l); err != nil && !errors.Is(err, smtp.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			Fail("SMTP server: " + err.Error())
		}
	}()
	return s
}

func (s *smtpServer) close() {
	_ = s.srv.Close()
	<-s.done
}

// received returns the messages to address so far.
func (s *smtpServer) received(address string) []receivedMail {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []receivedMail
	for _, m := range s.messages {
		for _, to := range m.To {
			if to == address {
				out = append(out, m)
				break
			}
		}
	}
	return out
}

// NewSession implements smtp.Backend.
func (s *smtpServer) NewSession(*smtp.Conn) (smtp.Session, error) {
	return &smtpSession{server: s}, nil
}

type smtpSession struct {
	server *smtpServer
	cur    receivedMail
}

func (ss *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	ss.cur = receivedMail{From: from}
	return nil
}

func (ss *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.cur.To = append(ss.cur.To, to)
	return nil
}

func (ss *smtpSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ss.cur.Data = data
	if msg, err := mail.ReadMessage(bytes.NewReader(data)); err == nil {
		subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
		if err != nil {
			subject = msg.Header.Get("Subject")
		}
		ss.cur.Subject = subject
		ss.cur.FiringID = msg.Header.Get("X-LeadVibe-Firing-Id")
	}
	ss.server.mu.Lock()
	ss.server.messages = append(ss.server.messages, ss.cur)
	ss.server.mu.Unlock()
	ss.cur = receivedMail{}
	return nil
}

func (ss *smtpSession) Reset()        { ss.cur = receivedMail{} }
func (ss *smtpSession) Logout() error { return nil }
