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

	"github.com/leadvibe/milestone-triggers-operator/internal/notify"
	"github.com/leadvibe/milestone-triggers-operator/internal/text"
)

// Limits of response handling.
const (
	// MaxBodyRead bounds how much of a response body is read, to let the
	// connection be reused, before it is closed.
	MaxBodyRead = 64 << 10
	// MaxRetryAfter caps the delay a receiver may ask for.
	MaxRetryAfter = 24 * time.Hour
	// maxSnippet bounds the part of a failed response's body kept in the
	// error's Detail, for the operator's logs.
	maxSnippet = 200
)

// DeniedReason is the message of an attempt refused because its target's
// address is denied: it names neither the address nor the range, which
// would tell a tenant what its host name resolves to inside the cluster.
const DeniedReason = "the target address is not allowed (--webhook-deny-cidrs)"

// Classify turns the outcome of one request into what a Notifier's Send
// returns: nil for a 2xx response; a retryable *notify.Error for 408, 429
// and 5xx (with the receiver's Retry-After), for timeouts and for
// connection errors; a permanent one for any other status, 3xx included,
// and for a refused target (ErrDenied). It drains and closes the body of
// resp, reading at most MaxBodyRead bytes.
//
// The error's message is a fixed reason written here, with the status
// code and any Retry-After: never the receiver's body or headers, nor the
// transport error's text, which can hold resolved addresses. A redacted
// excerpt of either goes to the error's Detail, for the operator's logs.
// Nothing it returns contains the path, query or user info of the
// request's URL.
func Classify(resp *http.Response, err error) error {
	return classify(resp, err, 0)
}

// classify is Classify with the attempt's time allowance, for the reason
// of a timeout (0 when it is not known).
func classify(resp *http.Response, err error, budget time.Duration) error {
	if err != nil {
		if resp != nil && resp.Body != nil {
			drain(resp.Body)
		}
		return classifyError(err, budget)
	}
	if resp == nil {
		return &notify.Error{Err: errors.New("the receiver sent no response")}
	}
	return classifyResponse(resp)
}

// classifyError classifies a transport error, keeping its text, with the
// URL that *url.Error puts in it redacted, for Detail only.
func classifyError(err error, budget time.Duration) error {
	detail := redactError(err).Error()
	cause := err
	var ue *url.Error
	if errors.As(err, &ue) && ue.Err != nil {
		cause = ue.Err
	}
	if errors.Is(err, ErrDenied) {
		return &notify.Error{Err: notify.Because(DeniedReason, cause), Permanent: true, Detail: detail}
	}
	return &notify.Error{Err: notify.Because(notify.TransportReason(cause, budget), cause), Detail: detail}
}

// classifyResponse classifies a response by its status.
func classifyResponse(resp *http.Response) error {
	body := drain(resp.Body)
	code := resp.StatusCode
	if code >= 200 && code <= 299 {
		return nil
	}
	var u *url.URL
	if resp.Request != nil {
		u = resp.Request.URL
	}
	e := &notify.Error{StatusCode: code, Detail: snippet(body, u)}
	msg := "the receiver answered " + statusText(code)
	switch {
	case code >= 300 && code <= 399:
		msg += "; redirects are not followed"
		e.Permanent = true
	case retryableStatus(code):
		e.RetryAfter = ParseRetryAfter(resp.Header.Get("Retry-After"), responseTime(resp))
		if e.RetryAfter > 0 {
			msg += fmt.Sprintf(" with Retry-After %s", e.RetryAfter)
		}
	default:
		e.Permanent = true
	}
	e.Err = errors.New(msg)
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

// snippet returns the start of a response body fit for a log line:
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
	s = text.ClipBytes(s, maxSnippet)

	return s
}
