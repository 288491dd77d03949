package backtest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/leadvibe/milestone-triggers-operator/internal/evaluator"
	"github.com/leadvibe/milestone-triggers-operator/internal/event"
	"github.com/leadvibe/milestone-triggers-operator/internal/stream"
)

// MaxFirstFirings is how many firings a result lists.
const MaxFirstFirings = 20

// Limits bound a backtest.
type Limits struct {
	// MaxEvents is the most events a backtest reads; a request may ask for
	// fewer.
	MaxEvents int
	// TimeLimit bounds the time a backtest reads for.
	TimeLimit time.Duration
}

// DefaultLimits are the operator's defaults (--backtest-max-events,
// --backtest-time-limit).
var DefaultLimits = Limits{MaxEvents: 1_000_000, TimeLimit: 30 * time.Second}

// Definition is the trigger as the backtest evaluates it: the stored
// trigger's, with the request's overrides applied.
type Definition struct {
	Name, UID  string
	Threshold  int64
	EventType  string        // empty: any type
	RearmBelow *int64        // nil: Threshold
	Cooldown   time.Duration // 0: none
}

// Request is one backtest of a trigger of an OU.
type Request struct {
	OU         string
	Definition Definition
	// Since and Until bound the events whose firings count, by event time
	// (created_at, else when the stream stored the event), both included.
	Since, Until time.Time
	// MaxEvents, when positive and below Limits.MaxEvents, lowers it.
	MaxEvents int
}

// Firing is one firing the backtest found.
type Firing struct {
	LeadID  string    `json:"lead_id"`
	EventID string    `json:"event_id"`
	Score   int64     `json:"score"`
	At      time.Time `json:"at"`
}

// Why a backtest stopped before the end of the stream (Result.StoppedBy).
const (
	StoppedByMaxEvents = "max_events"
	StoppedByTimeLimit = "time_limit"
)

// Result is a backtest's answer.
type Result struct {
	// EventsScanned counts the OU's events read, from the start of the
	// stream's retention: those before Since too, which build each lead's
	// state.
	EventsScanned int `json:"events_scanned"`
	// EventsRejected counts the events among them the evaluator rejects
	// (invalid, or on another lead's subject); they change no state.
	EventsRejected int `json:"events_rejected"`
	// Firings counts the firings whose events happened between Since and
	// Until.
	Firings int `json:"firings"`
	// Leads counts the distinct leads of those firings.
	Leads int `json:"leads"`
	// FirstFirings are the earliest of them by event time, at most
	// MaxFirstFirings.
	FirstFirings []Firing `json:"first_firings"`
	// Complete is false when the backtest stopped before the end of the
	// stream as it was when it started; StoppedBy says why, and the counts
	// cover the events through ScannedThrough only.
	Complete  bool   `json:"complete"`
	StoppedBy string `json:"stopped_by,omitempty"`
	// ScannedThrough is when the stream stored the last event read.
	ScannedThrough *time.Time `json:"scanned_through,omitempty"`
}

// Message is one stored event, as a Source reads it.
type Message struct {
	Subject string
	Data    []byte
	// Stored is when the stream stored it: the event's time when it has
	// no created_at.
	Stored time.Time
}

// Source reads an OU's stored events in the stream's order, from the start
// of its retention to its end as it was when Read started, calling fn for
// each; it stops early when fn returns an error, which it returns.
type Source interface {
	Read(ctx context.Context, ou string, fn func(Message) error) error
}

// errStop ends a Read early from inside fn.
var errStop = errors.New("stop")

