// Package stream carries engagement events into the operator. It runs NATS
// JetStream either embedded in the process (the default: one binary, data in
// a directory) or as a client of an external NATS cluster given by URL; it
// names the subject each Organizational Unit (OU, one namespace) publishes
// its events to, declares the whole JetStream layout and writes it through
// one group-committing writer per stream. The event itself, and its codec,
// are internal/event's.
package stream
