package sink

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/smtp"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/leadvibe/milestone-triggers-operator/internal/notify/webhook"
)

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestMailSinkStoresEachMessage(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "mail")
	var notices syncBuffer
	s, err := StartMailSink("127.0.0.1:0", dir, &notices)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	}()
	msg := "From: triggers@example.com\r\nTo: sales@example.com\r\nSubject: =?utf-8?q?Hot_Lead_Alert_=E2=80=94_ld=5F123?=\r\n\r\nScore 82.\r\n"
	for i := range 2 {
		to := []string{"sales@example.com", "ops" + strconv.Itoa(i) + "@example.com"}
		if err := smtp.SendMail(s.Addr, nil, "triggers@example.com", to, []byte(msg)); err != nil {
			t.Fatalf("sending message %d: %v", i+1, err)
		}
	}
	if got := s.Count(); got != 2 {
		t.Fatalf("Count() = %d, want 2", got)
	}
	data, err := os.ReadFile(filepath.Join(dir, "0002.eml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "Score 82.") {
		t.Errorf("0002.eml = %q, want the message", data)
	}
	want := `mail: from triggers@example.com to sales@example.com, ops1@example.com, subject "Hot Lead Alert — ld_123": ` + filepath.Join(dir, "0002.eml") + "\n"
	if lines := strings.SplitAfter(notices.String(), "\n"); len(lines) < 2 || lines[1] != want {
		t.Errorf("notices = %q, want the second line %q", notices.String(), want)
	}
}

func TestReceiverVerifiesSignatures(t *testing.T) {
	const secret = "whsec_bGVhZHZpYmUtZGVtby1zaWduaW5nLWtleS0zMmJ5dGU="
	const other = "whsec_b3RoZXItc2lnbmluZy1rZXktb2YtMzItYnl0ZXMhIQ=="
	body := []byte(`{"trigger":{"id":"local-hook"},"score":82}`)
	for _, tc := range []struct {
		name, secret, signWith, want string
	}{
		{name: "valid", secret: secret, signWith: secret, want: "signature: valid"},
		{name: "another key", secret: secret, signWith: other, want: "signature: INVALID: "},
		{name: "no secret", signWith: other, want: "signature: not checked (no secret)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, notices syncBuffer
			rc := &Receiver{Secret: tc.secret, Out: &out, Notices: &notices, Where: "webhooks.log"}
			srv := httptest.NewServer(rc)
			defer srv.Close()
			now := time.Now()
			sig, err := webhook.Sign([]string{tc.signWith}, "mtf_1", now, body)
			if err != nil {
				t.Fatal(err)
			}
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/leadvibe", bytes.NewReader(body))
			req.Header.Set("webhook-id", "mtf_1")
			req.Header.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
			req.Header.Set("webhook-signature", sig)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusNoContent {
				t.Errorf("status %d, want 204", resp.StatusCode)
			}
			if !strings.Contains(out.String(), "POST /leadvibe\n  webhook-id: mtf_1\n") || !strings.Contains(out.String(), tc.want) ||
				!strings.Contains(out.String(), "  body: "+string(body)+"\n") {
				t.Errorf("out = %q, want the delivery and %q", out.String(), tc.want)
			}
			if !strings.HasPrefix(notices.String(), "webhook: POST /leadvibe, webhook-id mtf_1, ") || !strings.HasSuffix(notices.String(), ": webhooks.log\n") {
				t.Errorf("notices = %q", notices.String())
			}
			if rc.Count() != 1 {
				t.Errorf("Count() = %d, want 1", rc.Count())
			}
		})
	}
}
