package email

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"k8s.io/apimachinery/pkg/types"

	"github.com/leadvibe/milestone-triggers-operator/internal/event"
	"github.com/leadvibe/milestone-triggers-operator/internal/ledger"
	"github.com/leadvibe/milestone-triggers-operator/internal/notify"
	"github.com/leadvibe/milestone-triggers-operator/internal/triggerset"
)

const testFrom = "LeadVibe Alerts <alerts@leadvibe.example>"

var testNow = time.Date(2025, 1, 15, 10, 36, 0, 0, time.UTC)

func testFiring() ledger.Firing {
	return ledger.Firing{
		ID:          "mtf_0123456789abcdef0123456789abcdef",
		OU:          "acme",
		Trigger:     "hot-lead",
		TriggerName: "Hot Lead",
		Threshold:   75,
		Event: event.Event{
			ID:        "evt_42",
			LeadID:    "lead_7",
			EventType: "page_view",
			Score:     80,
			Metadata:  json.RawMessage(`{"url":"https://example.com/pricing","count":3,"tags":["a","b"]}`),
			CreatedAt: time.Date(2025, 1, 15, 10, 35, 0, 0, time.UTC),
		},
		Score:   80,
		FiredAt: time.Date(2025, 1, 15, 10, 35, 1, 0, time.UTC),
	}
}

func testDefinition(emails ...string) triggerset.Definition {
	return triggerset.Definition{
		Key:         types.NamespacedName{Namespace: "acme", Name: "hot-lead"},
		DisplayName: "Hot Lead",
		Threshold:   75,
		Active:      true,
		Destinations: triggerset.Destinations{
			Emails: emails,
		},
	}
}

func newTestNotifier(t *testing.T, cfg Config) *Notifier {
	t.Helper()
	if cfg.From == "" {
		cfg.From = testFrom
	}
	if cfg.HeloName == "" {
		cfg.HeloName = "test.local"
	}
	n, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return n
}

func send(t *testing.T, n *Notifier, f ledger.Firing, def triggerset.Definition, test bool) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := n.Send(ctx, notify.Delivery{Firing: f, Trigger: def, Attempt: 1, Now: testNow, Test: test})
	if err == nil && res.StatusCode != 250 {
		t.Errorf("a delivered email's code is %d, want the relay's 250", res.StatusCode)
	}
	return err
}

// parsed is a received message, parsed.
type parsed struct {
	header mail.Header
	text   string
	html   string
}

func parse(t *testing.T, raw []byte) parsed {
	t.Helper()
	m, err := mail.ReadMessage(strings.NewReader(string(raw)))
	if err != nil {
		t.Fatalf("reading the message: %v\n%s", err, raw)
	}
	mediaType, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mediaType != "multipart/alternative" {
		t.Fatalf("Content-Type = %q (%v), want multipart/alternative", m.Header.Get("Content-Type"), err)
	}
	p := parsed{header: m.Header}
	mr := multipart.NewReader(m.Body, params["boundary"])
	var partTypes []string
	for {
		part, err := mr.NextRawPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("reading a part: %v", err)
		}
		if got := part.Header.Get("Content-Transfer-Encoding"); got != "quoted-printable" {
			t.Errorf("Content-Transfer-Encoding = %q, want quoted-printable", got)
		}
		pt, pparams, err := mime.ParseMediaType(part.Header.Get("Content-Type"))
		if err != nil {
			t.Fatalf("part Content-Type: %v", err)
		}
		if pparams["charset"] != "utf-8" {
			t.Errorf("part %s charset = %q, want utf-8", pt, pparams["charset"])
		}
		body, err := io.ReadAll(quotedprintable.NewReader(part))
		if err != nil {
			t.Fatalf("decoding the %s part: %v", pt, err)
		}
		partTypes = append(partTypes, pt)
		// Quoted-printable line breaks are CRLF; read them as LF.
		text := strings.ReplaceAll(string(body), "\r\n", "\n")
		switch pt {
		case "text/plain":
			p.text = text
		case "text/html":
			p.html = text
		}
	}
	if strings.Join(partTypes, ",") != "text/plain,text/html" {
		t.Errorf("parts = %v, want text/plain then text/html", partTypes)
	}
	return p
}

