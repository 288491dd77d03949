// Package event is the engagement event: its type, its limits, its strict
// decoder (every problem found, each named by field and given a reason
// code where it is found), its canonical encoding and the JSON scanner
// they share. The stream package carries events; the REST shim and
// simulate decode them with this package too.
package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/leadvibe/milestone-triggers-operator/internal/text"
)

// Limits of the event codec. Inputs beyond them are rejected with a
// FieldError, never truncated.
const (
	// MaxEventBytes bounds one encoded event, as published to the stream or
	// as one element of a batch.
	MaxEventBytes = 64 << 10
	// MaxMetadataBytes bounds an event's metadata object once compacted.
	MaxMetadataBytes = 16 << 10
	// MaxMetadataDepth bounds how deeply metadata nests; the metadata object
	// itself is level 1.
	MaxMetadataDepth = 16
	// MaxIDLength bounds id and lead_id, in bytes.
	MaxIDLength = 256
	// MaxEventTypeLength bounds event_type, in bytes, as the CRD's eventType.
	MaxEventTypeLength = 128
	// MaxBatchEvents bounds the events of one ingest request.
	MaxBatchEvents = 1000
	// MaxBatchBytes bounds the body of one ingest request.
	MaxBatchBytes = 4 << 20
	// MaxScore bounds |score|, so that every score survives a trip through
	// a JSON number in any client (IEEE doubles are exact up to 2^53).
	MaxScore int64 = 1e15
)

// eventTypePattern is what event_type must match, the CRD's eventType pattern.
const eventTypePattern = `^[A-Za-z0-9][A-Za-z0-9_.:/-]*$`

// maxReportedErrors bounds the problems one DecodeError lists, so that a
// hostile batch cannot turn into a huge error response.
const maxReportedErrors = 100

// Event is one engagement event of a lead.
type Event struct {
	ID        string          `json:"id"`
	LeadID    string          `json:"lead_id"`
	EventType string          `json:"event_type"`
	Score     int64           `json:"score"`
	Metadata  json.RawMessage `json:"metadata,omitempty"` // a JSON object, compacted, passed through verbatim otherwise
	CreatedAt time.Time       `json:"created_at"`         // UTC
}

// FieldError says what is wrong with an input and where: Field is the JSON
// name of the field ("score", or "events[3].score" in a batch), empty for the
// input as a whole.
type FieldError struct {
	// Field is the path of the field, such as events[3].score or, in the
	// REST shim's answers, emails[1].
	Field string `json:"field"`
	// Code is the problem's reason code (RejectReasons), set where the
	// decoder finds it; not part of an answer.
	Code string `json:"-"`
	// Message says what is wrong with it.
	Message string `json:"message"`
}

// Error returns "<field>: <message>", or the message alone for the input as
// a whole.
func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return e.Field + ": " + e.Message
}

// DecodeError lists every problem found in one input: all fields are
// checked, not just up to the first problem. At most 100 problems are
// listed; a last entry says how many more there were.
type DecodeError struct {
	Errors []FieldError
}

// Error joins the problems with "; ".
func (e *DecodeError) Error() string {
	var b strings.Builder
	for i := range e.Errors {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(e.Errors[i].Error())
	}
	return b.String()
}

// DecodeEvent decodes one event strictly: unknown and duplicate fields,
// missing required fields, wrong types and values beyond the limits are all
// reported, in a *DecodeError. now fills created_at when it is absent;
// CreatedAt is always in UTC.
func DecodeEvent(data []byte, now time.Time) (Event, error) {
	var errs fieldErrors
	if len(data) > MaxEventBytes {
		errs.add("", ReasonTooLarge, tooLargeMessage("event", len(data), MaxEventBytes))
		return Event{}, errs.err()
	}
	v, ok := parseJSONValue(data, &errs)
	if !ok {
		return Event{}, errs.err()
	}
	ev := decodeEvent(v, eventPath{}, now, &errs)
	if err := errs.err(); err != nil {
		return Event{}, err
	}
	return ev, nil
}

