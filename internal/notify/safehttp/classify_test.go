package safehttp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/leadvibe/milestone-triggers-operator/internal/notify"
)

func TestPostClassifiesStatuses(t *testing.T) {
	date := time.Date(2025, 1, 15, 10, 35, 0, 0, time.UTC)
	tests := []struct {
		status     int
		retryAfter string
		retryable  bool
		wantAfter  time.Duration
	}{
		{200, "", true, 0},
		{202, "", true, 0},
		{204, "", true, 0},
		{500, "", true, 0},
		{502, "", true, 0},
		{503, "120", true, 120 * time.Second},
		{408, "", true, 0},
		{429, date.Add(90 * time.Second).Format(http.TimeFormat), true, 90 * time.Second},
		{429, "999999999", true, MaxRetryAfter},
		{400, "", false, 0},
		{401, "", false, 0},
		{404, "", false, 0},
		{410, "", false, 0},
		{301, "", false, 0},
		{302, "", false, 0},
	}
	for _, tt := range tests {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Date", date.Format(http.TimeFormat))
			if tt.retryAfter != "" {
				w.Header().Set("Retry-After", tt.retryAfter)
			}
			if tt.status >= 300 && tt.status < 400 {
				w.Header().Set("Location", "https://elsewhere.example/?token=s3cr3t")
			}
			w.WriteHeader(tt.status)
			_, _ = w.Write([]byte("oops"))
		}))
		res, err := Post(context.Background(), NewClient(Policy{}, 5*time.Second), srv.URL+"/hook?token=s3cr3t", nil, []byte("{}"))
		srv.Close()

		if tt.status < 300 {
			if err != nil || res.StatusCode != tt.status {
				t.Errorf("status %d: result %+v, err = %v, want success with the status", tt.status, res, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("status %d: success, want a failure", tt.status)
			continue
		}
		if got := notify.IsRetryable(err); got != tt.retryable {
			t.Errorf("status %d: retryable = %v, want %v (%v)", tt.status, got, tt.retryable, err)
		}
		if got := notify.RetryAfter(err); got != tt.wantAfter {
			t.Errorf("status %d: RetryAfter = %v, want %v", tt.status, got, tt.wantAfter)
		}
		if got := notify.StatusCode(err); got != tt.status {
			t.Errorf("status %d: StatusCode = %d", tt.status, got)
		}
		if strings.Contains(err.Error(), "s3cr3t") || strings.Contains(err.Error(), "/hook") {
			t.Errorf("status %d: error %q leaks the URL", tt.status, err)
		}
	}
}

func TestPostTransportErrors(t *testing.T) {
	// A port nothing listens on: take one, then close it.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://user:pa55word@" + l.Addr().String() + "/hook/s3cr3t?token=s3cr3t"
	l.Close()

	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // so that the server notices the client leave
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer slow.Close()

	c := NewClient(Policy{Deny: DefaultDeny, Allow: loopback1}, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	short, cancelShort := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancelShort()

	tests := []struct {
		name      string
		ctx       context.Context
		url       string
		retryable bool
		is        error
		reason    string
	}{
		{"connection refused", ctx, refused, true, nil, "connection refused"},
		{"slow server", short, slow.URL + "/hook?token=s3cr3t", true, context.DeadlineExceeded, "timed out after 100ms"},
		{"denied target", ctx, "http://169.254.169.254/hook?token=s3cr3t", false, ErrDenied, DeniedReason},
		{"denied loopback", ctx, "http://127.0.0.2/hook?token=s3cr3t", false, ErrDenied, DeniedReason},
		{"not http", ctx, "ftp://example.com/s3cr3t", false, nil, ""},
		{"not a URL", ctx, "https://exa mple.com/s3cr3t", false, nil, ""},
		{"relative", ctx, "/s3cr3t", false, nil, ""},
	}
	for _, tt := range tests {
		_, err := Post(tt.ctx, c, tt.url, nil, []byte("{}"))
		if err == nil {
			t.Errorf("%s: success, want a failure", tt.name)
			continue
		}
		if got := notify.IsRetryable(err); got != tt.retryable {
			t.Errorf("%s: retryable = %v, want %v (%v)", tt.name, got, tt.retryable, err)
		}
		if tt.is != nil && !errors.Is(err, tt.is) {
			t.Errorf("%s: err = %v, want one matching %v", tt.name, err, tt.is)
		}
		if tt.reason != "" && err.Error() != tt.reason {
			t.Errorf("%s: error %q, want the fixed reason %q", tt.name, err, tt.reason)
		}
		for _, secret := range []string{"s3cr3t", "pa55word", "user:", "127.0.0", "169.254"} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("%s: error %q contains %q", tt.name, err, secret)
			}
		}
	}
}