func decodeHeader(t *testing.T, v string) string {
	t.Helper()
	s, err := new(mime.WordDecoder).DecodeHeader(v)
	if err != nil {
		t.Fatalf("decoding %q: %v", v, err)
	}
	return s
}

func onlyMessage(t *testing.T, r *relay) received {
	t.Helper()
	msgs := r.received()
	if len(msgs) != 1 {
		t.Fatalf("relay received %d messages, want 1", len(msgs))
	}
	return msgs[0]
}

func TestSendDefaultMessage(t *testing.T) {
	r := &relay{}
	addr := startRelay(t, r, nil)
	n := newTestNotifier(t, Config{Addr: addr})
	def := testDefinition("sales@example.com", "Ops Team <ops@example.com>")
	if err := send(t, n, testFiring(), def, false); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := onlyMessage(t, r)
	if got.from != "alerts@leadvibe.example" {
		t.Errorf("MAIL FROM = %q", got.from)
	}
	if strings.Join(got.to, ",") != "sales@example.com,ops@example.com" {
		t.Errorf("RCPT TO = %v", got.to)
	}
	if got.tls {
		t.Errorf("TLS used with a relay that does not offer it")
	}

	p := parse(t, got.data)
	h := p.header
	if from, err := h.AddressList("From"); err != nil || len(from) != 1 || from[0].Address != "alerts@leadvibe.example" || from[0].Name != "LeadVibe Alerts" {
		t.Errorf("From = %q (%v)", h.Get("From"), err)
	}
	to, err := h.AddressList("To")
	if err != nil || len(to) != 2 || to[0].Address != "sales@example.com" || to[1].Address != "ops@example.com" {
		t.Errorf("To = %q (%v)", h.Get("To"), err)
	}
	if got, want := decodeHeader(t, h.Get("Subject")), "Milestone reached: Hot Lead for lead lead_7"; got != want {
		t.Errorf("Subject = %q, want %q", got, want)
	}
	if date, err := h.Date(); err != nil || !date.Equal(testNow) {
		t.Errorf("Date = %q (%v), want %v", h.Get("Date"), err, testNow)
	}
	if got, want := h.Get("Message-ID"), "<mtf_0123456789abcdef0123456789abcdef@milestone-triggers.leadvibe.io>"; got != want {
		t.Errorf("Message-ID = %q, want %q", got, want)
	}
	if got := h.Get("MIME-Version"); got != "1.0" {
		t.Errorf("MIME-Version = %q", got)
	}
	if got := h.Get("X-LeadVibe-Firing-Id"); got != "mtf_0123456789abcdef0123456789abcdef" {
		t.Errorf("X-LeadVibe-Firing-Id = %q", got)
	}

	// The preheader is hidden, first in the body.
	body := p.html[strings.Index(p.html, "<body>")+len("<body>"):]
	wantPre := `<div style="display:none;max-height:0;overflow:hidden;mso-hide:all">Lead lead_7 reached a score of 80, crossing the 75-point threshold of Hot Lead.</div>`
	if !strings.HasPrefix(strings.TrimSpace(body), wantPre) {
		t.Errorf("HTML body does not start with the hidden preheader:\n%s", body)
	}
	details := []string{"lead_7", "80", "page_view", "evt_42", "2025-01-15T10:35:00Z", "75", "https://example.com/pricing", "[&#34;a&#34;,&#34;b&#34;]"}
	textDetails := []string{"Lead ID: lead_7", "Score: 80", "Event type: page_view", "Event ID: evt_42", "Time: 2025-01-15T10:35:00Z", "Threshold: 75", "count: 3", "tags: [\"a\",\"b\"]", "url: https://example.com/pricing"}
	msg := "Lead lead_7 reached the Hot Lead milestone"
	for _, d := range details {
		if !strings.Contains(p.html, d) {
			t.Errorf("HTML lacks %q:\n%s", d, p.html)
		}
	}
	for _, d := range textDetails {
		if !strings.Contains(p.text, d) {
			t.Errorf("text lacks %q:\n%s", d, p.text)
		}
	}
	if i, j := strings.Index(p.text, msg), strings.Index(p.text, "Lead ID:"); i < 0 || i > j {
		t.Errorf("text: the message does not come before the details:\n%s", p.text)
	}
	if i, j := strings.Index(p.html, msg), strings.Index(p.html, "Lead details"); i < 0 || i > j {
		t.Errorf("HTML: the message does not come before the details:\n%s", p.html)
	}
	// Metadata keys are sorted.
	if i, j, k := strings.Index(p.text, "count:"), strings.Index(p.text, "tags:"), strings.Index(p.text, "url:"); !(i < j && j < k) {
		t.Errorf("metadata not sorted:\n%s", p.text)
	}
}

