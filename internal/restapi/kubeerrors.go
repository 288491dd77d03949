package restapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// fromKube maps an error of the Kubernetes API, met while working on
// trigger id (empty for a list or a create) in OU ou, to the shim's error
// shape. The API server's own messages are not passed on when they could
// carry a field's value (a webhook URL may hold a token); validation causes
// are rebuilt from their type and detail instead.
func fromKube(err error, ou, id string) *Error {
	var e *Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &e):
		return e
	case apierrors.IsInvalid(err):
		return invalidFromKube(err)
	case apierrors.IsNotFound(err):
		if st, ok := statusOf(err); ok && st.Details != nil && st.Details.Kind == "namespaces" {
			return newError(http.StatusNotFound, fmt.Sprintf("OU %q not found", ou))
		}
		return notFound(ou, id)
	case apierrors.IsAlreadyExists(err):
		return newError(http.StatusConflict, fmt.Sprintf("trigger %q already exists in OU %q", id, ou))
	case apierrors.IsConflict(err):
		return newError(http.StatusConflict, fmt.Sprintf("trigger %q was changed by someone else at the same time; read it again and retry", id))
	case apierrors.IsForbidden(err):
		// The operator's own identity was refused (its RBAC, an admission
		// policy, a terminating namespace): logged, as it may be a fault.
		e := newError(http.StatusForbidden, "refused by the Kubernetes API: "+translateText(messageOf(err)))
		e.cause = err
		return e
	case apierrors.IsRequestEntityTooLargeError(err):
		return newError(http.StatusRequestEntityTooLarge, "the trigger is too large")
	case apierrors.IsTooManyRequests(err), apierrors.IsServerTimeout(err), apierrors.IsTimeout(err),
		apierrors.IsServiceUnavailable(err), errors.Is(err, context.DeadlineExceeded):
		e := newError(http.StatusServiceUnavailable, "the Kubernetes API did not answer in time; retry later")
		e.retryAfter, _ = apierrors.SuggestsClientDelay(err)
		if e.retryAfter <= 0 {
			e.retryAfter = 1
		}
		e.cause = err
		return e
	case apierrors.IsBadRequest(err):
		return newError(http.StatusBadRequest, translateText(messageOf(err)))
	default:
		return internalError(err)
	}
}

// notFound is the 404 of a trigger id that the OU does not have.
func notFound(ou, id string) *Error {
	return newError(http.StatusNotFound, fmt.Sprintf("trigger %q not found in OU %q", id, ou))
}

func statusOf(err error) (metav1.Status, bool) {
	var s apierrors.APIStatus
	if errors.As(err, &s) {
		return s.Status(), true
	}
	return metav1.Status{}, false
}

func messageOf(err error) string {
	if st, ok := statusOf(err); ok && st.Message != "" {
		return st.Message
	}
	return err.Error()
}

// invalidFromKube turns the API server's refusal of an object (the CRD's
// schema, CEL rules, list-type checks) into a 400 whose fields are the
// shim's snake_case fields.
//
// A cause that names no field is left out when another cause names one:
// the API server adds such a cause, "some validation rules were not
// checked because the object was invalid", whenever a schema error (a
// value too long, too many items, a wrong type) kept it from running the
// CRD's CEL rules; the fields it means are the ones named beside it, and
// once they are fixed the rules run and name their own fields. Alone, a
// cause without a field is the body's.
func invalidFromKube(err error) *Error {
	st, _ := statusOf(err)
	var causes []metav1.StatusCause
	if st.Details != nil {
		causes = st.Details.Causes
	}
	named := slices.ContainsFunc(causes, func(c metav1.StatusCause) bool { return !noField(c.Field) })
	var fields []FieldError
	for _, c := range causes {
		if named && noField(c.Field) {
			continue
		}
		name := apiFieldToSnake(c.Field)
		// "score_threshold: score_threshold should be ..." says it twice.
		msg := strings.TrimPrefix(causeMessage(c), name+" ")
		fields = append(fields, FieldError{Field: name, Message: msg})
	}
	return invalid("invalid trigger", fields)
}

// noField reports whether a cause's field path is empty: "" or "<nil>", as
// the API server writes the path of an error about no field in particular
// (field.Invalid(nil, ...)).
func noField(path string) bool { return path == "" || path == "<nil>" }

// apiFieldToSnake names a field of the custom resource (spec.scoreThreshold,
// spec.emails[1], spec.slack.webhookURL) as the REST API does
// (score_threshold, emails[1], slack.webhook_url).
func apiFieldToSnake(path string) string {
	switch {
	case path == "spec" || noField(path):
		return "body"
	case path == "metadata.name" || path == "metadata.generateName":
		return "id"
	case strings.HasPrefix(path, "spec."):
		return snakePath(strings.TrimPrefix(path, "spec."))
	default:
		return snakePath(path)
	}
}

