package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/leadvibe/milestone-triggers-operator/internal/stream"
)

// Outcomes of a channel's delivery.
const (
	OutcomePending      = "pending"
	OutcomeDelivered    = "delivered"
	OutcomeDeadLettered = "dead-lettered"
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
// Writer, in atomic batches shared by the deliveries under way.
type states struct {
	kv jetstream.KeyValue
	w  *stream.Writer
}

func newStates(s *stream.Streams) *states { return &states{kv: s.DeliveriesKV, w: s.Deliveries} }

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
	return st, nil
}

func (s *states) save(ctx context.Context, firingID string, st *deliveryState) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	_, err = s.w.Write(ctx, stream.Msg{Subject: stream.KeySubject(stream.DeliveriesBucket, firingID), Data: b})
	return err
}