func TestSendCustomTexts(t *testing.T) {
	r := &relay{}
	addr := startRelay(t, r, nil)
	n := newTestNotifier(t, Config{Addr: addr})
	def := testDefinition("sales@example.com")
	def.Destinations.EmailSubject = "Hot Lead Alert"
	def.Destinations.EmailPreheader = "Someone is <b>hot</b>"
	def.Destinations.EmailMessage = "A lead just crossed the 75-point threshold!\nCall them <script>alert(1)</script>"
	f := testFiring()
	f.Event.Metadata = json.RawMessage(`{"<script>k</script>":"<script>v</script>","note":"a & b"}`)
	if err := send(t, n, f, def, false); err != nil {
		t.Fatalf("Send: %v", err)
	}
	p := parse(t, onlyMessage(t, r).data)
	if got := decodeHeader(t, p.header.Get("Subject")); got != "Hot Lead Alert" {
		t.Errorf("Subject = %q", got)
	}
	if strings.Contains(p.html, "<script>") || strings.Contains(p.html, "<b>") {
		t.Errorf("HTML not escaped:\n%s", p.html)
	}
	for _, want := range []string{
		`mso-hide:all">Someone is &lt;b&gt;hot&lt;/b&gt;</div>`,
		"A lead just crossed the 75-point threshold!<br>\nCall them &lt;script&gt;alert(1)&lt;/script&gt;",
		"&lt;script&gt;k&lt;/script&gt;",
		"&lt;script&gt;v&lt;/script&gt;",
		"a &amp; b",
	} {
		if !strings.Contains(p.html, want) {
			t.Errorf("HTML lacks %q:\n%s", want, p.html)
		}
	}
	if !strings.HasPrefix(p.text, "A lead just crossed the 75-point threshold!\nCall them <script>alert(1)</script>\n") {
		t.Errorf("text does not start with the message:\n%s", p.text)
	}
	if !strings.Contains(p.text, "<script>k</script>: <script>v</script>") {
		t.Errorf("text lacks the metadata:\n%s", p.text)
	}
}

func TestSendTest(t *testing.T) {
	r := &relay{}
	addr := startRelay(t, r, nil)
	n := newTestNotifier(t, Config{Addr: addr})
	def := testDefinition("sales@example.com")
	def.Destinations.EmailSubject = "Hot Lead Alert"
	if err := send(t, n, testFiring(), def, true); err != nil {
		t.Fatalf("Send: %v", err)
	}
	p := parse(t, onlyMessage(t, r).data)
	if got := decodeHeader(t, p.header.Get("Subject")); got != "[TEST] Hot Lead Alert" {
		t.Errorf("Subject = %q", got)
	}
	if !strings.Contains(p.text, testNote) || !strings.Contains(p.html, testNote) {
		t.Errorf("the body does not say it is a test")
	}
}