// snakePath converts each name of a dotted path, keeping list indexes and
// map keys ([1], [key]) as they are.
func snakePath(path string) string {
	var b strings.Builder
	for i, seg := range strings.Split(path, ".") {
		if i > 0 {
			b.WriteByte('.')
		}
		name, index := seg, ""
		if j := strings.IndexByte(seg, '['); j >= 0 {
			name, index = seg[:j], seg[j:]
		}
		b.WriteString(camelToSnake(name))
		b.WriteString(index)
	}
	return b.String()
}

// camelToSnake converts a camelCase name to snake_case, treating a run of
// capitals as one word: webhookURLSecretRef -> webhook_url_secret_ref.
func camelToSnake(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isUpper(c) {
			if i > 0 {
				prev := s[i-1]
				nextLower := i+1 < len(s) && isLower(s[i+1])
				if isLower(prev) || isDigit(prev) || (isUpper(prev) && nextLower) {
					b.WriteByte('_')
				}
			}
			c += 'a' - 'A'
		}
		b.WriteByte(c)
	}
	return b.String()
}

func isUpper(c byte) bool { return c >= 'A' && c <= 'Z' }
func isLower(c byte) bool { return c >= 'a' && c <= 'z' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }

var (
	// specPathRE finds field paths of the resource in a message, as OpenAPI
	// validation writes them ("spec.eventType in body should match ...").
	specPathRE = regexp.MustCompile(`\bspec\.[A-Za-z0-9_]+(?:\[[^\]]*\])*(?:\.[A-Za-z0-9_]+(?:\[[^\]]*\])*)*`)
	// camelFieldRE finds the resource's camelCase field names in messages
	// written by the CRD's CEL rules.
	camelFieldRE = regexp.MustCompile(`\b(?:webhookURLSecretRef|webhookSigningSecretRef|webhookURL|scoreThreshold|rearmBelow|eventType|emailSubject|emailPreheader|emailMessage)\b`)
)

// translateText rewrites the resource's field names in an API server
// message into the REST API's names.
func translateText(s string) string {
	s = specPathRE.ReplaceAllStringFunc(s, func(p string) string {
		return apiFieldToSnake(p) + "\x00"
	})
	s = strings.ReplaceAll(s, "\x00 in body", "")
	s = strings.ReplaceAll(s, "\x00", "")
	return camelFieldRE.ReplaceAllStringFunc(s, camelToSnake)
}

// causeMessage rebuilds the message of one validation cause without the
// rejected value. The API server writes a cause as
// "<type>[: <value>][: <detail>]" (field.Error.ErrorBody); the value is
// dropped, because it may be a credential, and the detail is kept with its
// field names translated.
func causeMessage(c metav1.StatusCause) string {
	t := field.ErrorType(c.Type)
	switch t {
	case field.ErrorTypeRequired:
		return "required"
	case field.ErrorTypeDuplicate:
		return "duplicate value"
	}
	prefix := t.String()
	rest, ok := strings.CutPrefix(c.Message, prefix)
	if !ok {
		// An unknown shape: keep nothing that could be a value.
		return "invalid value"
	}
	rest = strings.TrimPrefix(rest, ": ")
	switch t {
	case field.ErrorTypeInvalid, field.ErrorTypeTypeInvalid, field.ErrorTypeNotSupported,
		field.ErrorTypeNotFound, field.ErrorTypeTooMany, field.ErrorTypeTooFew:
		rest = dropValue(rest)
	}
	rest = strings.TrimPrefix(rest, ": ")
	if rest == "" {
		return strings.ToLower(prefix)
	}
	return translateText(rest)
}

// dropValue removes the rejected value at the start of s: a Go-quoted
// string, a JSON object or array, or a number, boolean or null. What does
// not start with a value is returned as it is.
func dropValue(s string) string {
	switch {
	case s == "":
		return s
	case s[0] == '"':
		if q, err := strconv.QuotedPrefix(s); err == nil {
			return s[len(q):]
		}
		return ""
	case s[0] == '{' || s[0] == '[':
		dec := json.NewDecoder(bytes.NewReader([]byte(s)))
		var v any
		if err := dec.Decode(&v); err != nil {
			return ""
		}
		return s[dec.InputOffset():]
	default:
		tok, after, _ := strings.Cut(s, ": ")
		if _, err := strconv.ParseFloat(tok, 64); err == nil || tok == "true" || tok == "false" || tok == "null" {
			return after
		}
		return s
	}
}
