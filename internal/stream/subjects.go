package stream

import "strings"

// Names of the JetStream assets. Every OU (namespace) has its own subject,
// so a NATS client publishes an OU's events to EventSubject(ou).
const (
	// EventsStream holds the engagement events of every OU.
	EventsStream = "LEADVIBE_EVENTS"
	// eventsSubjectPrefix is followed by the OU.
	eventsSubjectPrefix = "leadvibe.events."
	// RejectedStream records events that could not be decoded, with why.
	RejectedStream        = "LEADVIBE_REJECTED"
	rejectedSubjectPrefix = "leadvibe.rejected."
)

// EventSubject is the subject an OU's events are published to. Namespace
// names are DNS labels, which are valid subject tokens.
func EventSubject(ou string) string { return eventsSubjectPrefix + ou }

// RejectedSubject is the subject an OU's rejected events are recorded on.
func RejectedSubject(ou string) string { return rejectedSubjectPrefix + ou }

// OUOfSubject returns the OU of an event subject.
func OUOfSubject(subject string) (string, bool) {
	ou, ok := strings.CutPrefix(subject, eventsSubjectPrefix)
	if !ok || ou == "" || strings.ContainsAny(ou, ".*>") {
		return "", false
	}
	return ou, true
}
