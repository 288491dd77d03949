package stream

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/leadvibe/milestone-triggers-operator/internal/event"
)

// The operator's whole JetStream layout: every stream, bucket, consumer,
// subject pattern, limit and retention is declared in this file, and
// Ensure creates or updates them all in one step. Every stream and bucket
// the operator writes takes atomic batches (AllowAtomicPublish), written
// by one Writer each (see Streams).

// Streams, buckets and consumers.
const (
	// EventsStream holds the engagement events of every OU, partitioned by
	// lead (see partitions.go).
	EventsStream        = "LEADVIBE_EVENTS"
	eventsSubjectPrefix = "leadvibe.events."

	// RejectedStream records events that could not be decoded, with why.
	RejectedStream        = "LEADVIBE_REJECTED"
	rejectedSubjectPrefix = "leadvibe.rejected."

	// FiringsStream is the firing outbox: one subject, and one message,
	// per firing (FiringSubject). The dispatcher and the status writer
	// consume it.
	FiringsStream        = "LEADVIBE_FIRINGS"
	firingsSubjectPrefix = "leadvibe.firings."

	// HistoryStream holds every firing and delivery attempt, one subject
	// per OU and trigger (HistorySubject).
	HistoryStream        = "LEADVIBE_HISTORY"
	historySubjectPrefix = "leadvibe.history."

	// ResendsStream carries re-send commands of dead-lettered firings;
	// the dispatcher consumes it beside the outbox and carries them out.
	ResendsStream        = "LEADVIBE_RESENDS"
	resendsSubjectPrefix = "leadvibe.resend."

	// LeadsBucket is the key-value bucket of lead states, keyed by OU and
	// lead, and of the readers' checkpoints.
	LeadsBucket = "LEADVIBE_LEADS"
	// DeliveriesBucket holds each firing's delivery state, keyed by firing
	// id, so that retries survive restarts.
	DeliveriesBucket = "LEADVIBE_DELIVERIES"

	// DispatcherConsumer is the durable consumer of the outbox that
	// delivers notifications; ResendConsumer that of the re-sends.
	DispatcherConsumer = "dispatcher"
	ResendConsumer     = "dispatcher-resend"
)

// EventSubject is the legacy subject of an OU's events, without the lead
// (LeadSubject is the partitioned one); the router moves what is
// published there into the leads' subjects. Namespace names are DNS
// labels, which are valid subject tokens; like every subject helper here
// it encodes names into one literal token (nameToken), so it never
// produces a wildcard.
func EventSubject(ou string) string { return eventsSubjectPrefix + nameToken(ou) }

// EventOUFilter is the subject filter of the partitioned events of an OU.
func EventOUFilter(ou string) string { return eventsSubjectPrefix + nameToken(ou) + ".>" }

// RejectedSubject is the subject an OU's rejected events are recorded on.
func RejectedSubject(ou string) string { return rejectedSubjectPrefix + nameToken(ou) }

// FiringSubject is the outbox subject of one firing.
func FiringSubject(ou, firingID string) string {
	return firingsSubjectPrefix + nameToken(ou) + "." + idToken(firingID)
}

// HistorySubject is the history subject of one trigger of an OU. A
// trigger name is one token whatever it holds: "*" is a name, not a
// wildcard (HistoryOUFilter reads the whole OU), and "a.b" is not "a".
func HistorySubject(ou, trigger string) string {
	return historySubjectPrefix + nameToken(ou) + "." + nameToken(trigger)
}

// HistoryOUFilter is the subject filter that reads the history of every
// trigger of an OU.
func HistoryOUFilter(ou string) string { return historySubjectPrefix + nameToken(ou) + ".*" }

// ResendSubject is the subject a re-send of one firing is queued on.
func ResendSubject(ou, firingID string) string {
	return resendsSubjectPrefix + nameToken(ou) + "." + idToken(firingID)
}

// KeySubject is the subject a key of a bucket is written on. The key's
// "."-separated parts stay tokens; a character keys may not hold is
// escaped (keyTokens), so no key makes a wildcard.
func KeySubject(bucket, key string) string { return "$KV." + bucket + "." + keyTokens(key) }

// BucketStream is the stream that holds a bucket: what its writer writes
// and its stream metrics name.
func BucketStream(bucket string) string { return "KV_" + bucket }

