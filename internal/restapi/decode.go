package restapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	triggersv1alpha1 "github.com/leadvibe/milestone-triggers-operator/api/v1alpha1"
	"github.com/leadvibe/milestone-triggers-operator/internal/event"
)

// maxFieldErrors bounds the field errors of one response.
const maxFieldErrors = 20

// decodeMode says which request a trigger body belongs to.
type decodeMode int

const (
	// forCreate: POST. id, created_at and status may not be given.
	forCreate decodeMode = iota
	// forReplace: PUT, and PATCH after merging. id and created_at may be
	// given when they match the trigger; status is ignored.
	forReplace
)

// triggerDoc is a decoded trigger body: the spec it asks for and the
// read-only fields it carried.
type triggerDoc struct {
	spec      triggersv1alpha1.MilestoneTriggerSpec
	id        *string
	createdAt *string
}

// decodeTrigger decodes a trigger request body strictly: every field known
// and of its type, name and score_threshold present. A null is the same as
// an absent field, and so is an empty string for an optional one. Errors
// are 400s naming the fields.
func decodeTrigger(data []byte, mode decodeMode) (*triggerDoc, error) {
	tree, err := parseJSON(data)
	if err != nil {
		return nil, err
	}
	return decodeTriggerTree(tree, mode)
}

// decodeTriggerTree decodes a body already parsed by parseJSON.
func decodeTriggerTree(tree any, mode decodeMode) (*triggerDoc, error) {
	obj, ok := tree.(map[string]any)
	if !ok {
		return nil, newError(http.StatusBadRequest, "request body must be a JSON object")
	}
	d := &fieldDecoder{}
	doc := &triggerDoc{}
	s := &doc.spec
	var hasName, hasThreshold bool
	for _, k := range sortedKeys(obj) {
		v := obj[k]
		switch k {
		case "id":
			doc.id = d.readOnly(k, v, mode)
		case "created_at":
			doc.createdAt = d.readOnly(k, v, mode)
		case "status":
			if mode == forCreate && v != nil {
				d.fail(k, "read-only: set by the operator")
			}
		case "name":
			s.DisplayName, hasName = d.str(k, v)
		case "event_type":
			s.EventType, _ = d.str(k, v)
		case "score_threshold":
			var n int64
			if n, hasThreshold = d.integer(k, v); hasThreshold {
				s.ScoreThreshold = ptrTo(n)
			}
		case "rearm_below":
			if n, ok := d.integer(k, v); ok {
				s.RearmBelow = ptrTo(n)
			}
		case "cooldown":
			s.Cooldown = d.duration(k, v)
		case "active":
			s.Active = d.boolean(k, v)
		case "webhook_url":
			s.WebhookURL = d.url(k, v)
		case "webhook_url_secret_ref":
			s.WebhookURLSecretRef = d.secretRef(k, v)
		case "webhook_signing_secret_ref":
			s.WebhookSigningSecretRef = d.secretRef(k, v)
		case "emails":
			s.Emails = d.emails(k, v)
		case "email_subject":
			s.EmailSubject, _ = d.str(k, v)
		case "email_preheader":
			s.EmailPreheader, _ = d.str(k, v)
		case "email_message":
			s.EmailMessage, _ = d.text(k, v)
		case "slack":
			s.Slack = d.chat(k, v)
		case "teams":
			s.Teams = d.chat(k, v)
		default:
			d.fail(event.MemberPath("", k), "unknown field")
		}
	}
	if !hasName && obj["name"] == nil {
		d.fail("name", "required")
	}
	if !hasThreshold && obj["score_threshold"] == nil {
		d.fail("score_threshold", "required")
	}
	if len(d.errs) > 0 {
		return nil, invalid("invalid request body", d.errs)
	}
	return doc, nil
}

// checkReadOnly refuses a body whose id or created_at differ from the
// trigger's.
func (doc *triggerDoc) checkReadOnly(cur *triggersv1alpha1.MilestoneTrigger) error {
	var fields []FieldError
	if doc.id != nil && *doc.id != cur.Name {
		fields = append(fields, FieldError{Field: "id", Message: "read-only: does not match the trigger's id"})
	}
	if doc.createdAt != nil {
		t, err := time.Parse(time.RFC3339, *doc.createdAt)
		if err != nil || !t.Equal(cur.CreationTimestamp.Time) {
			fields = append(fields, FieldError{Field: "created_at", Message: "read-only: does not match the trigger's creation time"})
		}
	}
	if len(fields) > 0 {
		return invalid("invalid request body", fields)
	}
	return nil
}

// fieldDecoder converts the values of parseJSON to the spec's types,
// collecting an error per bad field.
type fieldDecoder struct {
	errs []FieldError
}

func (d *fieldDecoder) fail(path, msg string) {
	if len(d.errs) < maxFieldErrors {
		d.errs = append(d.errs, FieldError{Field: path, Message: msg})
	}
}

// str returns a string field of one line; ok is false when it is absent
// (null) or invalid. Control characters (line breaks included) and U+FFFD
// (what invalid UTF-8 decodes to) are refused.
func (d *fieldDecoder) str(path string, v any) (s string, ok bool) {
	return d.textOf(path, v, false)
}

// text is str for a field that may span lines: tab, line feed and
// carriage return are allowed.
func (d *fieldDecoder) text(path string, v any) (s string, ok bool) {
	return d.textOf(path, v, true)
}

func (d *fieldDecoder) textOf(path string, v any, multiline bool) (string, bool) {
	switch t := v.(type) {
	case nil:
		return "", false
	case string:
		if msg := textProblem(t, multiline); msg != "" {
			d.fail(path, msg)
			return "", false
		}
		return t, true
	default:
		d.fail(path, "must be a string")
		return "", false
	}
}

