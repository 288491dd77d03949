// Package notify delivers firings: one dispatcher that owns retries,
// timeouts, concurrency and dead letters, and one package per channel
// (webhook, email, slack, teams) behind the Notifier interface.
package notify

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/leadvibe/milestone-triggers-operator/internal/ledger"
	"github.com/leadvibe/milestone-triggers-operator/internal/triggerset"
)

// Channel names, as in the MilestoneTrigger status.
const (
	ChannelWebhook = "webhook"
	ChannelEmail   = "email"
	ChannelSlack   = "slack"
	ChannelTeams   = "teams"
)

// Delivery is one attempt to deliver one firing on one channel.
type Delivery struct {
	// Firing is what fired; Firing.ID is the delivery id, the same on
	// every attempt (the webhook-id header).
	Firing ledger.Firing
	// Trigger is the trigger's current definition, destinations resolved.
	Trigger triggerset.Definition
	// Attempt counts from 1.
	Attempt int
	// Now is the attempt's time (the webhook-timestamp).
	Now time.Time
	// Test marks a test notification sent on request (simulate); channels
	// say so in what they send.
	Test bool
}

// Notifier sends firings on one channel. It turns a delivery into a
// request and says whether a failure may be retried; it does not retry,
// time out on its own or limit concurrency: the dispatcher does.
type Notifier interface {
	// Channel is the channel's name (ChannelWebhook, ...).
	Channel() string
	// Configured reports whether the trigger has a destination on this
	// channel.
	Configured(t triggerset.Definition) bool
	// Send makes one attempt. On success it returns what the receiver
	// answered and a nil error; otherwise an error that IsRetryable,
	// RetryAfter and StatusCode classify. The context carries the
	// attempt's deadline.
	Send(ctx context.Context, d Delivery) (Result, error)
	// Destination describes the trigger's destination on this channel for
	// history and status, without credentials (for example a redacted URL,
	// or the email addresses).
	Destination(t triggerset.Definition) string
}

// Result is what the receiver answered an attempt that succeeded.
type Result struct {
	// StatusCode is the HTTP status (any 2xx) or the SMTP reply code (250)
	// of the answer.
	StatusCode int
}

// Error is a failed attempt, classified. Its message is what tenants read
// (status.deliveries[].lastError, the Delivering condition, history,
// simulate's test sends): a fixed reason written by the operator, with the
// status code and any Retry-After, never the receiver's body, headers or
// raw transport error text, which may quote them or name internal
// addresses. That text may go to Detail, for the operator's logs.
type Error struct {
	// Err says what happened, in the operator's words and without
	// credentials; its message is Error's. It may wrap the cause (so that
	// errors.Is sees context.DeadlineExceeded), as long as its own message
	// does not repeat the cause's.
	Err error
	// Permanent failures are not retried: a 4xx other than 408 and 429, a
	// refused target, a malformed destination.
	Permanent bool
	// RetryAfter is the receiver's Retry-After, when it sent one.
	RetryAfter time.Duration
	// StatusCode is the HTTP status or SMTP reply code, when there was one.
	StatusCode int
	// Detail is for the operator's logs only, at debug verbosity: a short,
	// redacted excerpt of the receiver's answer or of the transport error.
	// Error never includes it, and nothing a tenant can read may carry it.
	Detail string
}

// Error returns the operator's reason, never Detail.
func (e *Error) Error() string { return e.Err.Error() }

// Unwrap returns Err.
func (e *Error) Unwrap() error { return e.Err }

// Permanent wraps err as a failure that must not be retried.
func Permanent(err error) error { return &Error{Err: err, Permanent: true} }

// Permanentf formats a failure that must not be retried.
func Permanentf(format string, args ...any) error {
	return &Error{Err: fmt.Errorf(format, args...), Permanent: true}
}

// IsRetryable reports whether a failed attempt may be retried: anything
// but an Error marked Permanent (timeouts and connection errors are
// retryable).
func IsRetryable(err error) bool {
	var e *Error
	return !errors.As(err, &e) || !e.Permanent
}

// RetryAfter returns the receiver's requested delay, or 0.
func RetryAfter(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}

// Detail returns the log-only detail of a failed attempt, or "".
func Detail(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Detail
	}
	return ""
}

// StatusCode returns the attempt's HTTP status or SMTP code, or 0.
func StatusCode(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.StatusCode
	}
	return 0
}
