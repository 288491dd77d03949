package restapi

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"
)

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
