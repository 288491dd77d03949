package safehttp

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/leadvibe/milestone-triggers-operator/internal/notify"
)

// FuzzParseRetryAfter checks that any header value a receiver sends gives
// a delay between 0 and MaxRetryAfter.
func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"", "0", "120", "-1", "Wed, 15 Jan 2025 10:35:00 GMT", "99999999999999999999"} {
		f.Add(s)
	}
	now := time.Date(2025, 1, 15, 10, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, v string) {
		if d := ParseRetryAfter(v, now); d < 0 || d > MaxRetryAfter {
			t.Fatalf("ParseRetryAfter(%q) = %v", v, d)
		}
	})
}

// FuzzParseCIDRs checks that every prefix ParseCIDRs accepts is valid,
// masked and not IPv4-mapped.
func FuzzParseCIDRs(f *testing.F) {
	for _, s := range []string{"169.254.0.0/16,fe80::/10", "::ffff:10.0.0.0/104", " , ", "1.2.3.4/33"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		prefixes, err := ParseCIDRs(s)
		if err != nil {
			return
		}
		for _, p := range prefixes {
			if !p.IsValid() || p != p.Masked() || (p.Addr().Is4In6() && p.Bits() >= 96) {
				t.Fatalf("ParseCIDRs(%q) gave %v", s, p)
			}
		}
	})
}

// FuzzClassifyResponse checks, for any answer a receiver sends (status,
// Retry-After, body), that the error's message is the operator's fixed
// words for the status and nothing of the body, and that the log-only
// Detail is bounded, valid UTF-8 and on one line.
func FuzzClassifyResponse(f *testing.F) {
	f.Add(503, "120", []byte(`{"error":"MARKER"}`))
	f.Add(302, "", []byte("Moved to http://10.0.0.7/"))
	f.Add(429, "Wed, 15 Jan 2025 10:35:00 GMT", []byte("slow down\r\n\x00\xff"))
	f.Add(418, "x", []byte(strings.Repeat("é", 500)))
	f.Add(200, "", []byte("ok"))
	f.Fuzz(func(t *testing.T, code int, retryAfter string, body []byte) {
		if code < 100 || code > 999 {
			return
		}
		resp := &http.Response{
			StatusCode: code,
			Header:     http.Header{"Retry-After": {retryAfter}, "Date": {"Wed, 15 Jan 2025 10:00:00 GMT"}},
			Body:       io.NopCloser(bytes.NewReader(body)),
		}
		err := Classify(resp, nil)
		if code >= 200 && code <= 299 {
			if err != nil {
				t.Fatalf("status %d: %v", code, err)
			}
			return
		}
		want := "the receiver answered " + statusText(code)
		after := notify.RetryAfter(err)
		switch {
		case code >= 300 && code <= 399:
			want += "; redirects are not followed"
		case after > 0:
			want += fmt.Sprintf(" with Retry-After %s", after)
		}
		if err == nil || err.Error() != want {
			t.Fatalf("status %d, body %q: error %v, want %q", code, body, err, want)
		}
		d := notify.Detail(err)
		if len(d) > maxSnippet+len("…") || !utf8.ValidString(d) || strings.ContainsAny(d, "\r\n\x00") {
			t.Fatalf("detail %q is not a bounded single line", d)
		}
	})
}
