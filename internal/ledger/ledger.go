// Package ledger keeps what makes "exactly once per crossing" true: the
// durable state of every lead (last score, pending crossings, the last
// event applied) and the firing outbox, both in JetStream so that an
// external NATS cluster carries them too.
//
// Each batch of events writes its firings to the outbox, each under a
// subject of its own that may hold one message only, so a firing id is
// written at most once however often it is offered. Every few seconds a
// snapshot writes the states of the leads changed since the last one, each
// recording the stream sequence of the last event applied to it, then the
// evaluator's checkpoint, which is where a restarted evaluator resumes, in
// order. A crash anywhere leaves events after the checkpoint that are read
// again and re-evaluated from the state before them, giving the same
// firing ids, which the outbox refuses a second time, or leads whose state
// already covers them, which are then skipped. See docs/design.md.
package ledger

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/leadvibe/milestone-triggers-operator/internal/metrics"
)

// Names of the ledger's JetStream assets.
const (
	// LeadsBucket is the KV bucket of lead states, keyed by OU and lead.
	LeadsBucket = "LEADVIBE_LEADS"
	// FiringsStream is the firing outbox; the dispatcher and the status
	// writer consume it.
	FiringsStream = "LEADVIBE_FIRINGS"
	// firingsSubjectPrefix is followed by "<ou>.<firing id>".
	firingsSubjectPrefix = "leadvibe.firings."
)

// FiringsSubject is the outbox subject of one firing.
func FiringsSubject(ou, firingID string) string {
	return firingsSubjectPrefix + ou + "." + firingID
}

// Ledger reads and writes lead states and the firing outbox.
type Ledger struct {
	js     jetstream.JetStream
	leads  jetstream.KeyValue
	prefix string // subject prefix of the leads bucket's keys
}

// Retention bounds what the ledger keeps.
type Retention struct {
	// Firings is how long the outbox keeps a firing. A redelivered event
	// older than this could fire again, so it must exceed the longest
	// outage the operator should survive; deliveries and history read the
	// outbox well within it.
	Firings time.Duration
}

// DefaultRetention keeps firings for 30 days.
var DefaultRetention = Retention{Firings: 30 * 24 * time.Hour}

// Open creates the ledger's bucket and stream when missing and returns a
// Ledger over them.
func Open(ctx context.Context, js jetstream.JetStream, r Retention) (*Ledger, error) {
	leads, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      LeadsBucket,
		Description: "Lead states: last score, pending crossings, last applied event",
		History:     1,
		Storage:     jetstream.FileStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("creating bucket %s: %w", LeadsBucket, err)
	}
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        FiringsStream,
		Description: "Firing outbox: one subject, and one message, per firing",
		Subjects:    []string{firingsSubjectPrefix + "*.*"},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		MaxAge:      r.Firings,
		// One message per firing subject: a second write of the same
		// firing is refused by the expected-sequence check, and this
		// keeps the subject from ever holding two.
		MaxMsgsPerSubject: 1,
		Discard:           jetstream.DiscardOld,
	}); err != nil {
		return nil, fmt.Errorf("creating stream %s: %w", FiringsStream, err)
	}
	return &Ledger{js: js, leads: leads, prefix: "$KV." + LeadsBucket + "."}, nil
}

// LoadLeads reads every lead state, for an evaluator taking over.
func (l *Ledger) LoadLeads(ctx context.Context) (map[string]LeadState, error) {
	w, err := l.leads.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("reading lead states: %w", err)
	}
	defer func() { _ = w.Stop() }()
	states := map[string]LeadState{}
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case entry, ok := <-w.Updates():
			if !ok {
				return nil, errors.New("reading lead states: the watcher stopped")
			}
			if entry == nil { // every current value has been delivered
				return states, nil
			}
			if strings.HasPrefix(entry.Key(), "_") {
				continue // a checkpoint
			}
			s, err := decodeLeadState(entry.Value())
			if err != nil {
				return nil, fmt.Errorf("lead state %q: %w", entry.Key(), err)
			}
			states[entry.Key()] = s
		}
	}
}

// Snapshot makes lead states durable, keyed by LeadKey, then moves the
// evaluator's checkpoint to through: every event up to it is reflected in
// the stored states, and its firings are in the outbox (the caller
// committed them first).
func (l *Ledger) Snapshot(ctx context.Context, states map[string]LeadState, through uint64) error {
	if err := l.CommitStates(ctx, states); err != nil {
		return err
	}
	return l.SaveCheckpoint(ctx, EvaluatorCheckpoint, through)
}

// CommitFirings writes firings to the outbox. A firing already there (the
// same id offered again after a crash) is left as it is, not duplicated.
// The firings written and those refused as already there are counted in
// milestone_triggers_firings_total and _firing_duplicates_total, so the
// first counts each firing once across restarts.
func (l *Ledger) CommitFirings(ctx context.Context, firings []Firing) error {
	futures := make([]jetstream.PubAckFuture, 0, len(firings))
	for i := range firings {
		data, err := firings[i].Encode()
		if err != nil {
			return err
		}
		f, err := l.js.PublishAsync(FiringsSubject(firings[i].OU, firings[i].ID), data,
			jetstream.WithExpectLastSequencePerSubject(0))
		if err != nil {
			return fmt.Errorf("writing firing %s: %w", firings[i].ID, err)
		}
		futures = append(futures, f)
	}
	n, err := awaitAll(ctx, futures, alreadyWritten)
	// Counted even when some writes failed: those written are written, and
	// the caller's retry finds them already there.
	metrics.WrittenFirings(n.stored, n.ignored)
	if err != nil {
		return fmt.Errorf("writing firings: %w", err)
	}
	return nil
}

// CommitStates writes lead states, keyed by LeadKey.
func (l *Ledger) CommitStates(ctx context.Context, states map[string]LeadState) error {
	futures := make([]jetstream.PubAckFuture, 0, len(states))
	for key, s := range states {
		data, err := s.encode()
		if err != nil {
			return fmt.Errorf("encoding lead state %s: %w", key, err)
		}
		f, err := l.js.PublishAsync(l.prefix+key, data)
		if err != nil {
			return fmt.Errorf("writing lead state: %w", err)
		}
		futures = append(futures, f)
	}
	if _, err := awaitAll(ctx, futures, nil); err != nil {
		return fmt.Errorf("writing lead states: %w", err)
	}
	return nil
}

// alreadyWritten reports whether a publish failed only because its subject
// already holds the message: a firing offered again after a crash.
func alreadyWritten(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) &&
		(apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
			apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

// acks counts the publishes of awaitAll: stored by the stream, and
// refused with an error that the caller ignores.
type acks struct{ stored, ignored int }

// awaitAll waits for every publish acknowledgement; an error for which
// ignore returns true is not a failure.
func awaitAll(ctx context.Context, futures []jetstream.PubAckFuture, ignore func(error) bool) (acks, error) {
	var (
		n    acks
		errs []error
	)
	for _, f := range futures {
		select {
		case <-f.Ok():
			n.stored++
		case err := <-f.Err():
			if ignore == nil || !ignore(err) {
				errs = append(errs, err)
			} else {
				n.ignored++
			}
		case <-ctx.Done():
			return n, ctx.Err()
		}
	}
	return n, errors.Join(errs...)
}
