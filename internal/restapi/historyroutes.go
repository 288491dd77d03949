package restapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/leadvibe/milestone-triggers-operator/internal/event"
	"github.com/leadvibe/milestone-triggers-operator/internal/history"
)

// HistoryFinder answers history queries; *history.Store is the real one.
type HistoryFinder interface {
	Find(ctx context.Context, q history.Query) (history.Page, error)
}

// HistoryRoutes serve the firing history of the caller's OU, oldest
// first: GET /milestone-events (list; filters trigger_id, lead_id, since,
// until; limit and cursor) and GET /triggers/{id}/events (get on that
// trigger; the same filters but trigger_id). Reading history needs the
// same permission as reading triggers.
func HistoryRoutes(finder HistoryFinder) []Route {
	return []Route{
		{Pattern: "GET /milestone-events", Verb: "list", Handler: historyHandler(finder, false)},
		{Pattern: "GET /triggers/{id}/events", Verb: "get", Handler: historyHandler(finder, true)},
	}
}

func historyHandler(finder HistoryFinder, byPath bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		caller, _ := CallerFrom(r.Context())
		// A trigger id is a name, never a pattern: "*" or ">" in the path
		// is a trigger that does not exist.
		if id := r.PathValue("id"); byPath && !validID(id) {
			WriteError(w, notFound(caller.OU, id))
			return
		}
		q, err := historyQuery(r, caller.OU, byPath)
		if err != nil {
			WriteError(w, err)
			return
		}
		page, err := finder.Find(r.Context(), q)
		if errors.Is(err, history.ErrBadCursor) {
			WriteError(w, invalid("invalid query", []FieldError{{Field: "cursor", Message: "is not a cursor this API returned"}}))
			return
		}
		if err != nil {
			WriteError(w, internalError(err))
			return
		}
		out := historyPage{MilestoneEvents: make([]milestoneEvent, 0, len(page.Records)), NextCursor: page.Next}
		for _, rec := range page.Records {
			out.MilestoneEvents = append(out.MilestoneEvents, fromRecord(rec))
		}
		WriteJSON(w, http.StatusOK, out)
	})
}

// historyQuery reads the query parameters, naming each invalid one.
func historyQuery(r *http.Request, ou string, byPath bool) (history.Query, error) {
	params := r.URL.Query()
	q := history.Query{OU: ou, LeadID: params.Get("lead_id"), Cursor: params.Get("cursor"), Trigger: params.Get("trigger_id")}
	var fields []FieldError
	if byPath {
		q.Trigger = r.PathValue("id")
		if params.Has("trigger_id") {
			fields = append(fields, FieldError{Field: "trigger_id", Message: "unknown query parameter here: the trigger is in the path"})
		}
	} else if q.Trigger != "" && !validID(q.Trigger) {
		fields = append(fields, FieldError{Field: "trigger_id", Message: "must be a trigger id: a Kubernetes object name (lowercase letters, digits, '-' and '.')"})
	}
	if msg := queryTextProblem(q.LeadID); msg != "" {
		fields = append(fields, FieldError{Field: "lead_id", Message: msg})
	}
	if msg := queryTextProblem(q.Cursor); msg != "" {
		fields = append(fields, FieldError{Field: "cursor", Message: msg})
	}
	for _, p := range []struct {
		name string
		into *time.Time
	}{{"since", &q.Since}, {"until", &q.Until}} {
		if v := params.Get(p.name); v != "" {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				fields = append(fields, FieldError{Field: p.name, Message: "must be an RFC 3339 time, such as 2025-01-15T10:00:00Z"})
				continue
			}
			*p.into = t
		}
	}
	if v := params.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			fields = append(fields, FieldError{Field: "limit", Message: "must be an integer from 1 to 1000"})
		}
		q.Limit = n
	}
	for name := range params {
		switch name {
		case "lead_id", "cursor", "trigger_id", "since", "until", "limit":
		default:
			fields = append(fields, FieldError{Field: name, Message: "unknown query parameter"})
		}
	}
	if len(fields) > 0 {
		return q, invalid("invalid query", fields)
	}
	return q, nil
}

// queryTextProblem checks an id given in a query parameter as the event
// codec checks lead ids: valid UTF-8, no control characters or white
// space, at most event.MaxIDLength bytes.
func queryTextProblem(v string) string {
	switch {
	case len(v) > event.MaxIDLength:
		return fmt.Sprintf("must be at most %d bytes, got %d", event.MaxIDLength, len(v))
	case !utf8.ValidString(v):
		return "must be valid UTF-8"
	}
	for i, r := range v {
		if unicode.IsControl(r) || unicode.IsSpace(r) {
			return fmt.Sprintf("must not contain white space or control characters (found %U at byte %d)", r, i)
		}
	}
	return ""
}
