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
	"github.com/leadvibe/milestone-triggers-operator/internal/record"
	"github.com/leadvibe/milestone-triggers-operator/internal/stream"
)

// Kinds of records.
const (
	KindFiring  = record.KindFiring
	KindAttempt = record.KindAttempt
)

// Record is one entry: a firing, or one delivery attempt of a firing. It
// is the one record type (record.Record), stored as its JSON.
type Record = record.Record

// Store writes and reads the history (stream.HistoryStream), one subject
// per OU and trigger; its records are written by the stream's Writer, in
// atomic batches shared by the deliveries under way.
type Store struct {
	js jetstream.JetStream
	w  *stream.Writer
}

// New returns the Store of an ensured layout.
func New(s *stream.Streams) *Store { return &Store{js: s.JS, w: s.History} }

// NewReader returns a Store that only reads (Find), for a client outside
// the operator such as hack/history; its Recorder fails every write.
func NewReader(js jetstream.JetStream) *Store { return &Store{js: js} }

func subject(ou, trigger string) string { return stream.HistorySubject(ou, trigger) }

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

// entry is a record with its message id.
type entry struct {
	id string
	r  Record
}

func firingRecord(f ledger.Firing) entry {
	return entry{"firing-" + f.ID, Record{
		Kind: KindFiring, FiringID: f.ID, OU: f.OU, Trigger: f.Trigger, LeadID: f.Event.LeadID,
		At: f.FiredAt, EventID: f.Event.ID, EventType: f.Event.EventType, Score: f.Score,
	}}
}

// attemptID is an attempt's record id: one per firing, channel, re-send
// round and attempt number, so that a redelivered attempt is kept once and
// a re-sent one is a record of its own. Round 0 keeps the id it had before
// there were rounds.
func attemptID(a Record) string {
	if a.Round == 0 {
		return fmt.Sprintf("attempt-%s-%s-%d", a.FiringID, a.Channel, a.Attempt)
	}
	return fmt.Sprintf("attempt-%s-%s-r%d-%d", a.FiringID, a.Channel, a.Round, a.Attempt)
}

// attemptRecord is the dispatcher's record of an attempt, stored as it is.
func attemptRecord(a Record) entry {
	a.Kind = KindAttempt
	return entry{attemptID(a), a}
}

// start hands rec to the history's writer without waiting, and returns
// the wait for it to be stored.
func (s *Store) start(rec entry) func(context.Context) error {
	b, err := json.Marshal(rec.r)
	if err == nil && s.w == nil {
		err = errors.New("this history store only reads")
	}
	if err != nil {
		return func(context.Context) error { return err }
	}
	wait := s.w.Start(stream.Msg{Subject: subject(rec.r.OU, rec.r.Trigger), Data: b, ID: rec.id})
	return func(ctx context.Context) error {
		if _, err := wait(ctx); err != nil {
			return fmt.Errorf("recording %s: %w", rec.id, err)
		}
		return nil
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

// Decode reads a stored record (a message of stream.HistoryStream), with
// the older spellings of outcomes read as the current ones.
func Decode(data []byte) (Record, error) {
	var r Record
	err := json.Unmarshal(data, &r)
	return r, err
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
	filter := stream.HistoryOUFilter(q.OU)
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
	st, err := s.js.Stream(ctx, stream.HistoryStream)
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
		r, err := Decode(msg.Data())
		if err != nil {
			continue
		}
		cursor := strconv.FormatUint(meta.Sequence.Stream, 10)
		// A record is stored at or after its time, so reading from Since
		// by storage time misses nothing; the range is then checked on
		// each record's own time (a late-recorded firing keeps its time).
		inRange := (q.Since.IsZero() || !r.At.Before(q.Since)) && (q.Until.IsZero() || !r.At.After(q.Until))
		if inRange && (q.LeadID == "" || r.LeadID == q.LeadID) {
			page.Records = append(page.Records, r)
		}
		if len(page.Records) == q.Limit {
			if meta.NumPending > 0 {
				page.Next = cursor
			}
			return page, nil
		}
		if meta.NumPending == 0 {
			return page, nil
		}
	}
}
