package restapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/leadvibe/milestone-triggers-operator/internal/event"
)

// Error is the one error shape of the REST shim. It is written as
//
//	{"error":{"status":400,"message":"...","fields":[{"field":"score_threshold","message":"required"}]}}
//
// Fields are set only for validation errors and name the request's
// snake_case fields (emails[1], slack.webhook_url).
type Error struct {
	// Status is the HTTP status code.
	Status int `json:"status"`
	// Message says what went wrong, for a person.
	Message string `json:"message"`
	// Fields lists the invalid fields of a request body, when there are any.
	Fields []FieldError `json:"fields,omitempty"`

	// retryAfter, when positive, is sent as the Retry-After header.
	retryAfter int
	// cause is the underlying error, logged for server faults and never sent.
	cause error
}

// FieldError names one invalid field of a request body.
//
// It is the event codec's FieldError: one type names a bad field from the
// event decoder to the answer.
type FieldError = event.FieldError

func (e *Error) Error() string { return strconv.Itoa(e.Status) + " " + e.Message }

// Unwrap returns the underlying error, if any.
func (e *Error) Unwrap() error { return e.cause }

// newError builds an Error without fields.
func newError(status int, message string) *Error {
	return &Error{Status: status, Message: message}
}

// invalid builds a 400 for a request body with invalid fields. Its message
// lists them, so that a person reading only the message sees every field.
func invalid(summary string, fields []FieldError) *Error {
	parts := make([]string, 0, len(fields))
	for _, f := range fields {
		parts = append(parts, f.Field+": "+f.Message)
	}
	msg := summary
	if len(parts) > 0 {
		msg += ": " + strings.Join(parts, "; ")
	}
	return &Error{Status: http.StatusBadRequest, Message: msg, Fields: fields}
}

// internalError is a 500 whose cause is logged and not sent.
func internalError(cause error) *Error {
	return &Error{Status: http.StatusInternalServerError, Message: "internal server error", cause: cause}
}

// WriteJSON writes v as the JSON body of a response with the given status.
// HTML is not escaped (a rendered email's HTML reads as written): the
// response is application/json with nosniff, never rendered as HTML.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	body := []byte(`{"error":{"status":500,"message":"internal server error"}}` + "\n")
	if err := enc.Encode(v); err != nil {
		status = http.StatusInternalServerError
	} else {
		body = buf.Bytes()
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// WriteError writes err in the shim's error shape. An *Error is written as
// it is; anything else is a 500 whose details are not sent. Under the
// shim's middleware the error is logged too (server faults with their
// cause).
func WriteError(w http.ResponseWriter, err error) {
	e := asError(err)
	if rec, ok := w.(*statusRecorder); ok {
		rec.failure = e
	}
	switch e.Status {
	case http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Bearer realm="leadvibe"`)
	case http.StatusRequestEntityTooLarge:
		w.Header().Set("Connection", "close")
	}
	if e.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(e.retryAfter))
	}
	WriteJSON(w, e.Status, struct {
		Error *Error `json:"error"`
	}{e})
}

// asError returns err as an *Error, turning anything else into a 500.
func asError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return internalError(err)
}
