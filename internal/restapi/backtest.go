package restapi

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	triggersv1alpha1 "github.com/leadvibe/milestone-triggers-operator/api/v1alpha1"
	"github.com/leadvibe/milestone-triggers-operator/internal/backtest"
	"github.com/leadvibe/milestone-triggers-operator/internal/metrics"
)

// BacktestSubresource is what a backtest is authorized on: the verb
// "create" on milestonetriggers/backtest for the trigger. The
// milestonetrigger-editor ClusterRole grants it: a backtest reads every
// stored event of the OU.
const BacktestSubresource = "backtest"

// maxBacktestBytes bounds a backtest request: a few short fields.
const maxBacktestBytes = 4 << 10

// MaxBacktestCooldown is the longest cooldown a backtest takes, the CRD's.
const MaxBacktestCooldown = 90 * 24 * time.Hour

// scoreBound is the CRD's bound on scoreThreshold and rearmBelow.
const scoreBound = 1_000_000_000

// eventTypePattern is the CRD's pattern of eventType.
var eventTypePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:/-]*$`)

// Backtests is how the operator runs backtests: where the events are read,
// the limits, and how many run at once.
type Backtests struct {
	Source backtest.Source
	Limits backtest.Limits
	// Running holds a token per backtest under way; its capacity is how
	// many may run at once. A request beyond it answers 429.
	Running chan struct{}
}

// NewBacktests runs backtests from src within limits, at most concurrent
// at once.
func NewBacktests(src backtest.Source, limits backtest.Limits, concurrent int) *Backtests {
	return &Backtests{Source: src, Limits: limits, Running: make(chan struct{}, max(concurrent, 1))}
}

// BacktestResponse is the 200 answer of a backtest: hack/backtest reads
// it too.
type BacktestResponse struct {
	TriggerID  string             `json:"trigger_id"`
	Since      time.Time          `json:"since"`
	Until      time.Time          `json:"until"`
	Definition BacktestDefinition `json:"definition"`
	backtest.Result
}

// BacktestDefinition is the definition the backtest evaluated, in the
// REST API's names.
type BacktestDefinition struct {
	ScoreThreshold int64  `json:"score_threshold"`
	EventType      string `json:"event_type,omitempty"`
	RearmBelow     *int64 `json:"rearm_below,omitempty"`
	Cooldown       string `json:"cooldown,omitempty"`
}

// BacktestRoute serves POST /triggers/{id}/backtest: it replays the OU's
// stored events, from the start of the stream's retention, through the
// real evaluator as if the trigger had existed all along with its
// definition and the request's overrides, and answers 200 with how often
// and for how many leads it would have fired between since and until. It
// sends nothing and changes no state. cache reads the trigger (the
// informer cache). 429 while bt's backtests all run.
func BacktestRoute(cache client.Reader, bt *Backtests) Route {
	return Route{
		Pattern:     "POST /triggers/{id}/backtest",
		Verb:        "create",
		Subresource: BacktestSubresource,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			caller, _ := CallerFrom(r.Context())
			if err := serveBacktest(w, r, caller, cache, bt); err != nil {
				WriteError(w, err)
			}
		}),
	}
}

func serveBacktest(w http.ResponseWriter, r *http.Request, caller Caller, cache client.Reader, bt *Backtests) error {
	ctx := r.Context()
	ou, id := caller.OU, r.PathValue("id")
	if !validID(id) {
		return notFound(ou, id)
	}
	body, err := readBody(w, r, maxBacktestBytes, mediaJSON)
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	overrides, err := decodeBacktestRequest(body, now, bt.Limits.MaxEvents)
	if err != nil {
		return err
	}
	mt, err := readTrigger(ctx, cache, ou, id)
	if err != nil {
		return err
	}
	req, err := overrides.apply(ou, mt)
	if err != nil {
		return err
	}
	select {
	case bt.Running <- struct{}{}:
		defer func() { <-bt.Running }()
	default:
		e := newError(http.StatusTooManyRequests, fmt.Sprintf("the operator already runs %d backtests, its most at once; retry shortly", cap(bt.Running)))
		e.retryAfter = 5
		return e
	}
	res, err := backtest.Run(ctx, bt.Source, req, bt.Limits)
	if err != nil {
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		return internalError(err)
	}
	result := metrics.BacktestComplete
	if !res.Complete {
		result = res.StoppedBy
	}
	metrics.BacktestRan(result, res.EventsScanned)
	d := req.Definition
	def := BacktestDefinition{ScoreThreshold: d.Threshold, EventType: d.EventType, RearmBelow: d.RearmBelow}
	if d.Cooldown > 0 {
		def.Cooldown = formatDuration(d.Cooldown)
	}
	WriteJSON(w, http.StatusOK, BacktestResponse{TriggerID: id, Since: req.Since, Until: req.Until, Definition: def, Result: res})
	return nil
}

// backtestOverrides is a decoded backtest request: the window, the
// definition's overrides (set says which fields the request has), and the
// event limit.
type backtestOverrides struct {
	since, until time.Time
	set          map[string]bool
	threshold    int64
	eventType    string
	rearmBelow   *int64
	cooldown     time.Duration
	maxEvents    int
}

// apply makes the backtest request of OU ou for mt: mt's definition with
// the overrides, checked together (a rearm_below must be below the
// threshold in effect).
func (o backtestOverrides) apply(ou string, mt *triggersv1alpha1.MilestoneTrigger) (backtest.Request, error) {
	s := &mt.Spec
	d := backtest.Definition{Name: mt.Name, UID: string(mt.UID), EventType: s.EventType, RearmBelow: s.RearmBelow}
	if s.ScoreThreshold != nil {
		d.Threshold = *s.ScoreThreshold
	}
	if s.Cooldown != nil {
		d.Cooldown = s.Cooldown.Duration
	}
	if o.set["score_threshold"] {
		d.Threshold = o.threshold
	}
	if o.set["event_type"] {
		d.EventType = o.eventType
	}
	if o.set["rearm_below"] {
		d.RearmBelow = o.rearmBelow
	}
	if o.set["cooldown"] {
		d.Cooldown = o.cooldown
	}
	if d.RearmBelow != nil && *d.RearmBelow >= d.Threshold {
		field, msg := "rearm_below", fmt.Sprintf("must be below the score_threshold %d", d.Threshold)
		if !o.set["rearm_below"] {
			msg = fmt.Sprintf("the trigger's rearm_below %d must be below the score_threshold %d: give a lower rearm_below, or null", *d.RearmBelow, d.Threshold)
		}
		return backtest.Request{}, invalid("invalid backtest", []FieldError{{Field: field, Message: msg}})
	}
	return backtest.Request{OU: ou, Definition: d, Since: o.since, Until: o.until, MaxEvents: o.maxEvents}, nil
}

// decodeBacktestRequest decodes {"since": t, "until": t, "score_threshold":
// n, "event_type": s, "rearm_below": n, "cooldown": d, "max_events": n}
// strictly, at time now, with maxEvents the operator's limit (0 for none).
func decodeBacktestRequest(body []byte, now time.Time, maxEvents int) (backtestOverrides, error) {
	tree, err := parseJSON(body)
	if err != nil {
		return backtestOverrides{}, err
	}
	obj, ok := tree.(map[string]any)
	if !ok {
		return backtestOverrides{}, invalid("invalid backtest", []FieldError{{Field: "body", Message: "must be a JSON object"}})
	}
	o := backtestOverrides{set: map[string]bool{}, until: now}
	d := &fieldDecoder{}
	for _, k := range sortedKeys(obj) {
		o.field(d, k, obj[k], maxEvents)
	}
	switch {
	case obj["since"] == nil:
		d.fail("since", "required")
	case len(d.errs) == 0 && !o.until.After(o.since):
		d.fail("until", fmt.Sprintf("must be after since (%s)", o.since.Format(time.RFC3339Nano)))
	}
	if len(d.errs) > 0 {
		return backtestOverrides{}, invalid("invalid backtest", d.errs)
	}
	return o, nil
}

// timestamp returns a time field, written in RFC 3339 ("2026-11-24T00:00:00Z",
// with or without fractions of a second), in UTC.
func (d *fieldDecoder) timestamp(path string, v any) (time.Time, bool) {
	s, ok := v.(string)
	if !ok {
		d.fail(path, `must be a string holding an RFC 3339 time such as "2026-11-24T00:00:00Z"`)
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		d.fail(path, `must be an RFC 3339 time such as "2026-11-24T00:00:00Z"`)
		return time.Time{}, false
	}
	return t.UTC(), true
}

// field decodes the request's field k, of value v, into o.
func (o *backtestOverrides) field(d *fieldDecoder, k string, v any, maxEvents int) {
	switch k {
	case "since":
		if v == nil {
			return // required: see decodeBacktestRequest
		}
		if t, ok := d.timestamp(k, v); ok {
			o.since = t
		}
	case "until":
		if v == nil {
			return
		}
		if t, ok := d.timestamp(k, v); ok {
			o.until = t
		}
	case "score_threshold":
		if n, ok := d.integer(k, v); ok {
			if n < -scoreBound || n > scoreBound {
				d.fail(k, "must be between -1000000000 and 1000000000")
				return
			}
			o.threshold, o.set[k] = n, true
		}
	case "event_type":
		if v == nil {
			o.set[k] = true
			return
		}
		s, ok := d.str(k, v)
		if !ok {
			return
		}
		if s != "" && (len(s) > 128 || !eventTypePattern.MatchString(s)) {
			d.fail(k, `must be "" (any type) or at most 128 letters, digits and _.:/- starting with a letter or digit`)
			return
		}
		o.eventType, o.set[k] = s, true
	case "rearm_below":
		o.set[k] = true
		if v == nil {
			return
		}
		if n, ok := d.integer(k, v); ok {
			if n < -scoreBound || n > scoreBound {
				d.fail(k, "must be between -1000000000 and 1000000000")
				return
			}
			o.rearmBelow = &n
		}
	case "cooldown":
		o.set[k] = true
		c := d.duration(k, v)
		if c == nil {
			return
		}
		if c.Duration <= 0 || c.Duration > MaxBacktestCooldown {
			d.fail(k, "must be more than 0s and at most 90 days (2160h)")
			return
		}
		o.cooldown = c.Duration
	case "max_events":
		n, ok := d.integer(k, v)
		switch {
		case !ok:
		case n < 1:
			d.fail(k, "must be at least 1")
		case maxEvents > 0 && n > int64(maxEvents):
			d.fail(k, fmt.Sprintf("must be at most %d, the operator's --backtest-max-events", maxEvents))
		default:
			o.maxEvents = int(n)
		}
	default:
		d.fail(k, "unknown field")
	}
}
