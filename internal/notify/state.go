package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/leadvibe/milestone-triggers-operator/internal/record"
	"github.com/leadvibe/milestone-triggers-operator/internal/stream"
)

// Outcomes of a channel's delivery: the history's (record.Outcome*), in
// their one spelling.
const (
	OutcomePending      = record.OutcomePending
	OutcomeDelivered    = record.OutcomeDelivered
	OutcomeDeadLettered = record.OutcomeDeadLettered
)

// channelState is one channel's progress for one firing.
type channelState struct {
	Attempts  int       `json:"attempts"`
	Outcome   string    `json:"outcome"`
	LastError string    `json:"last_error,omitempty"`
	NextAt    time.Time `json:"next_at,omitempty"`
}

// deliveryState is a firing's progress on every channel.
type deliveryState struct {
	Channels map[string]*channelState `json:"channels"`
	// Round counts the re-sends carried out: 0 until the first, and the
	// round of every attempt since (history ids carry it, so a re-sent
	// attempt is a record of its own). A re-send command names the round
	// it was asked in, and is carried out only while that is still the
	// current one.
	Round int `json:"round,omitempty"`
	// ResendSeq is the stream sequence of the re-send command that started
	// the current round: that command's message carries the round's
	// retries, while any other command of an old round is stale.
	ResendSeq uint64 `json:"resend_seq,omitempty"`

	// revision is the key's revision when it was read (0: not written
	// yet), what saving it expects.
	revision uint64
}

// deadLettered reports whether a channel of the state is dead-lettered.
func (s *deliveryState) deadLettered() bool {
	for _, ch := range s.Channels {
		if ch.Outcome == OutcomeDeadLettered {
			return true
		}
	}
	return false
}

func (s *deliveryState) channel(name string) *channelState {
	c := s.Channels[name]
	if c == nil {
		c = &channelState{Outcome: OutcomePending}
		s.Channels[name] = c
	}
	return c
}

// states reads and writes delivery states (stream.DeliveriesBucket, keyed
// by firing id, so that retries survive restarts: a redelivered firing
// resumes where its channels stood). Writes go through the bucket's
// Writer, in atomic batches shared by the deliveries under way, and each
// is a compare-and-swap on the revision the state was read at. The
// dispatcher is the one writer; the REST side only reads.
type states struct {
	kv jetstream.KeyValue
	w  *stream.Writer
}

func newStates(s *stream.Streams) *states { return &states{kv: s.DeliveriesKV, w: s.Deliveries} }

// errStateChanged is returned by save when the key changed since the
// state was read: the caller reads it again rather than overwrite.
var errStateChanged = errors.New("the delivery state changed since it was read")

// load reads a firing's state, with its revision; a firing without one
// has an empty state at revision 0.
func (s *states) load(ctx context.Context, firingID string) (*deliveryState, error) {
	entry, err := s.kv.Get(ctx, firingID)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return &deliveryState{Channels: map[string]*channelState{}}, nil
	}
	if err != nil {
		return nil, err
	}
	st := &deliveryState{}
	if err := json.Unmarshal(entry.Value(), st); err != nil {
		return nil, fmt.Errorf("delivery state of %s: %w", firingID, err)
	}
	if st.Channels == nil {
		st.Channels = map[string]*channelState{}
	}
	st.revision = entry.Revision()
	return st, nil
}

// save writes st if the key is still at the revision st was read at, and
// returns errStateChanged when it is not.
func (s *states) save(ctx context.Context, firingID string, st *deliveryState) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	msg := stream.Msg{Subject: stream.KeySubject(stream.DeliveriesBucket, firingID), Data: b}.Expect(st.revision)
	res, err := s.w.Write(ctx, msg)
	if err != nil {
		return err
	}
	if res[0].Refused() {
		return fmt.Errorf("delivery state of %s at revision %d: %w", firingID, st.revision, errStateChanged)
	}
	return nil
}