func TestSubjectCannotInjectHeaders(t *testing.T) {
	r := &relay{}
	addr := startRelay(t, r, nil)
	n := newTestNotifier(t, Config{Addr: addr})
	def := testDefinition("sales@example.com")
	def.Destinations.EmailSubject = "Hello\r\nBcc: victim@example.org\r\n\r\nbody"
	def.Destinations.EmailPreheader = "pre\r\nX-Evil: 1"
	f := testFiring()
	f.TriggerName = "name\nX-Evil: 2"
	f.ID = "mtf_1\r\nX-Evil: 3"
	if err := send(t, n, f, def, false); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := onlyMessage(t, r)
	if strings.Join(got.to, ",") != "sales@example.com" {
		t.Errorf("RCPT TO = %v", got.to)
	}
	p := parse(t, got.data)
	for key := range p.header {
		switch key {
		case "From", "To", "Subject", "Date", "Message-Id", "Mime-Version", "X-Leadvibe-Firing-Id", "Content-Type":
		default:
			t.Errorf("unexpected header %q: %q", key, p.header[key])
		}
	}
	if got := decodeHeader(t, p.header.Get("Subject")); got != "Hello Bcc: victim@example.org body" {
		t.Errorf("Subject = %q", got)
	}
	if got := p.header.Get("Message-ID"); got != "<mtf_1=0D=0AX-Evil=3A=203@milestone-triggers.leadvibe.io>" {
		t.Errorf("Message-ID = %q", got)
	}
}

func TestSameMessageIDOnRetries(t *testing.T) {
	r := &relay{}
	addr := startRelay(t, r, nil)
	n := newTestNotifier(t, Config{Addr: addr})
	def := testDefinition("sales@example.com")
	for attempt := 1; attempt <= 2; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := n.Send(ctx, notify.Delivery{Firing: testFiring(), Trigger: def, Attempt: attempt, Now: testNow.Add(time.Duration(attempt) * time.Minute)})
		cancel()
		if err != nil {
			t.Fatalf("attempt %d: %v", attempt, err)
		}
	}
	msgs := r.received()
	if len(msgs) != 2 {
		t.Fatalf("received %d messages, want 2", len(msgs))
	}
	id1 := parse(t, msgs[0].data).header.Get("Message-ID")
	id2 := parse(t, msgs[1].data).header.Get("Message-ID")
	if id1 == "" || id1 != id2 {
		t.Errorf("Message-IDs %q and %q, want the same", id1, id2)
	}
}

func TestNonASCIISubject(t *testing.T) {
	r := &relay{}
	addr := startRelay(t, r, nil)
	n := newTestNotifier(t, Config{Addr: addr})
	def := testDefinition("sales@example.com")
	def.Destinations.EmailSubject = "Lead très chaud 🔥 — " + strings.Repeat("überlang ", 20)
	if err := send(t, n, testFiring(), def, false); err != nil {
		t.Fatalf("Send: %v", err)
	}
	raw := onlyMessage(t, r).data
	headerEnd := strings.Index(string(raw), "\r\n\r\n")
	for _, line := range strings.Split(string(raw[:headerEnd]), "\r\n") {
		if len(line) > maxHeaderLine {
			t.Errorf("header line of %d bytes: %q", len(line), line)
		}
		for _, c := range []byte(line) {
			if c >= 0x80 {
				t.Fatalf("non-ASCII byte in header line %q", line)
			}
		}
	}
	p := parse(t, raw)
	if !strings.HasPrefix(p.header.Get("Subject"), "=?utf-8?q?") {
		t.Errorf("Subject not Q-encoded: %q", p.header.Get("Subject"))
	}
	if got := decodeHeader(t, p.header.Get("Subject")); got != strings.TrimSpace(def.Destinations.EmailSubject) {
		t.Errorf("Subject = %q, want %q", got, def.Destinations.EmailSubject)
	}
}

func TestStartTLSAlways(t *testing.T) {
	serverTLS, clientTLS := selfSignedTLS(t)
	r := &relay{}
	addr := startRelay(t, r, serverTLS)
	n := newTestNotifier(t, Config{Addr: addr, StartTLS: StartTLSAlways, TLSConfig: clientTLS})
	if err := send(t, n, testFiring(), testDefinition("sales@example.com"), false); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if !onlyMessage(t, r).tls {
		t.Errorf("message not received over TLS")
	}
}

func TestStartTLSAutoUsesTLSWhenOffered(t *testing.T) {
	serverTLS, clientTLS := selfSignedTLS(t)
	r := &relay{}
	addr := startRelay(t, r, serverTLS)
	n := newTestNotifier(t, Config{Addr: addr, TLSConfig: clientTLS})
	if err := send(t, n, testFiring(), testDefinition("sales@example.com"), false); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if !onlyMessage(t, r).tls {
		t.Errorf("message not received over TLS")
	}
}

