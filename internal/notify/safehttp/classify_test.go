package safehttp

import (
	"context"
	"errors"
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
			w.Write([]byte("oops"))
		}))
		err := Post(context.Background(), NewClient(nil, 5*time.Second), srv.URL+"/hook?token=s3cr3t", nil, []byte("{}"))
		srv.Close()

		if tt.status < 300 {
			if err != nil {
				t.Errorf("status %d: err = %v, want success", tt.status, err)
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
		io.Copy(io.Discard, r.Body) // so that the server notices the client leave
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer slow.Close()

	c := NewClient(DefaultDeny, 0)
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
	}{
		{"connection refused", ctx, refused, true, nil},
		{"slow server", short, slow.URL + "/hook?token=s3cr3t", true, context.DeadlineExceeded},
		{"denied target", ctx, "http://169.254.169.254/hook?token=s3cr3t", false, ErrDenied},
		{"not http", ctx, "ftp://example.com/s3cr3t", false, nil},
		{"not a URL", ctx, "https://exa mple.com/s3cr3t", false, nil},
		{"relative", ctx, "/s3cr3t", false, nil},
	}
	for _, tt := range tests {
		err := Post(tt.ctx, c, tt.url, nil, []byte("{}"))
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
		for _, secret := range []string{"s3cr3t", "pa55word", "user:"} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("%s: error %q contains %q", tt.name, err, secret)
			}
		}
	}
}

func TestClassifyRedactsEchoedURL(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte("bad request to " + r.URL.RequestURI() + "\n\x00 more"))
	}))
	defer srv.Close()

	err := Post(context.Background(), NewClient(nil, 5*time.Second), srv.URL+"/services/T000/B000/XXXXsecret?token=s3cr3t", nil, nil)
	if err == nil || strings.Contains(err.Error(), "XXXXsecret") || strings.Contains(err.Error(), "s3cr3t") {
		t.Fatalf("err = %v, want a failure that does not echo the URL", err)
	}
	if !strings.Contains(err.Error(), "400 Bad Request: bad request to <redacted>") {
		t.Fatalf("err = %q, want the status and the scrubbed body", err)
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
	if err := Post(context.Background(), NewClient(nil, 5*time.Second), srv.URL, h, []byte(`{"a":1}`)); err != nil {
		t.Fatal(err)
	}
	r := <-got
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" || r.Header.Get("Webhook-Id") != "msg_1" {
		t.Fatalf("request = %s %v", r.Method, r.Header)
	}
}
