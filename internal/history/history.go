// Package history records every firing and every delivery attempt in
// JetStream, with a retention limit, and answers queries by OU, trigger,
// lead and time range with a pagination cursor. It is what the REST API's
// "Milestone Events" will serve.
package history

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/leadvibe/milestone-triggers-operator/internal/ledger"
	"github.com/leadvibe/milestone-triggers-operator/internal/notify"
)

// Stream holds the history, one subject per OU and trigger.
const (
	Stream        = "LEADVIBE_HISTORY"
	subjectPrefix = "leadvibe.history."
)

// Kinds of records.
const (
	KindFiring  = "firing"
	KindAttempt = "attempt"
)

// Record is one entry: a firing, or one delivery attempt of a firing.
type Record struct {
	Kind      string    `json:"kind"`
	FiringID  string    `json:"firing_id"`
	OU        string    `json:"ou"`
	Trigger   string    `json:"trigger"`
	LeadID    string    `json:"lead_id"`
	At        time.Time `json:"at"`
	EventID   string    `json:"event_id,omitempty"`
	EventType string    `json:"event_type,omitempty"`
	Score     int64     `json:"score,omitempty"`

	Channel     string `json:"channel,omitempty"`
	Destination string `json:"destination,omitempty"`
	Attempt     int    `json:"attempt,omitempty"`
	StatusCode  int    `json:"status_code,omitempty"`
	Error       string `json:"error,omitempty"`
	Outcome     string `json:"outcome,omitempty"`
	DurationMS  int64  `json:"duration_ms,omitempty"`

	// Cursor is the record's position, for paging (set on read).
	Cursor string `json:"-"`
}

// Store writes and reads the history.
type Store struct{ js jetstream.JetStream }

// Open creates the history stream, keeping records for retention.
func Open(ctx context.Context, js jetstream.JetStream, retention time.Duration) (*Store, error) {
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        Stream,
		Description: "Firings and delivery attempts, one subject per OU and trigger",
		Subjects:    []string{subjectPrefix + "*.*"},
		Storage:     jetstream.FileStorage,
		MaxAge:      retention,
		Duplicates:  10 * time.Minute,
		Discard:     jetstream.DiscardOld,
	}); err != nil {
		return nil, fmt.Errorf("creating stream %s: %w", Stream, err)
	}
	return &Store{js: js}, nil
}

func subject(ou, trigger string) string { return subjectPrefix + ou + "." + trigger }

// Recorder writes to the Store: the dispatcher's notify.Recorder. A
// record's write starts at once, and waiting for it gives up after
// timeout. Recording a firing or an attempt twice (a redelivery) within
// the stream's duplicate window keeps one record.
func (s *Store) Recorder(timeout time.Duration) notify.Recorder {
	return recorder{s: s, timeout: timeout}
}

type recorder struct {
	s       *Store
	timeout time.Duration
}

func (r recorder) Firing(f ledger.Firing) func() error { return r.wait(r.s.start(firingRecord(f))) }

func (r recorder) Attempt(a notify.Attempt) func() error { return r.wait(r.s.start(attemptRecord(a))) }

func (r recorder) wait(w func(context.Context) error) func() error {
	return func() error {
		ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
		defer cancel()
		return w(ctx)
	}
}

type record struct {
	id string
	r  Record
}

func firingRecord(f ledger.Firing) record {
	return record{"firing-" + f.ID, Record{
		Kind: KindFiring, FiringID: f.ID, OU: f.OU, Trigger: f.Trigger, LeadID: f.Event.LeadID,
		At: f.FiredAt, EventID: f.Event.ID, EventType: f.Event.EventType, Score: f.Score,
	}}
}

