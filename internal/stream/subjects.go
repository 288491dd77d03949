package stream

import "strings"

// OUOfSubject returns the OU of an event subject.
func OUOfSubject(subject string) (string, bool) {
	ou, ok := strings.CutPrefix(subject, eventsSubjectPrefix)
	if !ok || ou == "" || strings.ContainsAny(ou, ".*>") {
		return "", false
	}
	return ou, true
}
