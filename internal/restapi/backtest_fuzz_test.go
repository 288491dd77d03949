package restapi

import (
	"errors"
	"net/http"
	"testing"
	"time"
)

// FuzzDecodeBacktestRequest checks that the decoder of backtest bodies
// never panics, that every refusal is a 400, and that what it accepts is
// within the bounds the backtest relies on: a window that ends after it
// starts, an event limit within the operator's, and overrides within the
// CRD's bounds.
func FuzzDecodeBacktestRequest(f *testing.F) {
	for _, seed := range []string{
		`{"since":"2026-11-24T00:00:00Z"}`,
		`{"since":"2026-11-24T00:00:00Z","until":"2026-12-01T00:00:00.5Z","score_threshold":60,"event_type":"demo_request","rearm_below":40,"cooldown":"1h30m","max_events":1000}`,
		`{"since":"2026-11-24T00:00:00+02:00","event_type":"","rearm_below":null,"cooldown":null,"until":null}`,
		`{"since":"2026-11-24T00:00:00Z","cooldown":"-1h","max_events":-1,"score_threshold":1e3}`,
		`{"since":null}`, `{"since":1}`, `{}`, `[]`, `null`, `{`, `{"since":"x","since":"y"}`,
		`{"since":"2026-11-24T00:00:00Z","until":"2026-11-23T00:00:00Z"}`,
	} {
		f.Add([]byte(seed))
	}
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	const limit = 5000
	f.Fuzz(func(t *testing.T, body []byte) {
		o, err := decodeBacktestRequest(body, now, limit)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Status != http.StatusBadRequest {
				t.Fatalf("refusal %v is not a 400 *Error", err)
			}
			if len(e.Fields) > maxFieldErrors {
				t.Fatalf("%d field errors", len(e.Fields))
			}
			return
		}
		switch {
		case !o.until.After(o.since):
			t.Fatalf("accepted a window from %v to %v", o.since, o.until)
		case o.maxEvents < 0 || o.maxEvents > limit:
			t.Fatalf("accepted max_events %d", o.maxEvents)
		case o.cooldown < 0 || o.cooldown > MaxBacktestCooldown || o.set["cooldown"] && o.cooldown == 0 && !emptyOrNull(body, "cooldown"):
			t.Fatalf("accepted cooldown %v", o.cooldown)
		case o.threshold < -scoreBound || o.threshold > scoreBound:
			t.Fatalf("accepted score_threshold %d", o.threshold)
		case o.rearmBelow != nil && (*o.rearmBelow < -scoreBound || *o.rearmBelow > scoreBound):
			t.Fatalf("accepted rearm_below %d", *o.rearmBelow)
		case o.eventType != "" && !eventTypePattern.MatchString(o.eventType):
			t.Fatalf("accepted event_type %q", o.eventType)
		}
	})
}

// emptyOrNull reports whether the JSON object body has field as null or "".
func emptyOrNull(body []byte, field string) bool {
	tree, err := parseJSON(body)
	if err != nil {
		return false
	}
	obj, _ := tree.(map[string]any)
	v, ok := obj[field]
	return ok && (v == nil || v == "")
}