// DecodeBatch decodes the body of an ingest request: a single event object,
// a JSON array of events, or an object {"events": [...]}. Problems in a batch
// are reported for "events[i].<field>"; problems of a single event for
// "<field>". An empty batch is an error, and so is one with a problem in any
// of its events: no events are returned then.
func DecodeBatch(data []byte, now time.Time) ([]Event, error) {
	var errs fieldErrors
	if len(data) > MaxBatchBytes {
		errs.add("", ReasonTooLarge, tooLargeMessage("body", len(data), MaxBatchBytes))
		return nil, errs.err()
	}
	v, ok := parseJSONValue(data, &errs)
	if !ok {
		return nil, errs.err()
	}
	var events []Event
	switch v[0] {
	case '[':
		events = decodeArray(v, now, &errs)
	case '{':
		if !jsonHasMember(v, "events") {
			if len(v) > MaxEventBytes {
				errs.add("", ReasonTooLarge, tooLargeMessage("event", len(v), MaxEventBytes))
				break
			}
			ev := decodeEvent(v, eventPath{}, now, &errs)
			events = []Event{ev}
			break
		}
		seen := map[string]bool{}
		for rawKey, val := range jsonMembers(v) {
			key := jsonUnquote(rawKey)
			switch {
			case key == "events" && seen[key]:
				errs.add("events", ReasonDuplicateField, "duplicate field")
			case key == "events":
				if val[0] != '[' {
					errs.add("events", ReasonInvalidValue, "must be an array of events, got "+jsonKind(val))
					break
				}
				events = decodeArray(val, now, &errs)
			case !seen[key]:
				errs.add(fieldDisplayName(key), ReasonUnknownField, "unknown field")
			}
			seen[key] = true
		}
	default:
		errs.add("", ReasonNotAnObject, `must be an event object, an array of events or {"events": [...]}, got `+jsonKind(v))
	}
	if err := errs.err(); err != nil {
		return nil, err
	}
	return events, nil
}

// Encode returns the event's canonical JSON: fields in the order of Event,
// no insignificant space, no HTML escaping, metadata compacted and left out
// when empty, created_at in UTC as RFC 3339 with as many fractional digits as
// it needs. DecodeEvent of the result returns an equal event. Encode assumes
// an event as DecodeEvent returns it; metadata that is not a JSON object is
// left out. For such an event, json.Marshal gives the same JSON, except that
// it escapes <, > and & in metadata strings.
func (e Event) Encode() []byte {
	b := make([]byte, 0, 192+len(e.ID)+len(e.LeadID)+len(e.EventType)+len(e.Metadata))
	b = append(b, `{"id":`...)
	b = appendJSONString(b, e.ID)
	b = append(b, `,"lead_id":`...)
	b = appendJSONString(b, e.LeadID)
	b = append(b, `,"event_type":`...)
	b = appendJSONString(b, e.EventType)
	b = append(b, `,"score":`...)
	b = strconv.AppendInt(b, e.Score, 10)
	if m := trimJSONSpace(e.Metadata); len(m) > 0 && m[0] == '{' && json.Valid(m) {
		b = append(b, `,"metadata":`...)
		b = appendCompactJSON(b, m)
	}
	b = append(b, `,"created_at":"`...)
	b = e.CreatedAt.UTC().AppendFormat(b, time.RFC3339Nano)
	return append(b, `"}`...)
}

// The fields of an event, in the order the required ones are reported.
const (
	fieldID = iota
	fieldLeadID
	fieldEventType
	fieldScore
	fieldMetadata
	fieldCreatedAt
	numEventFields
)

var eventFieldNames = [numEventFields]string{"id", "lead_id", "event_type", "score", "metadata", "created_at"}

const requiredEventFields = 1<<fieldID | 1<<fieldLeadID | 1<<fieldEventType | 1<<fieldScore

// eventFieldIndex returns the index of the field with the quoted name raw,
// or -1 for an unknown field.
func eventFieldIndex(raw []byte) int {
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') >= 0 {
		return eventFieldIndexOf(jsonUnquote(raw))
	}
	return eventFieldIndexOf(string(inner))
}

