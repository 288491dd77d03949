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
	"github.com/leadvibe/milestone-triggers-operator/internal/text"
)

// maxReplyText bounds how much of a relay's reply an error's Detail
// keeps, for the operator's logs. The error's message never repeats the
// reply: it says which step failed and the reply's code.
const maxReplyText = 200

// Send makes one attempt to deliver d by email: one SMTP transaction with
// every recipient (see the package documentation for how replies are
// classified). The context's deadline bounds the whole attempt, and
// cancelling the context aborts it. On success the result's code is the
// relay's 250 to the message's DATA.
func (n *Notifier) Send(ctx context.Context, d notify.Delivery) (notify.Result, error) {
	now := d.Now
	if now.IsZero() {
		now = time.Now()
	}
	msg, err := Render(d.Firing, d.Trigger, n.cfg.From, d.Test, now)
	if err != nil {
		return notify.Result{}, notify.Permanent(fmt.Errorf("rendering the email of firing %s: %w", d.Firing.ID, err))
	}
	if len(msg.To) == 0 {
		return notify.Result{}, notify.Permanentf("trigger %s has no email addresses", d.Trigger.Key)
	}
	if err := n.send(ctx, msg); err != nil {
		return notify.Result{}, err
	}
	// net/smtp takes the end of DATA only with a 250.
	return notify.Result{StatusCode: replyAccepted}, nil
}

// replyAccepted is the SMTP reply code of a message the relay took.
const replyAccepted = 250

// send delivers msg over a new connection to the relay.
func (n *Notifier) send(ctx context.Context, msg Message) error {
	s := session{n: n, ctx: ctx}
	if deadline, ok := ctx.Deadline(); ok {
		s.budget = max(time.Until(deadline), 0)
	}
	var dialer net.Dialer
	conn, err := dialer.DialContext(ctx, "tcp", n.cfg.Addr)
	if err != nil {
		return s.fail("connect", err)
	}
	if deadline, ok := ctx.Deadline(); ok {
		if err := conn.SetDeadline(deadline); err != nil {
			_ = conn.Close()
			return s.fail("connect", err)
		}
	}
	// Cancelling the context unblocks any read or write in progress.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

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
	// budget is the attempt's time allowance, for the reason of a
	// timeout; 0 when unknown.
	budget time.Duration
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
			return s.refuse("AUTH", "the relay does not offer AUTH")
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
		refused  []string // for the message: address and code
		replies  []string // for Detail: address and the relay's reply
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
			refused = append(refused, fmt.Sprintf("%s (%d)", to, reply.Code))
			replies = append(replies, fmt.Sprintf("%s: %s", to, replyText(reply)))
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
			Err:        fmt.Errorf("the SMTP relay refused every recipient: %s", strings.Join(refused, ", ")),
			Permanent:  true,
			StatusCode: code,
			Detail:     s.detail(strings.Join(replies, "; ")),
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
			Err: fmt.Errorf("the SMTP relay delivered to %d of %d recipients and refused %s",
				accepted, len(msg.To), strings.Join(refused, ", ")),
			Permanent:  true,
			StatusCode: code,
			Detail:     s.detail(strings.Join(replies, "; ")),
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
			return s.refuse("STARTTLS", "the relay does not offer STARTTLS, which is required")
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
// failures) retryable. The message names the step and the reply's code or
// a fixed reason for a transport failure; the reply's text and the
// transport error's go to Detail only.
func (s session) fail(step string, err error) error {
	var reply *textproto.Error
	if errors.As(err, &reply) {
		return &notify.Error{
			Err:        fmt.Errorf("the SMTP relay answered %d to %s", reply.Code, step),
			Permanent:  reply.Code >= 500 && reply.Code < 600,
			StatusCode: reply.Code,
			Detail:     s.detail(step + ": " + replyText(reply)),
		}
	}
	ctxErr := s.ctx.Err()
	if deadline, ok := s.ctx.Deadline(); ok && ctxErr == nil && !time.Now().Before(deadline) {
		// The connection's deadline, which is the context's, went by
		// before the context noticed.
		ctxErr = context.DeadlineExceeded
	}
	cause := err
	if ctxErr != nil {
		cause = fmt.Errorf("%w (%w)", ctxErr, err)
	}
	reason := fmt.Sprintf("the SMTP relay failed at %s: %s", step, notify.TransportReason(cause, s.budget))
	if step == "connect" {
		reason = "connecting to the SMTP relay failed: " + notify.TransportReason(cause, s.budget)
	}
	return &notify.Error{
		Err:    notify.Because(reason, cause),
		Detail: s.detail(step + ": " + text.ClipRunes(cleanLine(err.Error()), maxReplyText)),
	}
}

// refuse is the failure of step for a reason of the operator's own, such
// as a missing extension the configuration requires: retryable, since the
// relay may be reconfigured.
func (s session) refuse(step, reason string) error {
	return &notify.Error{Err: fmt.Errorf("the SMTP relay failed at %s: %s", step, reason)}
}

// detail is text for an error's Detail: prefixed with the relay's address.
func (s session) detail(detailText string) string {
	return "SMTP relay " + s.n.cfg.Addr + ": " + detailText
}

// replyText returns the relay's reply, bounded and on one line.
func replyText(e *textproto.Error) string {
	return text.ClipRunes(cleanLine(e.Error()), maxReplyText)
}