// Layout holds the settings of the layout; a zero field takes its default.
type Layout struct {
	// Events is how long engagement (and rejected) events are kept
	// (default 7 days).
	Events time.Duration
	// Duplicates is the window within which a second publish of an event
	// id, or of a history record, is dropped (default 10 minutes).
	Duplicates time.Duration
	// Firings is how long the outbox keeps a firing (default 30 days). A
	// redelivered event older than this could fire again, so it must
	// exceed the longest outage the operator should survive.
	Firings time.Duration
	// History is how long firings and attempts stay in the history
	// (default 30 days).
	History time.Duration
	// Deliveries is how long a firing's delivery state is kept after its
	// last change (default 3 days: longer than twice the retry schedule).
	Deliveries time.Duration
	// DispatcherAckWait is how long the dispatcher may hold a firing
	// before the stream offers it again (default 2 minutes), and
	// DispatcherMaxAckPending how many it may hold (default 1024).
	DispatcherAckWait       time.Duration
	DispatcherMaxAckPending int
	// Partitions is the number of partitions of the events stream
	// (default DefaultPartitions). It is recorded when the stream is
	// created and cannot change afterwards.
	Partitions int
	// Bytes bounds what each stream and bucket holds on disk, and says
	// which refuse new writes when full (see ByteLimits); a zero limit
	// takes its default (DefaultByteLimits).
	Bytes ByteLimits
}

// DefaultLayout is the layout with every default.
var DefaultLayout = Layout{
	Events:                  7 * 24 * time.Hour,
	Duplicates:              10 * time.Minute,
	Firings:                 30 * 24 * time.Hour,
	History:                 30 * 24 * time.Hour,
	Deliveries:              3 * 24 * time.Hour,
	DispatcherAckWait:       2 * time.Minute,
	DispatcherMaxAckPending: 1024,
	Partitions:              DefaultPartitions,
	Bytes:                   DefaultByteLimits,
}

func (l Layout) withDefaults() Layout {
	d := DefaultLayout
	pick := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	pick(&l.Events, d.Events)
	pick(&l.Duplicates, d.Duplicates)
	pick(&l.Firings, d.Firings)
	pick(&l.History, d.History)
	pick(&l.Deliveries, d.Deliveries)
	pick(&l.DispatcherAckWait, d.DispatcherAckWait)
	if l.DispatcherMaxAckPending <= 0 {
		l.DispatcherMaxAckPending = d.DispatcherMaxAckPending
	}
	if l.Partitions <= 0 {
		l.Partitions = d.Partitions
	}
	l.Bytes = l.Bytes.withDefaults()
	return l
}

func (l Layout) streams() []jetstream.StreamConfig {
	return []jetstream.StreamConfig{{
		Name:        EventsStream,
		Description: "Lead engagement events, partitioned by lead",
		// leadvibe.events.<ou>.<lead>, stored with its partition, and
		// leadvibe.events.<ou>, stored as it is for the router.
		Subjects: []string{eventsSubjectPrefix + "*", eventsSubjectPrefix + "*.*"},
		SubjectTransform: &jetstream.SubjectTransformConfig{
			Source:      eventsSubjectPrefix + "*.*",
			Destination: partitionTransform(l.Partitions),
		},
		Metadata:   map[string]string{partitionsMetadata: strconv.Itoa(l.Partitions)},
		Storage:    jetstream.FileStorage,
		Retention:  jetstream.LimitsPolicy,
		MaxAge:     l.Events,
		Duplicates: l.Duplicates,
		MaxMsgSize: event.MaxEventBytes,
		MaxBytes:   l.Bytes.Events,
		// Full, it refuses new events (POST /events answers 507) rather
		// than dropping old ones the evaluator may not have read.
		Discard:            jetstream.DiscardNew,
		AllowAtomicPublish: true,
	}, {
		Name:               RejectedStream,
		Description:        "Events that could not be decoded, with the reason, one subject per OU",
		Subjects:           []string{rejectedSubjectPrefix + "*"},
		Storage:            jetstream.FileStorage,
		MaxAge:             l.Events,
		MaxBytes:           l.Bytes.Rejected,
		Duplicates:         l.Duplicates,
		Discard:            jetstream.DiscardOld,
		AllowAtomicPublish: true,
	}, {
		Name:        FiringsStream,
		Description: "Firing outbox: one subject, and one message, per firing",
		Subjects:    []string{firingsSubjectPrefix + "*.*"},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		MaxAge:      l.Firings,
		// One message per firing subject: a second write of the same
		// firing is refused by its expected-sequence check (no time
		// window), and this keeps the subject from ever holding two.
		MaxMsgsPerSubject: 1,
		MaxBytes:          l.Bytes.Firings,
		// Full, it refuses new firings: the evaluator waits, and no
		// firing is dropped before it is delivered.
		Discard:            jetstream.DiscardNew,
		AllowAtomicPublish: true,
	}, {
		Name:        HistoryStream,
		Description: "Firings and delivery attempts, one subject per OU and trigger",
		Subjects:    []string{historySubjectPrefix + "*.*"},
		Storage:     jetstream.FileStorage,
		MaxAge:      l.History,
		MaxBytes:    l.Bytes.History,
		Duplicates:  l.Duplicates,
		// Full, the oldest records go first: history must not stop
		// deliveries.
		Discard:            jetstream.DiscardOld,
		AllowAtomicPublish: true,
	}, {
		Name:               ResendsStream,
		Description:        "Re-send commands of dead-lettered firings, carried out by the dispatcher",
		Subjects:           []string{resendsSubjectPrefix + "*.*"},
		Storage:            jetstream.FileStorage,
		Retention:          jetstream.WorkQueuePolicy,
		MaxBytes:           l.Bytes.Resends,
		Discard:            jetstream.DiscardNew,
		Duplicates:         time.Minute,
		AllowAtomicPublish: true,
	}}
}

