package email

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/smtp"
	"net/textproto"
	"strings"
	"time"

	"github.com/leadvibe/milestone-triggers-operator/internal/notify"
)

// maxReplyText bounds how much of a relay's reply an error repeats.
const maxReplyText = 200

// Send makes one attempt to deliver d by email: one SMTP transaction with
// every recipient (see the package documentation for how replies are
// classified). The context's deadline bounds the whole attempt, and
// cancelling the context aborts it.
func (n *Notifier) Send(ctx context.Context, d notify.Delivery) error {
	now := d.Now
	if now.IsZero() {
		now = time.Now()
	}
	msg, err := Render(d.Firing, d.Trigger, n.cfg.From, d.Test, now)
	if err != nil {
		return notify.Permanent(fmt.Errorf("rendering the email of firing %s: %w", d.Firing.ID, err))
	}
	if len(msg.To) == 0 {
		return notify.Permanentf("trigger %s has no email addresses", d.Trigger.Key)
	}
	return n.send(ctx, msg)
}

// send delivers msg over a new connection to the relay.
func (n *Notifier) send(ctx context.Context, msg Message) error {
	var dialer net.Dialer
	conn, err := dialer.DialContext(ctx, "tcp", n.cfg.Addr)
	if err != nil {
		return &notify.Error{Err: fmt.Errorf("connecting to the SMTP relay %s: %w", n.cfg.Addr, err)}
	}
	if deadline, ok := ctx.Deadline(); ok {
		if err := conn.SetDeadline(deadline); err != nil {
			_ = conn.Close()
			return &notify.Error{Err: fmt.Errorf("connecting to the SMTP relay %s: %w", n.cfg.Addr, err)}
		}
	}
	// Cancelling the context unblocks any read or write in progress.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	s := session{n: n, ctx: ctx}
	c, err := smtp.NewClient(conn, n.host)
	if err != nil {
		_ = conn.Close()
		return s.fail("greeting", err)
	}
	defer func() { _ = c.Close() }()
	return s.run(c, msg)
}

// session is one SMTP transaction, for error messages and classification.
type session struct {
	n   *Notifier
	ctx context.Context
}

func (s session) run(c *smtp.Client, msg Message) error {
	n := s.n
	if err := c.Hello(n.helo); err != nil {
		return s.fail("EHLO", err)
	}
	if err := s.startTLS(c); err != nil {
		return err
	}
	if n.cfg.Username != "" {
		if ok, _ := c.Extension("AUTH"); !ok {
			return s.fail("AUTH", errors.New("the relay does not offer AUTH"))
		}
		auth := smtp.PlainAuth("", n.cfg.Username, n.cfg.Password, n.host)
		if err := c.Auth(auth); err != nil {
			return s.fail("AUTH", err)
		}
	}
	if err := c.Mail(n.from.Address); err != nil {
		return s.fail("MAIL FROM", err)
	}

	var (
		accepted int
		refused  []string
		code     int
	)
	for _, to := range msg.To {
		err := c.Rcpt(to)
		if err == nil {
			accepted++
			continue
		}
		var reply *textproto.Error
		if errors.As(err, &reply) && reply.Code >= 500 {
			refused = append(refused, fmt.Sprintf("%s (%s)", to, replyText(reply)))
			if code == 0 {
				code = reply.Code
			}
			continue
		}
		// A temporary refusal or a broken connection: deliver to no one
		// now, and to everyone on the retry.
		_ = c.Quit()
		return s.fail("RCPT TO "+to, err)
	}
	if accepted == 0 {
		_ = c.Quit()
		return &notify.Error{
			Err:        fmt.Errorf("the SMTP relay %s refused every recipient: %s", n.cfg.Addr, strings.Join(refused, "; ")),
			Permanent:  true,
			StatusCode: code,
		}
	}

	w, err := c.Data()
	if err != nil {
		return s.fail("DATA", err)
	}
	if _, err := w.Write(msg.Raw); err != nil {
		_ = w.Close()
		return s.fail("DATA", err)
	}
	if err := w.Close(); err != nil {
		return s.fail("DATA", err)
	}
	// The relay has taken the message: a failed QUIT changes nothing.
	_ = c.Quit()

	if len(refused) > 0 {
		return &notify.Error{
			Err: fmt.Errorf("the SMTP relay %s delivered to %d of %d recipients and refused %s",
				n.cfg.Addr, accepted, len(msg.To), strings.Join(refused, "; ")),
			Permanent:  true,
			StatusCode: code,
		}
	}
	return nil
}

// startTLS upgrades the connection as the policy says.
func (s session) startTLS(c *smtp.Client) error {
	n := s.n
	if n.cfg.StartTLS == StartTLSNever {
		return nil
	}
	if ok, _ := c.Extension("STARTTLS"); !ok {
		if n.cfg.StartTLS == StartTLSAlways {
			return s.fail("STARTTLS", errors.New("the relay does not offer STARTTLS, which is required"))
		}
		return nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if n.cfg.TLSConfig != nil {
		cfg = n.cfg.TLSConfig.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = n.host
	}
	if err := c.StartTLS(cfg); err != nil {
		return s.fail("STARTTLS", err)
	}
	return nil
}

// fail classifies the failure of step: an SMTP reply by its code (4xx
// retryable, 5xx permanent), anything else (network errors, timeouts, TLS
// failures, a relay lacking an extension) retryable.
func (s session) fail(step string, err error) error {
	addr := s.n.cfg.Addr
	var reply *textproto.Error
	if errors.As(err, &reply) {
		return &notify.Error{
			Err:        fmt.Errorf("SMTP relay %s: %s: %s", addr, step, replyText(reply)),
			Permanent:  reply.Code >= 500 && reply.Code < 600,
			StatusCode: reply.Code,
		}
	}
	ctxErr := s.ctx.Err()
	if deadline, ok := s.ctx.Deadline(); ok && ctxErr == nil && !time.Now().Before(deadline) {
		// The connection's deadline, which is the context's, went by
		// before the context noticed.
		ctxErr = context.DeadlineExceeded
	}
	if ctxErr != nil {
		err = fmt.Errorf("%w (%w)", ctxErr, err)
	}
	return &notify.Error{Err: fmt.Errorf("SMTP relay %s: %s: %w", addr, step, err)}
}

// replyText returns the relay's reply, bounded and on one line.
func replyText(e *textproto.Error) string {
	return truncate(cleanLine(e.Error()), maxReplyText)
}