func eventFieldIndexOf(name string) int {
	switch name {
	case "id":
		return fieldID
	case "lead_id":
		return fieldLeadID
	case "event_type":
		return fieldEventType
	case "score":
		return fieldScore
	case "metadata":
		return fieldMetadata
	case "created_at":
		return fieldCreatedAt
	}
	return -1
}

// decodeEvent decodes the valid JSON value v as an event, adding its
// problems to errs with field names under at.
func decodeEvent(v []byte, at eventPath, now time.Time, errs *fieldErrors) Event {
	if v[0] != '{' {
		errs.add(at.field(""), ReasonNotAnObject, "must be a JSON object, got "+jsonKind(v))
		return Event{}
	}
	var (
		ev       Event
		seen     uint
		hasTime  bool
		unknowns map[string]bool
	)
	for rawKey, val := range jsonMembers(v) {
		i := eventFieldIndex(rawKey)
		if i < 0 {
			key := jsonUnquote(rawKey)
			if !unknowns[key] {
				errs.add(at.field(fieldDisplayName(key)), ReasonUnknownField, "unknown field")
				if unknowns == nil {
					unknowns = map[string]bool{}
				}
				unknowns[key] = true
			}
			continue
		}
		name := eventFieldNames[i]
		if seen&(1<<i) != 0 {
			errs.add(at.field(name), ReasonDuplicateField, "duplicate field")
			continue
		}
		seen |= 1 << i
		var prob problem
		switch i {
		case fieldID:
			ev.ID, prob = decodeID(val)
		case fieldLeadID:
			ev.LeadID, prob = decodeID(val)
		case fieldEventType:
			ev.EventType, prob = decodeEventType(val)
		case fieldScore:
			ev.Score, prob = decodeScore(val)
		case fieldMetadata:
			ev.Metadata, prob = decodeMetadata(val)
		case fieldCreatedAt:
			ev.CreatedAt, prob = decodeTime(val)
			hasTime = prob.message == ""
		}
		if prob.message != "" {
			errs.add(at.field(name), prob.code, prob.message)
		}
	}
	for i, name := range eventFieldNames {
		if requiredEventFields&(1<<i) != 0 && seen&(1<<i) == 0 {
			errs.add(at.field(name), ReasonMissingField, "required")
		}
	}
	if !hasTime {
		ev.CreatedAt = now.UTC()
	}
	return ev
}

// decodeArray decodes the valid JSON array v as a batch of events.
func decodeArray(v []byte, now time.Time, errs *fieldErrors) []Event {
	n := 0
	for range jsonElements(v) {
		n++
	}
	switch {
	case n == 0:
		errs.add("events", ReasonInvalidValue, "must contain at least one event")
		return nil
	case n > MaxBatchEvents:
		errs.add("events", ReasonTooLarge, fmt.Sprintf("must contain at most %d events, got %d", MaxBatchEvents, n))
		return nil
	}
	events := make([]Event, 0, n)
	i := 0
	for elem := range jsonElements(v) {
		at := eventPath{batch: true, index: i}
		i++
		if len(elem) > MaxEventBytes {
			errs.add(at.field(""), ReasonTooLarge, tooLargeMessage("event", len(elem), MaxEventBytes))
			continue
		}
		events = append(events, decodeEvent(elem, at, now, errs))
	}
	return events
}

// decodeID decodes id or lead_id.
func decodeID(v []byte) (string, problem) {
	if v[0] != '"' {
		return "", problem{ReasonInvalidValue, "must be a string, got " + jsonKind(v)}
	}
	if !utf8.Valid(v) || hasLoneSurrogate(v) {
		return "", problem{ReasonInvalidValue, "must be valid UTF-8"}
	}
	s := jsonUnquote(v)
	switch {
	case s == "":
		return "", problem{ReasonInvalidValue, "must not be empty"}
	case len(s) > MaxIDLength:
		return "", problem{ReasonTooLarge, fmt.Sprintf("must be at most %d bytes, got %d", MaxIDLength, len(s))}
	}
	for i, r := range s {
		if unicode.IsControl(r) || unicode.IsSpace(r) {
			return "", problem{ReasonInvalidValue, fmt.Sprintf("must not contain whitespace or control characters, found %U at byte %d", r, i)}
		}
	}
	return s, problem{}
}