func attemptRecord(a notify.Attempt) record {
	return record{fmt.Sprintf("attempt-%s-%s-%d", a.FiringID, a.Channel, a.Number), Record{
		Kind: KindAttempt, FiringID: a.FiringID, OU: a.OU, Trigger: a.Trigger, LeadID: a.LeadID, At: a.At,
		Channel: a.Channel, Destination: a.Destination, Attempt: a.Number, StatusCode: a.StatusCode,
		Error: a.Error, Outcome: a.Outcome, DurationMS: a.Duration.Milliseconds(),
	}}
}

// start publishes rec without waiting, and returns the wait for the
// stream's acknowledgement.
func (s *Store) start(rec record) func(context.Context) error {
	b, err := json.Marshal(rec.r)
	if err != nil {
		return func(context.Context) error { return err }
	}
	ack, err := s.js.PublishAsync(subject(rec.r.OU, rec.r.Trigger), b, jetstream.WithMsgID(rec.id))
	if err != nil {
		return func(context.Context) error { return fmt.Errorf("recording %s: %w", rec.id, err) }
	}
	return func(ctx context.Context) error {
		select {
		case <-ack.Ok():
			return nil
		case err := <-ack.Err():
			return fmt.Errorf("recording %s: %w", rec.id, err)
		case <-ctx.Done():
			return fmt.Errorf("recording %s: %w", rec.id, ctx.Err())
		}
	}
}

// Query selects records. OU is required; the rest narrow it.
type Query struct {
	OU      string
	Trigger string // empty: every trigger of the OU
	LeadID  string // empty: every lead
	Since   time.Time
	Until   time.Time // zero: no end
	Limit   int       // default 100, at most 1000
	Cursor  string    // from a previous page's Next
}

// Page is one page of records, oldest first; Next is empty on the last.
type Page struct {
	Records []Record
	Next    string
}

// ErrBadCursor is returned for a cursor this store did not hand out.
var ErrBadCursor = errors.New("invalid cursor")

// Find answers a query by reading the OU's (or trigger's) subject from
// the cursor, or from Since.
func (s *Store) Find(ctx context.Context, q Query) (Page, error) {
	if q.Limit <= 0 {
		q.Limit = 100
	}
	q.Limit = min(q.Limit, 1000)
	filter := subject(q.OU, "*")
	if q.Trigger != "" {
		filter = subject(q.OU, q.Trigger)
	}
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{filter}, DeliverPolicy: jetstream.DeliverAllPolicy}
	switch {
	case q.Cursor != "":
		seq, err := strconv.ParseUint(q.Cursor, 10, 64)
		if err != nil {
			return Page{}, ErrBadCursor
		}
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, seq+1
	case !q.Since.IsZero():
		since := q.Since
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &since
	}
	st, err := s.js.Stream(ctx, Stream)
	if err != nil {
		return Page{}, err
	}
	c, err := st.OrderedConsumer(ctx, cfg)
	if err != nil {
		return Page{}, err
	}
	var page Page
	for {
		msg, err := c.Next(jetstream.FetchMaxWait(200 * time.Millisecond))
		if errors.Is(err, nats.ErrTimeout) || errors.Is(err, jetstream.ErrNoMessages) {
			return page, nil
		}
		if err != nil {
			return Page{}, err
		}
		meta, err := msg.Metadata()
		if err != nil {
			return Page{}, err
		}
		var r Record
		if err := json.Unmarshal(msg.Data(), &r); err != nil {
			continue
		}
		r.Cursor = strconv.FormatUint(meta.Sequence.Stream, 10)
		// A record is stored at or after its time, so reading from Since
		// by storage time misses nothing; the range is then checked on
		// each record's own time (a late-recorded firing keeps its time).
		inRange := (q.Since.IsZero() || !r.At.Before(q.Since)) && (q.Until.IsZero() || !r.At.After(q.Until))
		if inRange && (q.LeadID == "" || r.LeadID == q.LeadID) {
			page.Records = append(page.Records, r)
		}
		if len(page.Records) == q.Limit {
			if meta.NumPending > 0 {
				page.Next = r.Cursor
			}
			return page, nil
		}
		if meta.NumPending == 0 {
			return page, nil
		}
	}
}
