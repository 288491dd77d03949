// Package email is the notify.Notifier of the email channel: it renders a
// firing as a MIME message (a plain-text and an HTML alternative, with the
// trigger's email_subject, email_preheader and email_message honoured) and
// sends it over SMTP to the configured relay.
//
// Each attempt is one SMTP transaction that carries the message to every
// recipient of the trigger, so a message is delivered once per attempt and a
// retry never reaches a recipient twice because another one failed. The
// outcome of a transaction is classified as follows:
//
//   - A 4xx reply at any step (greeting, MAIL, any RCPT, DATA) aborts the
//     transaction before anything is delivered; the attempt is retryable.
//   - A 5xx reply to RCPT refuses that recipient only: the message still goes
//     to the recipients the relay accepted, and the attempt then fails
//     permanently with an error naming each refused recipient, so that the
//     refusal is visible in history and status and a retry does not resend
//     the message to the others. When every recipient is refused, nothing is
//     sent.
//   - Any other 5xx reply fails the attempt permanently.
//   - Network errors and timeouts are retryable.
//
// Every attempt of a firing carries the same Message-ID, derived from the
// firing id, so that a message delivered twice (a reply lost after DATA) can
// be recognised as a duplicate.
package email