func (l Layout) buckets() []jetstream.KeyValueConfig {
	return []jetstream.KeyValueConfig{{
		Bucket:      LeadsBucket,
		Description: "Lead states: last score, pending crossings, last applied event; and the readers' checkpoints",
		History:     1,
		MaxBytes:    l.Bytes.Leads,
		Storage:     jetstream.FileStorage,
	}, {
		Bucket:      DeliveriesBucket,
		Description: "Delivery progress of each firing, per channel",
		History:     1,
		TTL:         l.Deliveries,
		MaxBytes:    l.Bytes.Deliveries,
		Storage:     jetstream.FileStorage,
	}}
}

// consumer is a durable consumer of a stream.
type consumer struct {
	stream string
	cfg    jetstream.ConsumerConfig
}

func (l Layout) consumers() []consumer {
	return []consumer{{FiringsStream, jetstream.ConsumerConfig{
		Durable:       DispatcherConsumer,
		Description:   "Deliveries of every firing",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       l.DispatcherAckWait,
		MaxAckPending: l.DispatcherMaxAckPending,
		MaxDeliver:    -1,
	}}, {ResendsStream, jetstream.ConsumerConfig{
		Durable:       ResendConsumer,
		Description:   "Re-sends of dead-lettered firings",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       l.DispatcherAckWait,
		MaxAckPending: l.DispatcherMaxAckPending / 4,
		MaxDeliver:    -1,
	}}}
}

// writerOptions says how each stream's writer batches. Writers with many
// concurrent callers linger for more: REST ingest a millisecond (it is on
// the way from an event to its webhook), the dispatcher's history and
// delivery states 5 ms (they come after the delivery, and every atomic
// batch costs the server a store of its own, so fewer, larger ones leave
// the disk to the rest). Those with one caller that waits for each write
// (the evaluator's firings and snapshots) do not linger, since nothing
// would join them. Either way a write that arrives while a batch is
// committing joins the next one.
var writerOptions = map[string]WriterOptions{
	EventsStream:                   {Linger: time.Millisecond},
	RejectedStream:                 {},
	FiringsStream:                  {},
	HistoryStream:                  {Linger: 5 * time.Millisecond},
	ResendsStream:                  {},
	BucketStream(LeadsBucket):      {},
	BucketStream(DeliveriesBucket): {Linger: 5 * time.Millisecond},
}

// Streams is the ensured layout: the one Writer of every stream and
// bucket the operator writes.
type Streams struct {
	JS jetstream.JetStream
	// Partitions is the events stream's number of partitions.
	Partitions int

	Events, Rejected, Firings, History, Resends *Writer
	Leads, Deliveries                           *Writer

	// LeadsKV and DeliveriesKV read the buckets.
	LeadsKV, DeliveriesKV jetstream.KeyValue
}

