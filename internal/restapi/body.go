package restapi

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"

	"github.com/leadvibe/milestone-triggers-operator/internal/event"
)

// maxJSONDepth bounds the nesting of a request body; a trigger nests three
// levels deep.
const maxJSONDepth = 32

// Media types of request bodies.
const (
	mediaJSON       = "application/json"
	mediaMergePatch = "application/merge-patch+json"
)

// readBody reads a request body of at most max bytes whose Content-Type,
// when the client sends one, is one of allowed. A larger body is a 413.
func readBody(w http.ResponseWriter, r *http.Request, limit int64, allowed ...string) ([]byte, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || !slices.Contains(allowed, mt) {
			return nil, newError(http.StatusUnsupportedMediaType, "Content-Type must be "+strings.Join(allowed, " or "))
		}
	}
	tooLarge := newError(http.StatusRequestEntityTooLarge, fmt.Sprintf("request body is larger than %d bytes", limit))
	if r.ContentLength > limit {
		return nil, tooLarge
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooLarge
		}
		return nil, newError(http.StatusBadRequest, "could not read the request body")
	}
	return body, nil
}

// parseJSON parses a request body with the event codec's strict scanner
// (event.ParseJSON): exactly one JSON value, no repeated field names, valid
// UTF-8 as sent, at most maxJSONDepth levels deep. Objects become
// map[string]any, arrays []any, numbers json.Number, and the rest string,
// bool or nil. Errors are 400s: a field error names its field ("body" for
// the body as a whole), and a body that is not JSON or nests too deep is
// said to be so.
func parseJSON(data []byte) (any, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, newError(http.StatusBadRequest, "request body is empty: want a JSON object")
	}
	tree, err := event.ParseJSON(data, maxJSONDepth)
	if err == nil {
		return tree, nil
	}
	var fe *event.FieldError
	switch {
	case !errors.As(err, &fe):
		return nil, newError(http.StatusBadRequest, "invalid request body")
	case fe.Code == event.ReasonInvalidJSON, fe.Code == event.ReasonTooLarge:
		return nil, newError(http.StatusBadRequest, "invalid request body: "+fe.Message)
	}
	field := fe.Field
	if field == "" {
		field = "body"
	}
	return nil, invalid("invalid request body", []FieldError{{Field: field, Message: fe.Message}})
}