// textProblem says what makes s unfit for a text field, or "" when
// nothing does: NUL and the other control characters (C0, DEL and C1;
// tab and line breaks are allowed when multiline; a line break otherwise
// is "must be a single line"), and U+FFFD, which is
// what invalid UTF-8 or a lone surrogate escape decodes to. The API
// server's schema refuses the same characters (api/v1alpha1).
func textProblem(s string, multiline bool) string {
	for i, r := range s {
		switch {
		case r == utf8.RuneError:
			return fmt.Sprintf("must be valid UTF-8 (found U+FFFD at byte %d)", i)
		case multiline && (r == '\t' || r == '\n' || r == '\r'):
		case r == '\n' || r == '\r':
			// As the schema words it for email_subject and email_preheader.
			return "must be a single line"
		case unicode.IsControl(r):
			if multiline {
				return fmt.Sprintf("must not contain control characters other than tab and line breaks (found %U at byte %d)", r, i)
			}
			return fmt.Sprintf("must not contain control characters (found %U at byte %d)", r, i)
		}
	}
	return ""
}

func (d *fieldDecoder) integer(path string, v any) (int64, bool) {
	if v == nil {
		return 0, false
	}
	num, ok := v.(json.Number)
	if !ok {
		d.fail(path, "must be an integer")
		return 0, false
	}
	n, err := strconv.ParseInt(string(num), 10, 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			d.fail(path, "must be an integer between -1000000000 and 1000000000")
		} else {
			d.fail(path, "must be an integer")
		}
		return 0, false
	}
	return n, true
}

// duration returns a duration field, written as Go writes durations ("30m",
// "1h30m", "90s"); nil when it is absent (null or ""). Its bounds are the
// schema's.
func (d *fieldDecoder) duration(path string, v any) *metav1.Duration {
	switch t := v.(type) {
	case nil:
		return nil
	case string:
		if t == "" {
			return nil
		}
		dur, err := time.ParseDuration(t)
		if err != nil {
			d.fail(path, `must be a duration such as "30m" or "1h" (units h, m, s, ms, us, ns)`)
			return nil
		}
		return &metav1.Duration{Duration: dur}
	default:
		d.fail(path, `must be a string holding a duration such as "30m" or "1h"`)
		return nil
	}
}

func (d *fieldDecoder) boolean(path string, v any) *bool {
	switch t := v.(type) {
	case nil:
		return nil
	case bool:
		return ptrTo(t)
	default:
		d.fail(path, "must be a boolean")
		return nil
	}
}

func (d *fieldDecoder) url(path string, v any) *triggersv1alpha1.HTTPURL {
	s, _ := d.str(path, v)
	if s == "" {
		return nil
	}
	return ptrTo(triggersv1alpha1.HTTPURL(s))
}

func (d *fieldDecoder) readOnly(path string, v any, mode decodeMode) *string {
	if v == nil {
		return nil
	}
	if mode == forCreate {
		d.fail(path, "read-only: set by the server")
		return nil
	}
	s, ok := d.str(path, v)
	if !ok {
		return nil
	}
	return &s
}

func (d *fieldDecoder) object(path string, v any) (map[string]any, bool) {
	switch t := v.(type) {
	case nil:
		return nil, false
	case map[string]any:
		return t, true
	default:
		d.fail(path, "must be an object")
		return nil, false
	}
}

func (d *fieldDecoder) secretRef(path string, v any) *triggersv1alpha1.SecretKeyRef {
	obj, ok := d.object(path, v)
	if !ok {
		return nil
	}
	ref := &triggersv1alpha1.SecretKeyRef{}
	var hasName, hasKey bool
	for _, k := range sortedKeys(obj) {
		p := event.MemberPath(path, k)
		switch k {
		case "name":
			ref.Name, hasName = d.str(p, obj[k])
		case "key":
			ref.Key, hasKey = d.str(p, obj[k])
		default:
			d.fail(p, "unknown field")
		}
	}
	if !hasName && obj["name"] == nil {
		d.fail(event.MemberPath(path, "name"), "required")
	}
	if !hasKey && obj["key"] == nil {
		d.fail(event.MemberPath(path, "key"), "required")
	}
	return ref
}

func (d *fieldDecoder) chat(path string, v any) *triggersv1alpha1.ChatDestination {
	obj, ok := d.object(path, v)
	if !ok {
		return nil
	}
	dest := &triggersv1alpha1.ChatDestination{}
	for _, k := range sortedKeys(obj) {
		p := event.MemberPath(path, k)
		switch k {
		case "webhook_url":
			dest.WebhookURL = d.url(p, obj[k])
		case "webhook_url_secret_ref":
			dest.WebhookURLSecretRef = d.secretRef(p, obj[k])
		default:
			d.fail(p, "unknown field")
		}
	}
	return dest
}

func (d *fieldDecoder) emails(path string, v any) []triggersv1alpha1.EmailAddress {
	if v == nil {
		return nil
	}
	arr, ok := v.([]any)
	if !ok {
		d.fail(path, "must be an array of strings")
		return nil
	}
	var out []triggersv1alpha1.EmailAddress
	for i, e := range arr {
		p := event.ElementPath(path, i)
		s, ok := d.str(p, e)
		if !ok {
			if e == nil {
				d.fail(p, "must be a string")
			}
			continue
		}
		out = append(out, triggersv1alpha1.EmailAddress(s))
	}
	return out
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func ptrTo[T any](v T) *T { return &v }