// Ensure creates the layout's streams, buckets and consumers, or brings
// their settings up to date, and starts a writer for each. Close stops
// the writers.
func Ensure(ctx context.Context, js jetstream.JetStream, l Layout) (*Streams, error) {
	l = l.withDefaults()
	if l.Partitions > MaxPartitions {
		return nil, fmt.Errorf("%d partitions: at most %d", l.Partitions, MaxPartitions)
	}
	if s, err := js.Stream(ctx, EventsStream); err == nil {
		if err := checkPartitions(s.CachedInfo().Config.Metadata, l.Partitions); err != nil {
			return nil, err
		}
	} else if !errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, fmt.Errorf("reading stream %s: %w", EventsStream, err)
	}
	for _, cfg := range l.streams() {
		s, err := js.CreateOrUpdateStream(ctx, cfg)
		if err != nil {
			return nil, fmt.Errorf("creating stream %s: %w", cfg.Name, err)
		}
		if err := checkAtomic(s.CachedInfo().Config); err != nil {
			return nil, err
		}
	}
	kvs := map[string]jetstream.KeyValue{}
	for _, cfg := range l.buckets() {
		kv, err := js.CreateOrUpdateKeyValue(ctx, cfg)
		if err != nil {
			return nil, fmt.Errorf("creating bucket %s: %w", cfg.Bucket, err)
		}
		// A bucket is a stream; its configuration is the client's, with
		// atomic batches allowed on top.
		s, err := js.Stream(ctx, BucketStream(cfg.Bucket))
		if err != nil {
			return nil, fmt.Errorf("reading bucket %s: %w", cfg.Bucket, err)
		}
		// Lead states are read from the stream's leader only: a direct
		// read may be answered by a replica that is behind, and a new
		// owner of a partition must see every state stored before its
		// claim (docs/design.md, "Exactly once across owners").
		direct := cfg.Bucket != LeadsBucket
		if sc := s.CachedInfo().Config; !sc.AllowAtomicPublish || sc.AllowDirect != direct {
			sc.AllowAtomicPublish, sc.AllowDirect = true, direct
			if s, err = js.UpdateStream(ctx, sc); err != nil {
				return nil, fmt.Errorf("allowing atomic batches on bucket %s: %w", cfg.Bucket, err)
			}
			if err := checkAtomic(s.CachedInfo().Config); err != nil {
				return nil, err
			}
			// The handle reads as the stream now says.
			if kv, err = js.KeyValue(ctx, cfg.Bucket); err != nil {
				return nil, fmt.Errorf("opening bucket %s: %w", cfg.Bucket, err)
			}
		}
		kvs[cfg.Bucket] = kv
	}
	for _, c := range l.consumers() {
		if _, err := js.CreateOrUpdateConsumer(ctx, c.stream, c.cfg); err != nil {
			return nil, fmt.Errorf("creating consumer %s of %s: %w", c.cfg.Durable, c.stream, err)
		}
	}
	w := func(name string) *Writer { return NewWriter(js, name, writerOptions[name]) }
	return &Streams{
		JS: js, Partitions: l.Partitions,
		Events: w(EventsStream), Rejected: w(RejectedStream), Firings: w(FiringsStream),
		History: w(HistoryStream), Resends: w(ResendsStream),
		Leads: w(BucketStream(LeadsBucket)), Deliveries: w(BucketStream(DeliveriesBucket)),
		LeadsKV: kvs[LeadsBucket], DeliveriesKV: kvs[DeliveriesBucket],
	}, nil
}

// Close stops every writer.
func (s *Streams) Close() {
	for _, w := range []*Writer{s.Events, s.Rejected, s.Firings, s.History, s.Resends, s.Leads, s.Deliveries} {
		w.Close()
	}
}

// errNoAtomic says the server ignored AllowAtomicPublish.
var errNoAtomic = errors.New("the NATS server does not support atomic batch publish (nats-server 2.12 or later is needed)")

func checkAtomic(cfg jetstream.StreamConfig) error {
	if !cfg.AllowAtomicPublish {
		return fmt.Errorf("stream %s: %w", cfg.Name, errNoAtomic)
	}
	return nil
}