func decodeEventType(v []byte) (string, problem) {
	if v[0] != '"' {
		return "", problem{ReasonInvalidValue, "must be a string, got " + jsonKind(v)}
	}
	s := jsonUnquote(v)
	switch {
	case s == "":
		return "", problem{ReasonInvalidValue, "must not be empty"}
	case len(s) > MaxEventTypeLength:
		return "", problem{ReasonTooLarge, fmt.Sprintf("must be at most %d bytes, got %d", MaxEventTypeLength, len(s))}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isASCIIAlnum(c) || i > 0 && (c == '_' || c == '.' || c == ':' || c == '/' || c == '-') {
			continue
		}
		r, _ := utf8.DecodeRuneInString(s[i:])
		return "", problem{ReasonInvalidValue, fmt.Sprintf("must match %s, found %s at byte %d", eventTypePattern, strconv.QuoteRune(r), i)}
	}
	return s, problem{}
}

func isASCIIAlnum(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// decodeScore decodes score: a JSON number without fraction or exponent
// within ±MaxScore.
func decodeScore(v []byte) (int64, problem) {
	if c := v[0]; c != '-' && (c < '0' || c > '9') {
		return 0, problem{ReasonInvalidValue, "must be an integer, got " + jsonKind(v)}
	}
	digits := v
	if v[0] == '-' {
		digits = v[1:]
	}
	var n int64
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, problem{ReasonInvalidValue, "must be an integer, got " + text.ClipBytes(string(v), 40)}
		}
		if n <= MaxScore {
			n = n*10 + int64(c-'0')
		}
	}
	if n > MaxScore {
		return 0, problem{ReasonInvalidValue, fmt.Sprintf("must be between %d and %d, got %s", -MaxScore, MaxScore, text.ClipBytes(string(v), 40))}
	}
	if v[0] == '-' {
		n = -n
	}
	return n, problem{}
}

// decodeMetadata decodes metadata: a JSON object, returned compacted, or
// null for none.
func decodeMetadata(v []byte) (json.RawMessage, problem) {
	switch {
	case string(v) == "null":
		return nil, problem{}
	case v[0] != '{':
		return nil, problem{ReasonInvalidValue, "must be a JSON object, got " + jsonKind(v)}
	case !utf8.Valid(v):
		return nil, problem{ReasonInvalidValue, "must be valid UTF-8"}
	}
	size, depth := measureJSON(v)
	switch {
	case depth > MaxMetadataDepth:
		return nil, problem{ReasonTooLarge, fmt.Sprintf("must be at most %d levels deep, got %d", MaxMetadataDepth, depth)}
	case size > MaxMetadataBytes:
		return nil, problem{ReasonTooLarge, fmt.Sprintf("must be at most %d bytes when compacted, got %d", MaxMetadataBytes, size)}
	}
	return appendCompactJSON(make([]byte, 0, size), v), problem{}
}

func decodeTime(v []byte) (time.Time, problem) {
	if v[0] != '"' {
		return time.Time{}, problem{ReasonInvalidValue, "must be an RFC 3339 time string, got " + jsonKind(v)}
	}
	s := jsonUnquote(v)
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, problem{ReasonInvalidValue, "must be an RFC 3339 time such as 2025-01-15T10:35:00Z, got " + strconv.Quote(text.ClipBytes(s, 64))}
	}
	t = t.UTC()
	if y := t.Year(); y < 0 || y > 9999 {
		return time.Time{}, problem{ReasonInvalidValue, "must be between the years 0000 and 9999 in UTC, got " + strconv.Quote(text.ClipBytes(s, 64))}
	}
	return t, problem{}
}