func TestStartTLSAlwaysNotOffered(t *testing.T) {
	r := &relay{}
	addr := startRelay(t, r, nil)
	n := newTestNotifier(t, Config{Addr: addr, StartTLS: StartTLSAlways})
	err := send(t, n, testFiring(), testDefinition("sales@example.com"), false)
	if err == nil || !notify.IsRetryable(err) || !strings.Contains(err.Error(), "STARTTLS") {
		t.Fatalf("Send = %v, want a retryable STARTTLS error", err)
	}
	if len(r.received()) != 0 {
		t.Errorf("a message was delivered without TLS")
	}
}

func TestStartTLSUntrustedCertificate(t *testing.T) {
	serverTLS, _ := selfSignedTLS(t)
	r := &relay{}
	addr := startRelay(t, r, serverTLS)
	n := newTestNotifier(t, Config{Addr: addr, StartTLS: StartTLSAlways})
	err := send(t, n, testFiring(), testDefinition("sales@example.com"), false)
	if err == nil || len(r.received()) != 0 {
		t.Fatalf("Send = %v with an untrusted certificate, want an error and nothing delivered", err)
	}
}

func TestAuthPlain(t *testing.T) {
	serverTLS, clientTLS := selfSignedTLS(t)
	r := &relay{username: "mailer", password: "s3cret"}
	addr := startRelay(t, r, serverTLS)

	t.Run("good credentials", func(t *testing.T) {
		n := newTestNotifier(t, Config{Addr: addr, Username: "mailer", Password: "s3cret", StartTLS: StartTLSAlways, TLSConfig: clientTLS})
		if err := send(t, n, testFiring(), testDefinition("sales@example.com"), false); err != nil {
			t.Fatalf("Send: %v", err)
		}
		got := onlyMessage(t, r)
		if got.authUser != "mailer" || !got.tls {
			t.Errorf("received as user %q, TLS %v; want mailer over TLS", got.authUser, got.tls)
		}
	})
	t.Run("bad credentials", func(t *testing.T) {
		n := newTestNotifier(t, Config{Addr: addr, Username: "mailer", Password: "wrong", TLSConfig: clientTLS})
		err := send(t, n, testFiring(), testDefinition("sales@example.com"), false)
		if err == nil || notify.IsRetryable(err) || notify.StatusCode(err) != 535 {
			t.Fatalf("Send = %v (status %d), want a permanent 535", err, notify.StatusCode(err))
		}
		if strings.Contains(err.Error(), "wrong") {
			t.Errorf("the error repeats the password: %v", err)
		}
	})
	t.Run("no credentials", func(t *testing.T) {
		n := newTestNotifier(t, Config{Addr: addr, TLSConfig: clientTLS})
		err := send(t, n, testFiring(), testDefinition("sales@example.com"), false)
		if err == nil || notify.IsRetryable(err) || notify.StatusCode(err) != 502 {
			t.Fatalf("Send = %v, want a permanent 502", err)
		}
	})
}

func smtpErr(code int, msg string) *smtp.SMTPError {
	return &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCodeNotSet, Message: msg}
}

