// Package sink holds the local system's receivers of notifications: an
// SMTP server that accepts every message and keeps it as a file
// (MailSink), and the demo webhook receiver that prints every delivery and
// verifies its Standard Webhooks signature (Receiver). `make local` runs
// both in process and points the operator at them; hack/receiver serves
// the Receiver alone.
package sink
