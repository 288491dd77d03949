package restapi

import (
	"errors"
	"net/http"
	"time"

	"github.com/leadvibe/milestone-triggers-operator/internal/event"
	"github.com/leadvibe/milestone-triggers-operator/internal/ratelimit"
	"github.com/leadvibe/milestone-triggers-operator/internal/stream"
)

// EventsSubresource is what an event publisher is authorized on: the verb
// "create" on milestonetriggers/events in the OU. The
// milestonetrigger-event-publisher ClusterRole grants it.
const EventsSubresource = "events"

// acceptedEvent is one event of an ingest answer.
type acceptedEvent struct {
	ID        string `json:"id"`
	Duplicate bool   `json:"duplicate,omitempty"`
}

// ingestResponse is the 202 answer of POST /events.
type ingestResponse struct {
	Accepted int             `json:"accepted"`
	Events   []acceptedEvent `json:"events"`
}

// IngestRoute serves POST /events: one event, a JSON array of events, or
// {"events":[...]} (at most event.MaxBatchEvents), for the caller's OU.
// Every event is validated before any is published: a batch with an
// invalid event is refused whole with 400, naming each event and field
// ("events[3].score"). Accepted events go to the events stream's writer,
// which commits them as atomic batches (a request of up to a thousand
// events in one, with one fsync, grouped with other requests under way),
// with their id as the message id; a duplicate within the stream's window
// is reported, not published twice. 202 says the events are durably in the
// stream. Each OU may publish within its budget in limits, shared with
// the stream listener (429 with Retry-After past it, counting every event
// of a request, before any is published; nil limits nothing); 507 says
// the events stream is full (its byte limit): nothing was published, and
// nothing stored was dropped to make room.
func IngestRoute(events *stream.Writer, limits *ratelimit.OUs) Route {
	return Route{
		Pattern:     "POST /events",
		Verb:        "create",
		Subresource: EventsSubresource,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			caller, _ := CallerFrom(r.Context())
			body, err := readBody(w, r, event.MaxBatchBytes, mediaJSON)
			if err != nil {
				WriteError(w, err)
				return
			}
			batch, err := event.DecodeBatch(body, time.Now())
			if err != nil {
				WriteError(w, ingestError(err))
				return
			}
			if err := rateLimited(caller.OU, limits, len(batch)); err != nil {
				WriteError(w, err)
				return
			}
			results, err := stream.Publish(r.Context(), events, caller.OU, batch...)
			if stream.IsFull(err) {
				WriteError(w, streamFull(err))
				return
			}
			if err != nil {
				WriteError(w, internalError(err))
				return
			}
			resp := ingestResponse{Events: make([]acceptedEvent, len(batch))}
			for i, ev := range batch {
				resp.Events[i] = acceptedEvent{ID: ev.ID, Duplicate: results[i].Duplicate}
				if !results[i].Duplicate {
					resp.Accepted++
				}
			}
			WriteJSON(w, http.StatusAccepted, resp)
		}),
	}
}

// streamFull is the 507 of a POST /events the full events stream refused.
// Some events of a large request may have been stored before the stream
// filled: sending the request again is safe, as the stored ones are
// reported as duplicates.
func streamFull(err error) *Error {
	e := newError(http.StatusInsufficientStorage, "the events stream is full (the operator's --stream-max-bytes events limit): no new events are accepted until old ones age out or the limit is raised; events already stored are kept, and sending this request again later is safe")
	e.retryAfter = 60
	e.cause = err
	return e
}

// ingestError turns the codec's errors into a 400 naming each field.
func ingestError(err error) error {
	var de *event.DecodeError
	if !errors.As(err, &de) {
		return newError(http.StatusBadRequest, err.Error())
	}
	fields := make([]FieldError, 0, len(de.Errors))
	for _, fe := range de.Errors {
		field := fe.Field
		if field == "" {
			field = "body"
		}
		fields = append(fields, FieldError{Field: field, Message: fe.Message})
	}
	return invalid("invalid events", fields)
}