// eventPath names where in the input an event is: the input itself, or one
// element of a batch.
type eventPath struct {
	batch bool
	index int
}

// field returns the name of field name ("" for the event itself) of the
// event at p.
func (p eventPath) field(name string) string {
	if !p.batch {
		return name
	}
	prefix := "events[" + strconv.Itoa(p.index) + "]"
	if name == "" {
		return prefix
	}
	return prefix + "." + name
}

// fieldErrors collects the problems of one input, up to maxReportedErrors.
type fieldErrors struct {
	errs    []FieldError
	dropped int
}

func (l *fieldErrors) add(field, code, message string) {
	if len(l.errs) >= maxReportedErrors {
		l.dropped++
		return
	}
	l.errs = append(l.errs, FieldError{Field: field, Code: code, Message: message})
}

// problem is what is wrong with one field's value: its reason code and
// message; the zero problem is none.
type problem struct {
	code, message string
}

func (l *fieldErrors) err() error {
	if len(l.errs) == 0 {
		return nil
	}
	errs := l.errs
	if l.dropped > 0 {
		errs = append(errs, FieldError{Code: ReasonOther, Message: fmt.Sprintf("and %d more problems", l.dropped)})
	}
	return &DecodeError{Errors: errs}
}

func tooLargeMessage(what string, n, limit int) string {
	return fmt.Sprintf("%s is %d bytes, more than the limit of %d", what, n, limit)
}

// parseJSONValue checks that data is one valid JSON value and returns it without
// the space around it.
func parseJSONValue(data []byte, errs *fieldErrors) ([]byte, bool) {
	if json.Valid(data) {
		return trimJSONSpace(data), true
	}
	var syntax *json.SyntaxError
	if err := json.Unmarshal(data, new(json.RawMessage)); errors.As(err, &syntax) {
		errs.add("", ReasonInvalidJSON, fmt.Sprintf("invalid JSON at byte offset %d: %s", syntax.Offset, syntax.Error()))
	} else if err != nil {
		errs.add("", ReasonInvalidJSON, "invalid JSON: "+err.Error())
	} else {
		errs.add("", ReasonInvalidJSON, "invalid JSON")
	}
	return nil, false
}

// jsonKind names the kind of the valid JSON value v.
func jsonKind(v []byte) string {
	switch v[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}

// fieldDisplayName returns a field name fit for a message: the name itself when
// it is short printable ASCII, otherwise quoted and cut short.
func fieldDisplayName(name string) string {
	if name != "" && len(name) <= 64 {
		plain := true
		for i := 0; i < len(name); i++ {
			if c := name[i]; c <= ' ' || c >= 0x7f || c == '"' || c == '\\' {
				plain = false
				break
			}
		}
		if plain {
			return name
		}
	}
	return strconv.Quote(text.ClipBytes(name, 64))
}

// The functions below scan JSON that json.Valid accepted, so they need not
// check syntax. None of them recurses.

func isJSONSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func trimJSONSpace(b []byte) []byte {
	for len(b) > 0 && isJSONSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isJSONSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

func skipJSONSpace(b []byte, i int) int {
	for i < len(b) && isJSONSpace(b[i]) {
		i++
	}
	return i
}

// jsonStringEnd returns the index just past the string starting at b[i].
func jsonStringEnd(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(b)
}

// jsonValueEnd returns the index just past the value starting at b[i].
func jsonValueEnd(b []byte, i int) int {
	depth := 0
	for i < len(b) {
		switch b[i] {
		case '"':
			i = jsonStringEnd(b, i)
			if depth == 0 {
				return i
			}
			continue
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return i
			}
			depth--
			if depth == 0 {
				return i + 1
			}
		case ',', ' ', '\t', '\n', '\r':
			if depth == 0 {
				return i
			}
		}
		i++
	}
	return i
}

// jsonMembers yields the name, still quoted, and the value of each member of
// the object v, in order.
func jsonMembers(v []byte) iter.Seq2[[]byte, []byte] {
	return func(yield func([]byte, []byte) bool) {
		i := skipJSONSpace(v, 1)
		for i < len(v) && v[i] == '"' {
			keyEnd := jsonStringEnd(v, i)
			key := v[i:keyEnd]
			i = skipJSONSpace(v, keyEnd) + 1 // past ':'
			i = skipJSONSpace(v, i)
			end := jsonValueEnd(v, i)
			if !yield(key, v[i:end]) {
				return
			}
			i = skipJSONSpace(v, end)
			if i < len(v) && v[i] == ',' {
				i = skipJSONSpace(v, i+1)
			}
		}
	}
}

// jsonElements yields each element of the array v, in order.
func jsonElements(v []byte) iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		i := skipJSONSpace(v, 1)
		for i < len(v) && v[i] != ']' {
			end := jsonValueEnd(v, i)
			if !yield(v[i:end]) {
				return
			}
			i = skipJSONSpace(v, end)
			if i < len(v) && v[i] == ',' {
				i = skipJSONSpace(v, i+1)
			}
		}
	}
}