func TestClassifyRedactsEchoedURL(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte("bad request to " + r.URL.RequestURI() + "\n\x00 more"))
	}))
	defer srv.Close()

	_, err := Post(context.Background(), NewClient(Policy{}, 5*time.Second), srv.URL+"/services/T000/B000/XXXXsecret?token=s3cr3t", nil, nil)
	if err == nil || err.Error() != "the receiver answered 400 Bad Request" {
		t.Fatalf("err = %v, want the status alone", err)
	}
	detail := notify.Detail(err)
	if strings.Contains(detail, "XXXXsecret") || strings.Contains(detail, "s3cr3t") {
		t.Fatalf("detail = %q echoes the URL", detail)
	}
	if detail != "bad request to <redacted>?<redacted> more" {
		t.Fatalf("detail = %q, want the scrubbed body", detail)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 1, 15, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{" 30 ", 30 * time.Second},
		{"86400", 24 * time.Hour},
		{"86401", MaxRetryAfter},
		{"99999999999999999999999", MaxRetryAfter},
		{"-5", 0},
		{"1.5", 0},
		{"soon", 0},
		{now.Add(time.Hour).Format(http.TimeFormat), time.Hour},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0},
		{now.Add(48 * time.Hour).Format(http.TimeFormat), MaxRetryAfter},
	}
	for _, tt := range tests {
		if got := ParseRetryAfter(tt.in, now); got != tt.want {
			t.Errorf("ParseRetryAfter(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestPostSendsHeadersAndBody(t *testing.T) {
	got := make(chan *http.Request, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()

	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h["webhook-id"] = []string{"msg_1"}
	if _, err := Post(context.Background(), NewClient(Policy{}, 5*time.Second), srv.URL, h, []byte(`{"a":1}`)); err != nil {
		t.Fatal(err)
	}
	r := <-got
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" || r.Header.Get("Webhook-Id") != "msg_1" {
		t.Fatalf("request = %s %v", r.Method, r.Header)
	}
}

// marker is what a hostile receiver puts in every part of its answer;
// it must never reach an error's message.
const marker = "MARKER-7f3a9c-ETCD-SECRET"

// TestReceiverNeverEchoed has a real receiver answer with the marker in
// its body, its reason phrase and its headers, and checks that the
// errors carry the operator's fixed words and the status code only,
// with the body kept in Detail.
func TestReceiverNeverEchoed(t *testing.T) {
	tests := []struct {
		status int
		want   string
	}{
		{400, "the receiver answered 400 Bad Request"},
		{401, "the receiver answered 401 Unauthorized"},
		{404, "the receiver answered 404 Not Found"},
		{418, "the receiver answered 418 I'm a teapot"},
		{299, ""},
		{302, "the receiver answered 302 Found; redirects are not followed"},
		{429, "the receiver answered 429 Too Many Requests with Retry-After 2m0s"},
		{500, "the receiver answered 500 Internal Server Error"},
		{503, "the receiver answered 503 Service Unavailable with Retry-After 2m0s"},
		{599, "the receiver answered status 599"},
	}
	for _, tt := range tests {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			conn, buf, err := w.(http.Hijacker).Hijack()
			if err != nil {
				t.Error(err)
				return
			}
			defer conn.Close()
			// A raw answer, so that the reason phrase is the receiver's too.
			body := "{\"error\":\"" + marker + "\"}"
			fmt.Fprintf(buf, "HTTP/1.1 %d %s\r\nX-Debug: %s\r\nLocation: http://%s.example/\r\nWWW-Authenticate: Basic realm=%q\r\n", tt.status, marker, marker, marker, marker)
			if tt.status == 429 || tt.status == 503 {
				_, _ = buf.WriteString("Retry-After: 120\r\n")
			}
			fmt.Fprintf(buf, "Content-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body)
			buf.Flush()
		}))
		_, err := Post(context.Background(), NewClient(Policy{}, 5*time.Second), srv.URL+"/hook", nil, []byte("{}"))
		srv.Close()
		if tt.want == "" {
			if err != nil {
				t.Errorf("status %d: %v, want success", tt.status, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("status %d: success, want a failure", tt.status)
			continue
		}
		if err.Error() != tt.want {
			t.Errorf("status %d: error %q, want %q", tt.status, err, tt.want)
		}
		if strings.Contains(err.Error(), marker) || strings.Contains(fmt.Sprintf("%v %+v", err, err), marker) {
			t.Errorf("status %d: error %q echoes the receiver", tt.status, err)
		}
		if got := notify.StatusCode(err); got != tt.status {
			t.Errorf("status %d: StatusCode = %d", tt.status, got)
		}
		if tt.status != 302 && !strings.Contains(notify.Detail(err), marker) {
			t.Errorf("status %d: detail = %q, want the body's excerpt for the logs", tt.status, notify.Detail(err))
		}
	}
}

// TestTransportReasons checks the fixed reasons of failures below HTTP
// against real servers: none repeats the error's own text, which names
// the resolved address.
func TestTransportReasons(t *testing.T) {
	untrusted := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer untrusted.Close()
	plain := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer plain.Close()
	hangUp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	defer hangUp.Close()

	c := NewClient(Policy{Deny: DefaultDeny, Allow: loopback1}, 5*time.Second)
	tests := []struct {
		name, url, want string
	}{
		{"untrusted certificate", untrusted.URL + "/hook", "TLS handshake failed: the certificate is not signed by a trusted authority"},
		{"not TLS", strings.Replace(plain.URL, "http://", "https://", 1) + "/hook", "TLS handshake failed: the receiver does not speak TLS"},
		{"hang-up", hangUp.URL + "/hook", "the connection was closed before an answer"},
		{"no such host", "http://no-such-host.invalid/hook", "DNS lookup failed"},
	}
	for _, tt := range tests {
		_, err := Post(context.Background(), c, tt.url, nil, []byte("{}"))
		if err == nil {
			t.Errorf("%s: success, want a failure", tt.name)
			continue
		}
		if !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("%s: error %q (detail %q), want %q", tt.name, err, notify.Detail(err), tt.want)
		}
		if strings.Contains(err.Error(), "127.0.0.1") || strings.Contains(err.Error(), "invalid") {
			t.Errorf("%s: error %q repeats the cause", tt.name, err)
		}
		if !notify.IsRetryable(err) {
			t.Errorf("%s: permanent, want retryable", tt.name)
		}
	}
}
