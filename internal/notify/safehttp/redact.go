package safehttp

import (
	"errors"
	"net/url"
	"strings"

	"github.com/leadvibe/milestone-triggers-operator/internal/triggerset"
)

// redactedError is a transport error whose message names the URL without
// its path, query or user info. It unwraps to the cause, so errors.Is still
// sees ErrDenied or context.DeadlineExceeded.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// redactError replaces the URL of a *url.Error in err with its redacted
// form and removes the URL's secret parts from the cause's message too.
func redactError(err error) error {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return err
	}
	u, _ := url.Parse(ue.URL)
	cause := "unknown error"
	if ue.Err != nil {
		cause = scrub(ue.Err.Error(), u)
	}
	return &redactedError{
		msg: ue.Op + " " + triggerset.RedactURL(ue.URL) + ": " + cause,
		err: ue.Err,
	}
}

// scrub replaces in s whatever of u could hold a credential: its path,
// query, fragment and user info.
func scrub(s string, u *url.URL) string {
	if u == nil {
		return s
	}
	var secrets []string
	if u.User != nil {
		secrets = append(secrets, u.User.String(), u.User.Username())
		if p, ok := u.User.Password(); ok {
			secrets = append(secrets, p)
		}
	}
	secrets = append(secrets, u.EscapedPath(), u.Path, u.RawQuery, u.Fragment)
	if q, err := url.QueryUnescape(u.RawQuery); err == nil {
		secrets = append(secrets, q)
	}
	for _, secret := range secrets {
		// A path of "/" or a one-letter user name reveals nothing, and
		// replacing it would garble the message.
		if len(secret) < 2 || secret == "/" {
			continue
		}
		s = strings.ReplaceAll(s, secret, "<redacted>")
	}
	return s
}