func jsonHasMember(v []byte, name string) bool {
	for key := range jsonMembers(v) {
		if jsonUnquote(key) == name {
			return true
		}
	}
	return false
}

// jsonUnquote returns the value of the JSON string v, quotes included.
func jsonUnquote(v []byte) string {
	if len(v) < 2 {
		return ""
	}
	inner := v[1 : len(v)-1]
	for _, c := range inner {
		if c == '\\' {
			var s string
			if json.Unmarshal(v, &s) != nil {
				return string(inner)
			}
			return s
		}
	}
	return string(inner)
}

// hasLoneSurrogate says whether the JSON string v escapes half of a UTF-16
// surrogate pair without the other half, which decodes to U+FFFD and so
// would make two different inputs the same string.
func hasLoneSurrogate(v []byte) bool {
	for i := 0; i < len(v); i++ {
		if v[i] != '\\' {
			continue
		}
		i++
		if i+4 >= len(v) || v[i] != 'u' {
			continue
		}
		r := hexRune(v[i+1 : i+5])
		i += 4
		switch {
		case 0xD800 <= r && r < 0xDC00:
			if i+6 < len(v) && v[i+1] == '\\' && v[i+2] == 'u' {
				if r2 := hexRune(v[i+3 : i+7]); 0xDC00 <= r2 && r2 < 0xE000 {
					i += 6
					continue
				}
			}
			return true
		case 0xDC00 <= r && r < 0xE000:
			return true
		}
	}
	return false
}

func hexRune(h []byte) rune {
	var r rune
	for _, c := range h {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}

// measureJSON returns the compacted size of the value v and how deeply it nests.
func measureJSON(v []byte) (size, depth int) {
	level := 0
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case ' ', '\t', '\n', '\r':
			continue
		case '"':
			end := jsonStringEnd(v, i)
			size += end - i
			i = end - 1
			continue
		case '{', '[':
			level++
			depth = max(depth, level)
		case '}', ']':
			level--
		}
		size++
	}
	return size, depth
}

// appendCompactJSON appends the value v to b without insignificant space.
func appendCompactJSON(b, v []byte) []byte {
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case ' ', '\t', '\n', '\r':
			continue
		case '"':
			end := jsonStringEnd(v, i)
			b = append(b, v[i:end]...)
			i = end - 1
			continue
		}
		b = append(b, v[i])
	}
	return b
}

// appendJSONString appends s as a JSON string, escaping only what JSON requires
// and replacing invalid UTF-8 with U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				b = append(b, s[start:i]...)
				b = append(b, `\ufffd`...)
				start = i + size
			}
			i += size
			continue
		}
		if c >= ' ' && c != '"' && c != '\\' {
			i++
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, `\n`...)
		case '\r':
			b = append(b, `\r`...)
		case '\t':
			b = append(b, `\t`...)
		default:
			b = append(b, `\u00`...)
			b = append(b, hex[c>>4], hex[c&0xf])
		}
		i++
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
