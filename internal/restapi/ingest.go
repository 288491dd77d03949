package restapi

import (
	"errors"
	"net/http"
	"time"

	"github.com/nats-io/nats.go/jetstream"

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
// {"events":[...]} (at most stream.MaxBatchEvents), for the caller's OU.
// Every event is validated before any is published: a batch with an
// invalid event is refused whole with 400, naming each event and field
// ("events[3].score"). Accepted events are published with their id as the
// message id; a duplicate within the stream's window is reported, not
// published twice. 202 says the events are durably in the stream.
func IngestRoute(js jetstream.JetStream) Route {
	return Route{
		Pattern:     "POST /events",
		Verb:        "create",
		Subresource: EventsSubresource,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			caller, _ := CallerFrom(r.Context())
			body, err := readBody(w, r, stream.MaxBatchBytes, mediaJSON)
			if err != nil {
				WriteError(w, err)
				return
			}
			events, err := stream.DecodeBatch(body, time.Now())
			if err != nil {
				WriteError(w, ingestError(err))
				return
			}
			resp := ingestResponse{Events: make([]acceptedEvent, 0, len(events))}
			for _, ev := range events {
				ack, err := stream.Publish(r.Context(), js, caller.OU, ev)
				if err != nil {
					WriteError(w, internalError(err))
					return
				}
				resp.Events = append(resp.Events, acceptedEvent{ID: ev.ID, Duplicate: ack.Duplicate})
				if !ack.Duplicate {
					resp.Accepted++
				}
			}
			WriteJSON(w, http.StatusAccepted, resp)
		}),
	}
}

// ingestError turns the codec's errors into a 400 naming each field.
func ingestError(err error) error {
	var de *stream.DecodeError
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
