package event

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/leadvibe/milestone-triggers-operator/internal/text"
)

// eventTypePattern is what event_type must match, the CRD's eventType pattern.
const eventTypePattern = `^[A-Za-z0-9][A-Za-z0-9_.:/-]*$`

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
	v, fe := checkJSON(data)
	if fe != nil {
		errs.add(fe.Field, fe.Code, fe.Message)
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
	v, fe := checkJSON(data)
	if fe != nil {
		errs.add(fe.Field, fe.Code, fe.Message)
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
		return time.Time{}, problem{ReasonInvalidValue, "must be an RFC 3339 time such as 2025-01-15T10:35:00Z, got " + quoteClipped(s, 64)}
	}
	t = t.UTC()
	if y := t.Year(); y < 0 || y > 9999 {
		return time.Time{}, problem{ReasonInvalidValue, "must be between the years 0000 and 9999 in UTC, got " + quoteClipped(s, 64)}
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

// problem is what is wrong with one field's value: its reason code and
// message; the zero problem is none.
type problem struct {
	code, message string
}

func tooLargeMessage(what string, n, limit int) string {
	return fmt.Sprintf("%s is %d bytes, more than the limit of %d", what, n, limit)
}

// fieldDisplayName returns a field name fit for a message: the name itself when
// it is short printable ASCII, otherwise quoted and cut short.
func fieldDisplayName(name string) string {
	if name != "" && len(name) <= maxNameBytes {
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
	return quoteClipped(name, maxNameBytes)
}

// quoteClipped quotes at most n bytes of s, and fewer when escaping would
// make the quoted form longer than n+8 bytes (a control character quotes
// as four): an error repeats a bounded excerpt, whatever the input holds.
func quoteClipped(s string, n int) string {
	q := strconv.Quote(text.ClipBytes(s, n))
	for m := n; len(q) > n+8 && m > 0; {
		m /= 2
		q = strconv.Quote(text.ClipBytes(s, m))
	}
	return q
}
