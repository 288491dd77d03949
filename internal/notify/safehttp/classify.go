package safehttp

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/leadvibe/milestone-triggers-operator/internal/notify"
	"github.com/leadvibe/milestone-triggers-operator/internal/triggerset"
)

// Limits of response handling.
const (
	// MaxBodyRead bounds how much of a response body is read, to let the
	// connection be reused, before it is closed.
	MaxBodyRead = 64 << 10
	// MaxRetryAfter caps the delay a receiver may ask for.
	MaxRetryAfter = 24 * time.Hour
	// maxSnippet bounds the part of a failed response's body quoted in
	// the error.
	maxSnippet = 200
)

// Classify turns the outcome of one request into what a Notifier's Send
// returns: nil for a 2xx response; a retryable *notify.Error for 408, 429
// and 5xx (with the receiver's Retry-After), for timeouts and for
// connection errors; a permanent one for any other status, 3xx included,
// and for a refused target (ErrDenied). It drains and closes the body of
// resp, reading at most MaxBodyRead bytes. No error it returns contains the
// path, query or user info of the request's URL.
func Classify(resp *http.Response, err error) error {
	if err != nil {
		if resp != nil && resp.Body != nil {
			drain(resp.Body)
		}
		return classifyError(err)
	}
	if resp == nil {
		return &notify.Error{Err: errors.New("no response")}
	}
	return classifyResponse(resp)
}

// classifyError classifies a transport error, redacting the URL that
// *url.Error puts in its message.
func classifyError(err error) error {
	err = redactError(err)
	if errors.Is(err, ErrDenied) {
		return &notify.Error{Err: err, Permanent: true}
	}
	return &notify.Error{Err: err}
}

// classifyResponse classifies a response by its status.
func classifyResponse(resp *http.Response) error {
	body := drain(resp.Body)
	code := resp.StatusCode
	if code >= 200 && code <= 299 {
		return nil
	}
	var u *url.URL
	where := "the receiver"
	if resp.Request != nil && resp.Request.URL != nil {
		u = resp.Request.URL
		where = triggerset.RedactURL(u.String())
	}
	msg := fmt.Sprintf("%s answered %s", where, statusText(code))
	if code >= 300 && code <= 399 {
		msg += " (redirects are not followed)"
	} else if s := snippet(body, u); s != "" {
		msg += ": " + s
	}
	e := &notify.Error{Err: errors.New(msg), StatusCode: code}
	if retryableStatus(code) {
		e.RetryAfter = ParseRetryAfter(resp.Header.Get("Retry-After"), responseTime(resp))
	} else {
		e.Permanent = true
	}
	return e
}

// retryableStatus reports whether a failure with the HTTP status code may
// be retried.
func retryableStatus(code int) bool {
	return code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500 && code <= 599
}

func statusText(code int) string {
	if t := http.StatusText(code); t != "" {
		return fmt.Sprintf("%d %s", code, t)
	}
	return fmt.Sprintf("status %d", code)
}

// responseTime is the response's Date, the clock an HTTP-date Retry-After
// is relative to, or else the local time.
func responseTime(resp *http.Response) time.Time {
	if t, err := http.ParseTime(resp.Header.Get("Date")); err == nil {
		return t
	}
	return time.Now()
}

// drain reads up to MaxBodyRead bytes of body, closes it and returns what
// it read.
func drain(body io.ReadCloser) []byte {
	if body == nil {
		return nil
	}
	b, _ := io.ReadAll(io.LimitReader(body, MaxBodyRead))
	_ = body.Close()
	return b
}

// snippet returns the start of a response body fit for an error message:
// printable, on one line, cut short, with anything secret from u removed
// in case the receiver echoed the request.
func snippet(body []byte, u *url.URL) string {
	if len(body) > 4*maxSnippet {
		body = body[:4*maxSnippet]
	}
	s := strings.ToValidUTF8(string(body), "")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.IsSpace(r) {
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	s = scrub(s, u)
	if len(s) > maxSnippet {
		n := maxSnippet
		for n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		s = s[:n] + "…"
	}
	return s
}
