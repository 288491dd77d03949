package stream

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
)

// Events are partitioned by lead, by the NATS server itself: an event
// published to the subject of its lead, leadvibe.events.<ou>.<lead>, is
// stored as leadvibe.events.<ou>.<lead>.<partition> by the events stream's
// subject transform, {{partition(N,1,2)}}: the FNV-1a hash of the OU and
// lead tokens modulo N. Every event of a lead lands in one partition, in
// publish order, and each partition is read in order by its one owner.
//
// The subject form without the lead, leadvibe.events.<ou>, keeps working:
// such events are stored as they are and the router (internal/router)
// moves each into its lead's subject, exactly once.

// DefaultPartitions is the number of partitions of a new events stream.
const DefaultPartitions = 16

// MaxPartitions bounds --partitions: one ordered reader, checkpoint and
// Lease per partition.
const MaxPartitions = 1024

// partitionsMetadata is the events stream's metadata key that records the
// number of partitions it was created with.
const partitionsMetadata = "leadvibe.io/partitions"

// routerCheckpointSubject holds the router's progress in the events
// stream itself, so that a routed batch and its checkpoint are one atomic
// batch. It matches the legacy OU form, but no OU (a Kubernetes namespace)
// starts with "_".
const routerCheckpointSubject = eventsSubjectPrefix + "_router"

// LeadToken is a lead id as one literal subject token: letters, digits,
// "-" and "_" stay, every other byte becomes "~" and two hex digits, and
// the empty id "~". It is one-to-one, and the only encoding of a lead in a
// subject: a publisher that puts the lead in the subject must use it, or
// the evaluator refuses the event (its lead would not match its subject).
func LeadToken(leadID string) string { return idToken(leadID) }

// IsLeadToken reports whether token is leadID's LeadToken, without making
// it: the evaluator checks every event's subject against its lead.
func IsLeadToken(token, leadID string) bool {
	if plainID(leadID) {
		return token == leadID
	}
	return token == idToken(leadID)
}

// LeadSubject is the subject an event of a lead of an OU is published to.
func LeadSubject(ou, leadID string) string {
	return eventsSubjectPrefix + nameToken(ou) + "." + LeadToken(leadID)
}

// LeadSubjects is the subject pattern of the leads of an OU: what a
// publisher of the OU may publish to, beside EventSubject.
func LeadSubjects(ou string) string { return eventsSubjectPrefix + nameToken(ou) + ".*" }

// PartitionOf is the partition the events stream puts a lead's events in:
// what the server's {{partition(n,1,2)}} computes from the subject's OU
// and lead tokens.
func PartitionOf(ou, leadID string, n int) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(nameToken(ou)))
	_, _ = h.Write([]byte(LeadToken(leadID)))
	return int(h.Sum32() % uint32(n))
}

// PartitionFilter is the subject filter of one partition's events.
func PartitionFilter(p int) string { return eventsSubjectPrefix + "*.*." + strconv.Itoa(p) }

// LegacyFilter is the subject filter of the events published without
// their lead in the subject, which the router moves.
const LegacyFilter = eventsSubjectPrefix + "*"

// EventSubjectParts is what an event's stored subject says.
type EventSubjectParts struct {
	OU string
	// LeadToken is the lead's token (LeadToken); empty for the legacy
	// form.
	LeadToken string
	// Partition is the partition, -1 for the legacy form.
	Partition int
}

// ParseEventSubject reads a stored event subject: the partitioned form
// leadvibe.events.<ou>.<lead>.<partition>, or the legacy form
// leadvibe.events.<ou>.
func ParseEventSubject(subject string) (EventSubjectParts, bool) {
	rest, ok := strings.CutPrefix(subject, eventsSubjectPrefix)
	if !ok {
		return EventSubjectParts{}, false
	}
	// Cut, not Split: the evaluator parses every event's subject.
	ou, rest, partitioned := strings.Cut(rest, ".")
	if !partitioned {
		if !literalToken(ou) {
			return EventSubjectParts{}, false
		}
		return EventSubjectParts{OU: ou, Partition: -1}, true
	}
	lead, part, ok := strings.Cut(rest, ".")
	if !ok || !literalToken(ou) || !literalToken(lead) || strings.Contains(part, ".") {
		return EventSubjectParts{}, false
	}
	p, err := strconv.Atoi(part)
	if err != nil || p < 0 {
		return EventSubjectParts{}, false
	}
	return EventSubjectParts{OU: ou, LeadToken: lead, Partition: p}, true
}

// literalToken reports whether t is one subject token, not a wildcard.
func literalToken(t string) bool { return t != "" && t != "*" && t != ">" }

// partitionTransform is the events stream's transform for n partitions.
func partitionTransform(n int) string {
	return eventsSubjectPrefix + "{{wildcard(1)}}.{{wildcard(2)}}.{{partition(" + strconv.Itoa(n) + ",1,2)}}"
}

// checkPartitions refuses to change the number of partitions of an
// existing events stream: every stored event, lead state and checkpoint
// is placed by it. docs/operations.md says how to migrate.
func checkPartitions(existing map[string]string, want int) error {
	got, ok := existing[partitionsMetadata]
	if !ok {
		return nil // a stream from before partitions: it gets them now
	}
	if got != strconv.Itoa(want) {
		return fmt.Errorf("the events stream %s was created with %s partitions, not %d: the number of partitions cannot change in place (see docs/operations.md, \"Changing the number of partitions\"); start with --partitions=%s", EventsStream, got, want, got)
	}
	return nil
}

// HeaderRoutedFrom is set on an event the router moved into its lead's
// subject: the sequence of the original, published without the lead.
const HeaderRoutedFrom = "Leadvibe-Routed-From"

// IsRouterCheckpoint reports whether subject is the router's checkpoint.
func IsRouterCheckpoint(subject string) bool { return subject == routerCheckpointSubject }

// RouterCheckpoint reads the router's checkpoint: the sequence of the
// last event published without its lead that it has routed, and the
// checkpoint message's own sequence, the revision its next write expects
// (0 for none yet).
func RouterCheckpoint(ctx context.Context, js jetstream.JetStream) (through, revision uint64, err error) {
	s, err := js.Stream(ctx, EventsStream)
	if err != nil {
		return 0, 0, fmt.Errorf("reading stream %s: %w", EventsStream, err)
	}
	msg, err := s.GetLastMsgForSubject(ctx, routerCheckpointSubject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("reading the router's checkpoint: %w", err)
	}
	through, err = strconv.ParseUint(string(msg.Data), 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("the router's checkpoint holds %q: %w", msg.Data, err)
	}
	return through, msg.Sequence, nil
}

// RouterCheckpointMsg is the router's checkpoint at through, written over
// the one at revision (0: none yet).
func RouterCheckpointMsg(through, revision uint64) Msg {
	return Msg{Subject: routerCheckpointSubject, Data: []byte(strconv.FormatUint(through, 10))}.Expect(revision)
}