func TestClassification(t *testing.T) {
	tests := []struct {
		name      string
		relay     *relay
		emails    []string
		permanent bool
		status    int
		delivered []string // recipients the relay got the message for
		mention   string   // the error names it
		detail    string   // the relay's words: in Detail, never in the error
	}{
		{
			name:   "451 to MAIL",
			relay:  &relay{mailErr: smtpErr(451, "try again later")},
			emails: []string{"a@example.com"},
			status: 451, mention: "the SMTP relay answered 451 to MAIL FROM", detail: "try again later",
		},
		{
			name:   "451 to one RCPT aborts the transaction",
			relay:  &relay{rcptErr: map[string]error{"b@example.com": smtpErr(451, "greylisted")}},
			emails: []string{"a@example.com", "b@example.com"},
			status: 451, mention: "the SMTP relay answered 451 to RCPT TO b@example.com", detail: "greylisted",
		},
		{
			name:      "550 to one RCPT: the others get it, the refusal is reported",
			relay:     &relay{rcptErr: map[string]error{"b@example.com": smtpErr(550, "no such user")}},
			emails:    []string{"a@example.com", "b@example.com", "c@example.com"},
			permanent: true, status: 550,
			delivered: []string{"a@example.com", "c@example.com"},
			mention:   "the SMTP relay delivered to 2 of 3 recipients and refused b@example.com (550)",
			detail:    "no such user",
		},
		{
			name:      "550 to every RCPT",
			relay:     &relay{rcptErr: map[string]error{"a@example.com": smtpErr(550, "no such user")}},
			emails:    []string{"a@example.com"},
			permanent: true, status: 550, mention: "the SMTP relay refused every recipient: a@example.com (550)",
			detail: "no such user",
		},
		{
			name:      "554 to DATA",
			relay:     &relay{dataErr: smtpErr(554, "rejected as spam")},
			emails:    []string{"a@example.com"},
			permanent: true, status: 554, mention: "the SMTP relay answered 554 to DATA", detail: "rejected as spam",
		},
		{
			name:   "452 to DATA",
			relay:  &relay{dataErr: smtpErr(452, "mailbox full")},
			emails: []string{"a@example.com"},
			status: 452, mention: "the SMTP relay answered 452 to DATA", detail: "mailbox full",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := startRelay(t, tt.relay, nil)
			n := newTestNotifier(t, Config{Addr: addr})
			err := send(t, n, testFiring(), testDefinition(tt.emails...), false)
			if err == nil {
				t.Fatal("Send succeeded")
			}
			if got := !notify.IsRetryable(err); got != tt.permanent {
				t.Errorf("permanent = %v, want %v: %v", got, tt.permanent, err)
			}
			if got := notify.StatusCode(err); got != tt.status {
				t.Errorf("status = %d, want %d: %v", got, tt.status, err)
			}
			if !strings.Contains(err.Error(), tt.mention) {
				t.Errorf("error %q does not mention %q", err, tt.mention)
			}
			if strings.Contains(err.Error(), tt.detail) || strings.Contains(err.Error(), addr) {
				t.Errorf("error %q repeats the relay's reply or address", err)
			}
			if !strings.Contains(notify.Detail(err), tt.detail) {
				t.Errorf("detail %q, want the relay's reply %q for the logs", notify.Detail(err), tt.detail)
			}
			var got []string
			for _, m := range tt.relay.received() {
				got = append(got, m.to...)
			}
			if strings.Join(got, ",") != strings.Join(tt.delivered, ",") {
				t.Errorf("delivered to %v, want %v", got, tt.delivered)
			}
		})
	}
}

func TestRelayDown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	n := newTestNotifier(t, Config{Addr: addr})
	err = send(t, n, testFiring(), testDefinition("a@example.com"), false)
	if err == nil || !notify.IsRetryable(err) || notify.StatusCode(err) != 0 {
		t.Fatalf("Send = %v, want a retryable error without status", err)
	}
	if want := "connecting to the SMTP relay failed: connection refused"; err.Error() != want {
		t.Fatalf("Send = %q, want %q", err, want)
	}
}

func TestRelayHangsUntilDeadline(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	// Accept, and never greet.
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { _ = c.Close() })
		}
	}()
	n := newTestNotifier(t, Config{Addr: l.Addr().String()})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = n.Send(ctx, notify.Delivery{Firing: testFiring(), Trigger: testDefinition("a@example.com"), Attempt: 1, Now: testNow})
	if err == nil || !notify.IsRetryable(err) {
		t.Fatalf("Send = %v, want a retryable error", err)
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("Send took %v past a 200ms deadline", elapsed)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v does not wrap the deadline", err)
	}
	if want := "the SMTP relay failed at greeting: timed out after 200ms"; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
}

func TestSendInvalidRecipient(t *testing.T) {
	r := &relay{}
	addr := startRelay(t, r, nil)
	n := newTestNotifier(t, Config{Addr: addr})
	for _, emails := range [][]string{{"not an address"}, {}} {
		err := send(t, n, testFiring(), testDefinition(emails...), false)
		if err == nil || notify.IsRetryable(err) {
			t.Errorf("Send to %q = %v, want a permanent error", emails, err)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sessions != 0 {
		t.Errorf("the relay was contacted for an invalid destination")
	}
}