// Run runs req over src within limits. The context's end is an error; the
// time limit and the event limit are not: they give a result that is not
// Complete.
func Run(ctx context.Context, src Source, req Request, limits Limits) (Result, error) {
	maxEvents := limits.MaxEvents
	if req.MaxEvents > 0 && (maxEvents <= 0 || req.MaxEvents < maxEvents) {
		maxEvents = req.MaxEvents
	}
	deadline := time.Time{}
	if limits.TimeLimit > 0 {
		deadline = time.Now().Add(limits.TimeLimit)
	}
	r := newReplay(req)
	res := Result{Complete: true}
	var last time.Time
	err := src.Read(ctx, req.OU, func(m Message) error {
		if maxEvents > 0 && res.EventsScanned >= maxEvents {
			res.Complete, res.StoppedBy = false, StoppedByMaxEvents
			return errStop
		}
		// The clock is read every 1024 events.
		if !deadline.IsZero() && res.EventsScanned&1023 == 0 && time.Now().After(deadline) {
			res.Complete, res.StoppedBy = false, StoppedByTimeLimit
			return errStop
		}
		res.EventsScanned++
		last = m.Stored
		if !r.apply(m) {
			res.EventsRejected++
		}
		return nil
	})
	switch {
	case errors.Is(err, errStop):
	case err != nil:
		return Result{}, err
	}
	if !last.IsZero() {
		at := last.UTC()
		res.ScannedThrough = &at
	}
	res.Firings, res.Leads, res.FirstFirings = r.firings, len(r.leadsFired), r.first
	if res.FirstFirings == nil {
		res.FirstFirings = []Firing{}
	}
	return res, nil
}

// replay is the evaluator's state over one backtest.
type replay struct {
	req    Request
	index  *evaluator.Index
	states map[string]evaluator.LeadState
	fired  []evaluator.Firing
	// firings counts the firings in the window, leadsFired their leads;
	// first holds the earliest, by event time.
	firings    int
	leadsFired map[string]struct{}
	first      []Firing
}

func newReplay(req Request) *replay {
	d := req.Definition
	return &replay{
		req: req,
		index: evaluator.NewIndex([]evaluator.Trigger{{
			Name: d.Name, UID: d.UID, EventType: d.EventType, Threshold: d.Threshold,
			RearmBelow: d.RearmBelow, Cooldown: d.Cooldown, Active: true,
		}}),
		states:     map[string]evaluator.LeadState{},
		leadsFired: map[string]struct{}{},
	}
}

// apply evaluates one stored event as the pipeline does: decoded with the
// stream's codec, rejected when invalid or on another lead's subject. It
// reports whether the event was evaluated.
func (r *replay) apply(m Message) bool {
	ev, err := decode(r.req.OU, m)
	if err != nil {
		return false
	}
	state := r.states[ev.LeadID]
	state, r.fired = r.index.Evaluate(state, evaluator.Event{
		ID: ev.ID, LeadID: ev.LeadID, Type: ev.EventType, Score: ev.Score, At: ev.CreatedAt,
	}, r.fired[:0])
	r.states[ev.LeadID] = state
	if len(r.fired) == 0 || ev.CreatedAt.Before(r.req.Since) || ev.CreatedAt.After(r.req.Until) {
		return true
	}
	r.firings++
	r.leadsFired[ev.LeadID] = struct{}{}
	r.keep(Firing{LeadID: ev.LeadID, EventID: ev.ID, Score: ev.Score, At: ev.CreatedAt})
	return true
}

// keep adds f to the earliest firings, by event time, then in the
// stream's order.
func (r *replay) keep(f Firing) {
	if len(r.first) == MaxFirstFirings && !f.At.Before(r.first[len(r.first)-1].At) {
		return
	}
	i, _ := slices.BinarySearchFunc(r.first, f.At, func(g Firing, at time.Time) int {
		// After every firing at the same time: the stream's order.
		if c := g.At.Compare(at); c != 0 {
			return c
		}
		return -1
	})
	r.first = slices.Insert(r.first, i, f)
	if len(r.first) > MaxFirstFirings {
		r.first = r.first[:MaxFirstFirings]
	}
}

// decode is the pipeline's reading of a stored event of OU ou.
func decode(ou string, m Message) (event.Event, error) {
	parts, ev, err := stream.DecodeEventMsg(m.Subject, m.Data, m.Stored)
	if err == nil && parts.OU != ou {
		err = fmt.Errorf("subject %q: %w", m.Subject, event.ErrNoOU)
	}
	return ev, err
}
