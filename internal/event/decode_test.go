package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

// seedEvent is the event of the seed's webhook payload, with its score.
const seedEvent = `{"id":"evt-789","lead_id":"ld_123","event_type":"demo_request","metadata":{"source":"website","page":"/pricing"},"created_at":"2025-01-15T10:35:00Z","score":82}`

// testNow is the ingest time of the tests: not in UTC, with nanoseconds.
var testNow = time.Date(2025, 2, 1, 13, 0, 0, 123456789, time.FixedZone("CET", 3600))

// event returns an event JSON object with the given members, in order.
func event(members ...string) string {
	return "{" + strings.Join(members, ",") + "}"
}

// valid is the members of a valid event, to which tests add or replace one.
var valid = []string{`"id":"evt-1"`, `"lead_id":"ld_1"`, `"event_type":"page_view"`, `"score":10`}

// with returns the valid members with the member of the same name replaced
// by m, or m added when there is none.
func with(ms ...string) string {
	out := append([]string(nil), valid...)
	for _, m := range ms {
		name := m[:strings.Index(m, ":")]
		replaced := false
		for i := range out {
			if strings.HasPrefix(out[i], name+":") {
				out[i], replaced = m, true
			}
		}
		if !replaced {
			out = append(out, m)
		}
	}
	return event(out...)
}

// without returns the valid members without the one named name.
func without(name string) string {
	var out []string
	for _, m := range valid {
		if !strings.HasPrefix(m, `"`+name+`":`) {
			out = append(out, m)
		}
	}
	return event(out...)
}

// nested returns metadata nested depth levels deep, the object itself being
// level 1.
func nested(depth int) string {
	return strings.Repeat(`{"a":`, depth-1) + "{}" + strings.Repeat("}", depth-1)
}

func problemsOf(t testing.TB, err error) []FieldError {
	t.Helper()
	var de *DecodeError
	if !errors.As(err, &de) {
		t.Fatalf("error %v (%T) is not a *DecodeError", err, err)
	}
	if len(de.Errors) == 0 {
		t.Fatal("DecodeError lists no problems")
	}
	return de.Errors
}

// wantProblem fails unless err lists a problem of field whose message
// contains msg.
func wantProblem(t *testing.T, err error, field, msg string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %s: ...%s...", field, msg)
	}
	for _, fe := range problemsOf(t, err) {
		if fe.Field == field && strings.Contains(fe.Message, msg) {
			return
		}
	}
	t.Fatalf("error %q lists no problem %q containing %q", err, field, msg)
}

func equalEvents(a, b Event) bool {
	return a.ID == b.ID && a.LeadID == b.LeadID && a.EventType == b.EventType && a.Score == b.Score &&
		bytes.Equal(a.Metadata, b.Metadata) && a.CreatedAt.Equal(b.CreatedAt) &&
		a.CreatedAt.Location() == time.UTC && b.CreatedAt.Location() == time.UTC
}

func TestDecodeEventAccepts(t *testing.T) {
	at := func(s string) time.Time {
		t.Helper()
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm.UTC()
	}
	base := Event{ID: "evt-1", LeadID: "ld_1", EventType: "page_view", Score: 10, CreatedAt: testNow.UTC()}
	change := func(f func(*Event)) Event {
		e := base
		f(&e)
		return e
	}
	tests := []struct {
		name string
		in   string
		want Event
	}{
		{"seed example", seedEvent, Event{
			ID: "evt-789", LeadID: "ld_123", EventType: "demo_request", Score: 82,
			Metadata:  json.RawMessage(`{"source":"website","page":"/pricing"}`),
			CreatedAt: at("2025-01-15T10:35:00Z"),
		}},
		{"created_at absent is now in UTC", with(), base},
		{"space around and inside", " \n\t{ \"id\" : \"evt-1\" ,\r\n\"lead_id\":\"ld_1\", \"event_type\":\"page_view\",\"score\": 10 } \n", base},
		{"created_at with offset is converted to UTC", with(`"created_at":"2025-01-15T11:35:00.5+01:00"`),
			change(func(e *Event) { e.CreatedAt = at("2025-01-15T10:35:00.5Z") })},
		{"created_at with nanoseconds", with(`"created_at":"2025-01-15T10:35:00.123456789Z"`),
			change(func(e *Event) { e.CreatedAt = at("2025-01-15T10:35:00.123456789Z") })},
		{"created_at zero time", with(`"created_at":"0001-01-01T00:00:00Z"`),
			change(func(e *Event) { e.CreatedAt = time.Time{}.UTC() })},
		{"metadata null is absent", with(`"metadata":null`), base},
		{"metadata compacted", with("\"metadata\": { \"a\" : [ 1 , \"x y\" ] ,\n\"b\":{} }"),
			change(func(e *Event) { e.Metadata = json.RawMessage(`{"a":[1,"x y"],"b":{}}`) })},
		{"metadata escapes kept verbatim", with(`"metadata":{"s":"\u003c\ud800\"","<":"é"}`),
			change(func(e *Event) { e.Metadata = json.RawMessage(`{"s":"\u003c\ud800\"","<":"é"}`) })},
		{"metadata empty object", with(`"metadata":{}`),
			change(func(e *Event) { e.Metadata = json.RawMessage(`{}`) })},
		{"metadata at the depth limit", with(`"metadata":` + nested(MaxMetadataDepth)),
			change(func(e *Event) { e.Metadata = json.RawMessage(nested(MaxMetadataDepth)) })},
		{"score zero", with(`"score":0`), change(func(e *Event) { e.Score = 0 })},
		{"score minus zero", with(`"score":-0`), change(func(e *Event) { e.Score = 0 })},
		{"score negative", with(`"score":-5`), change(func(e *Event) { e.Score = -5 })},
		{"score at MaxScore", with(`"score":1000000000000000`), change(func(e *Event) { e.Score = MaxScore })},
		{"score at -MaxScore", with(`"score":-1000000000000000`), change(func(e *Event) { e.Score = -MaxScore })},
		{"escaped id", with(`"id":"evt\u002d1"`), base},
		{"escaped key", event(`"\u0069d":"evt-1"`, `"lead_id":"ld_1"`, `"event_type":"page_view"`, `"score":10`), base},
		{"unicode ids", with(`"id":"événement-😀"`, `"lead_id":"\ud83d\ude00"`),
			change(func(e *Event) { e.ID, e.LeadID = "événement-😀", "😀" })},
		{"id with quotes and slashes", with(`"id":"a\"b\\c/d"`), change(func(e *Event) { e.ID = `a"b\c/d` })},
		{"id at MaxIDLength", with(`"id":"` + strings.Repeat("x", MaxIDLength) + `"`),
			change(func(e *Event) { e.ID = strings.Repeat("x", MaxIDLength) })},
		{"event_type with every allowed character", with(`"event_type":"Ab9_.:/-x"`),
			change(func(e *Event) { e.EventType = "Ab9_.:/-x" })},
		{"event_type at MaxEventTypeLength", with(`"event_type":"` + strings.Repeat("t", MaxEventTypeLength) + `"`),
			change(func(e *Event) { e.EventType = strings.Repeat("t", MaxEventTypeLength) })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeEvent([]byte(tt.in), testNow)
			if err != nil {
				t.Fatalf("DecodeEvent: %v", err)
			}
			if !equalEvents(got, tt.want) {
				t.Fatalf("DecodeEvent =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

func TestDecodeEventMetadataAtSizeLimit(t *testing.T) {
	// {"k":"xxx..."} compacted to exactly MaxMetadataBytes, with space
	// around that compaction removes.
	meta := `{"k":"` + strings.Repeat("x", MaxMetadataBytes-8) + `"}`
	in := with(`"metadata":  ` + strings.Replace(meta, ":", " : ", 1))
	ev, err := DecodeEvent([]byte(in), testNow)
	if err != nil {
		t.Fatalf("DecodeEvent: %v", err)
	}
	if string(ev.Metadata) != meta {
		t.Fatalf("metadata is %d bytes, want the %d compacted", len(ev.Metadata), len(meta))
	}
	_, err = DecodeEvent([]byte(with(`"metadata":`+strings.Replace(meta, "x", "xy", 1))), testNow)
	wantProblem(t, err, "metadata", fmt.Sprintf("must be at most %d bytes when compacted, got %d", MaxMetadataBytes, MaxMetadataBytes+1))
}

func TestDecodeEventRejects(t *testing.T) {
	long := func(n int) string { return `"` + strings.Repeat("a", n) + `"` }
	tests := []struct {
		name  string
		in    string
		field string
		msg   string
	}{
		// Not JSON, or not an object.
		{"empty input", "", "", "invalid JSON at byte offset 0: unexpected end of JSON input"},
		{"truncated", `{"id":`, "", "invalid JSON at byte offset"},
		{"syntax error offset", `{"id":"evt-1",}`, "", "invalid JSON at byte offset 15: invalid character '}'"},
		{"trailing data", seedEvent + " {}", "", "invalid JSON at byte offset"},
		{"two values", seedEvent + seedEvent, "", "invalid JSON"},
		{"byte order mark", "\ufeff" + seedEvent, "", "invalid JSON at byte offset"},
		{"array", `[` + seedEvent + `]`, "", "must be a JSON object, got array"},
		{"string", `"evt-1"`, "", "must be a JSON object, got string"},
		{"null", `null`, "", "must be a JSON object, got null"},
		{"number", `82`, "", "must be a JSON object, got number"},
		{"too deep for encoding/json", strings.Repeat("[", 20000) + strings.Repeat("]", 20000), "", "exceeded max depth"},

		// Unknown and duplicate fields.
		{"unknown field", with(`"extra":1`), "extra", "unknown field"},
		{"field names are case-sensitive", with(`"ID":"evt-2"`), "ID", "unknown field"},
		{"seed's trigger field is unknown", with(`"trigger":{}`), "trigger", "unknown field"},
		{"odd unknown name is quoted", with(`"a b\n":1`), `"a b\n"`, "unknown field"},
		{"long unknown name is cut", with(long(300) + `:1`), `"` + strings.Repeat("a", 64) + `…"`, "unknown field"},
		{"unknown name with space is quoted", with(`"score ":1`), `"score "`, "unknown field"},
		{"duplicate score", event(append(valid, `"score":11`)...), "score", "duplicate field"},
		{"duplicate by escape", event(append(valid, `"\u0069d":"evt-2"`)...), "id", "duplicate field"},
		{"duplicate metadata after null", event(append(valid, `"metadata":null`, `"metadata":{}`)...), "metadata", "duplicate field"},
		{"duplicate created_at", event(append(valid, `"created_at":"2025-01-15T10:35:00Z"`, `"created_at":"2025-01-15T10:35:00Z"`)...), "created_at", "duplicate field"},

		// Required fields.
		{"id missing", without("id"), "id", "required"},
		{"lead_id missing", without("lead_id"), "lead_id", "required"},
		{"event_type missing", without("event_type"), "event_type", "required"},
		{"score missing", without("score"), "score", "required"},

		// id and lead_id.
		{"id number", with(`"id":789`), "id", "must be a string, got number"},
		{"id null", with(`"id":null`), "id", "must be a string, got null"},
		{"id object", with(`"id":{}`), "id", "must be a string, got object"},
		{"id empty", with(`"id":""`), "id", "must not be empty"},
		{"id too long", with(`"id":` + long(MaxIDLength+1)), "id", "must be at most 256 bytes, got 257"},
		{"id too long once unescaped", with(`"id":"` + strings.Repeat(`\u00e9`, 129) + `"`), "id", "must be at most 256 bytes, got 258"},
		{"id with space", with(`"id":"evt 1"`), "id", "must not contain whitespace or control characters, found U+0020 at byte 3"},
		{"id with tab", with(`"id":"evt\t1"`), "id", "found U+0009 at byte 3"},
		{"id with NUL", with(`"id":"\u0000"`), "id", "found U+0000 at byte 0"},
		{"id with DEL", with("\"id\":\"a\x7f\""), "id", "found U+007F at byte 1"},
		{"id with C1 control", with(`"id":"a\u0085"`), "id", "found U+0085 at byte 1"},
		{"id with no-break space", with(`"id":"a\u00a0"`), "id", "found U+00A0 at byte 1"},
		{"id with line separator", with("\"id\":\"a\u2028\""), "id", "found U+2028 at byte 1"},
		{"id with invalid UTF-8", with("\"id\":\"a\xff\""), "id", "must be valid UTF-8"},
		{"id with lone high surrogate", with(`"id":"a\ud800"`), "id", "must be valid UTF-8"},
		{"id with lone low surrogate", with(`"id":"a\udc00b"`), "id", "must be valid UTF-8"},
		{"id with reversed surrogates", with(`"id":"\udc00\ud800"`), "id", "must be valid UTF-8"},
		{"lead_id number", with(`"lead_id":123`), "lead_id", "must be a string, got number"},
		{"lead_id empty", with(`"lead_id":""`), "lead_id", "must not be empty"},
		{"lead_id too long", with(`"lead_id":` + long(MaxIDLength+1)), "lead_id", "must be at most 256 bytes"},
		{"lead_id with newline", with(`"lead_id":"ld\n1"`), "lead_id", "found U+000A at byte 2"},
		{"lead_id with invalid UTF-8", with("\"lead_id\":\"\xc3\""), "lead_id", "must be valid UTF-8"},

		// event_type.
		{"event_type array", with(`"event_type":["page_view"]`), "event_type", "must be a string, got array"},
		{"event_type empty", with(`"event_type":""`), "event_type", "must not be empty"},
		{"event_type too long", with(`"event_type":` + long(MaxEventTypeLength+1)), "event_type", "must be at most 128 bytes, got 129"},
		{"event_type starting with _", with(`"event_type":"_view"`), "event_type", `must match ^[A-Za-z0-9][A-Za-z0-9_.:/-]*$, found '_' at byte 0`},
		{"event_type with space", with(`"event_type":"page view"`), "event_type", `found ' ' at byte 4`},
		{"event_type not ASCII", with(`"event_type":"pagé"`), "event_type", `found 'é' at byte 3`},

		// score.
		{"score fraction", with(`"score":1.5`), "score", "must be an integer, got 1.5"},
		{"score integral fraction", with(`"score":75.0`), "score", "must be an integer, got 75.0"},
		{"score exponent", with(`"score":1e2`), "score", "must be an integer, got 1e2"},
		{"score huge exponent", with(`"score":1e400`), "score", "must be an integer, got 1e400"},
		{"score negative exponent", with(`"score":-7E-1`), "score", "must be an integer, got -7E-1"},
		{"score string", with(`"score":"75"`), "score", "must be an integer, got string"},
		{"score boolean", with(`"score":true`), "score", "must be an integer, got boolean"},
		{"score null", with(`"score":null`), "score", "must be an integer, got null"},
		{"score object", with(`"score":{"v":1}`), "score", "must be an integer, got object"},
		{"score above MaxScore", with(`"score":1000000000000001`), "score", "must be between -1000000000000000 and 1000000000000000, got 1000000000000001"},
		{"score below -MaxScore", with(`"score":-1000000000000001`), "score", "got -1000000000000001"},
		{"score beyond int64", with(`"score":99999999999999999999999`), "score", "must be between"},
		{"score long number is cut", with(`"score":` + strings.Repeat("9", 1000)), "score", "got " + strings.Repeat("9", 40) + "…"},

		// metadata.
		{"metadata array", with(`"metadata":[]`), "metadata", "must be a JSON object, got array"},
		{"metadata string", with(`"metadata":"{}"`), "metadata", "must be a JSON object, got string"},
		{"metadata number", with(`"metadata":1`), "metadata", "must be a JSON object, got number"},
		{"metadata too large", with(`"metadata":{"k":` + long(MaxMetadataBytes) + `}`), "metadata", "must be at most 16384 bytes when compacted, got 16392"},
		{"metadata too deep", with(`"metadata":` + nested(MaxMetadataDepth+1)), "metadata", "must be at most 16 levels deep, got 17"},
		{"metadata too deep in arrays", with(`"metadata":{"a":` + strings.Repeat("[", 20) + strings.Repeat("]", 20) + `}`), "metadata", "got 21"},
		{"metadata depth bomb", with(`"metadata":` + nested(9000)), "metadata", "must be at most 16 levels deep, got 9000"},
		{"metadata with invalid UTF-8", with("\"metadata\":{\"k\":\"\xff\"}"), "metadata", "must be valid UTF-8"},

		// created_at.
		{"created_at null", with(`"created_at":null`), "created_at", "must be an RFC 3339 time string, got null"},
		{"created_at number", with(`"created_at":1736937300`), "created_at", "must be an RFC 3339 time string, got number"},
		{"created_at empty", with(`"created_at":""`), "created_at", `must be an RFC 3339 time such as 2025-01-15T10:35:00Z, got ""`},
		{"created_at prose", with(`"created_at":"yesterday"`), "created_at", `got "yesterday"`},
		{"created_at without zone", with(`"created_at":"2025-01-15T10:35:00"`), "created_at", "must be an RFC 3339 time"},
		{"created_at with space", with(`"created_at":"2025-01-15 10:35:00Z"`), "created_at", "must be an RFC 3339 time"},
		{"created_at date only", with(`"created_at":"2025-01-15"`), "created_at", "must be an RFC 3339 time"},
		{"created_at month 13", with(`"created_at":"2025-13-15T10:35:00Z"`), "created_at", "must be an RFC 3339 time"},
		{"created_at before year 0 in UTC", with(`"created_at":"0000-01-01T00:00:00+01:00"`), "created_at", "must be between the years 0000 and 9999 in UTC"},
		{"created_at after year 9999 in UTC", with(`"created_at":"9999-12-31T23:59:59-01:00"`), "created_at", "must be between the years 0000 and 9999 in UTC"},

		// Size.
		{"event too large", with(`"metadata":{"k":` + long(MaxEventBytes) + `}`), "", "event is 65623 bytes, more than the limit of 65536"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := DecodeEvent([]byte(tt.in), testNow)
			if err == nil {
				t.Fatalf("DecodeEvent accepted %.200s as %+v", tt.in, ev)
			}
			wantProblem(t, err, tt.field, tt.msg)
		})
	}
}

func TestDecodeEventReportsEveryProblem(t *testing.T) {
	in := `{"id":"","lead_id":7,"event_type":"page view","score":1.5,"metadata":[],"created_at":"now","extra":true,"extra":false,"id":"x"}`
	_, err := DecodeEvent([]byte(in), testNow)
	want := []FieldError{
		{"id", ReasonInvalidValue, "must not be empty"},
		{"lead_id", ReasonInvalidValue, "must be a string, got number"},
		{"event_type", ReasonInvalidValue, `must match ^[A-Za-z0-9][A-Za-z0-9_.:/-]*$, found ' ' at byte 4`},
		{"score", ReasonInvalidValue, "must be an integer, got 1.5"},
		{"metadata", ReasonInvalidValue, "must be a JSON object, got array"},
		{"created_at", ReasonInvalidValue, `must be an RFC 3339 time such as 2025-01-15T10:35:00Z, got "now"`},
		{"extra", ReasonUnknownField, "unknown field"},
		{"id", ReasonDuplicateField, "duplicate field"},
	}
	got := problemsOf(t, err)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("problems:\n%v\nwant\n%v", got, want)
	}
	if !strings.HasPrefix(err.Error(), "id: must not be empty; lead_id: must be a string, got number; ") {
		t.Fatalf("Error() = %q", err.Error())
	}

	_, err = DecodeEvent([]byte(`{}`), testNow)
	want = []FieldError{{"id", ReasonMissingField, "required"}, {"lead_id", ReasonMissingField, "required"}, {"event_type", ReasonMissingField, "required"}, {"score", ReasonMissingField, "required"}}
	if got := problemsOf(t, err); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("problems of {}:\n%v\nwant\n%v", got, want)
	}
	if got, want := err.Error(), "id: required; lead_id: required; event_type: required; score: required"; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
}

func TestDecodeEventTooLargeIsNotParsed(t *testing.T) {
	// Invalid JSON beyond the limit is reported for its size only.
	in := bytes.Repeat([]byte("{"), MaxEventBytes+1)
	_, err := DecodeEvent(in, testNow)
	got := problemsOf(t, err)
	if len(got) != 1 || got[0].Field != "" || got[0].Message != "event is 65537 bytes, more than the limit of 65536" {
		t.Fatalf("problems %v", got)
	}
}

func TestDecodeBatch(t *testing.T) {
	second := with(`"id":"evt-2"`, `"score":20`)
	tests := []struct {
		name string
		in   string
		ids  []string
	}{
		{"single event", seedEvent, []string{"evt-789"}},
		{"array", "[" + seedEvent + ",\n " + second + "]", []string{"evt-789", "evt-2"}},
		{"wrapper", `{"events":[` + seedEvent + "," + second + "]}", []string{"evt-789", "evt-2"}},
		{"wrapper with space", " { \"events\" : [ " + seedEvent + " ] } ", []string{"evt-789"}},
		{"array of one", "[" + seedEvent + "]", []string{"evt-789"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			events, err := DecodeBatch([]byte(tt.in), testNow)
			if err != nil {
				t.Fatalf("DecodeBatch: %v", err)
			}
			var ids []string
			for _, e := range events {
				ids = append(ids, e.ID)
			}
			if fmt.Sprint(ids) != fmt.Sprint(tt.ids) {
				t.Fatalf("ids %v, want %v", ids, tt.ids)
			}
		})
	}

	events, err := DecodeBatch([]byte("["+seedEvent+","+second+"]"), testNow)
	if err != nil {
		t.Fatal(err)
	}
	single, err := DecodeEvent([]byte(seedEvent), testNow)
	if err != nil {
		t.Fatal(err)
	}
	if !equalEvents(events[0], single) {
		t.Fatalf("batch event %+v, want %+v", events[0], single)
	}
	if events[1].Score != 20 || !events[1].CreatedAt.Equal(testNow) {
		t.Fatalf("second event %+v", events[1])
	}
}

func TestDecodeBatchRejects(t *testing.T) {
	bad := with(`"score":"82"`)
	events := func(n int) string {
		return "[" + strings.TrimSuffix(strings.Repeat(seedEvent+",", n), ",") + "]"
	}
	tests := []struct {
		name  string
		in    string
		field string
		msg   string
	}{
		{"syntax error", `[{"id":]`, "", "invalid JSON at byte offset 8: invalid character ']'"},
		{"single event problem keeps plain names", bad, "score", "must be an integer, got string"},
		{"array element problem", "[" + seedEvent + "," + bad + "]", "events[1].score", "must be an integer, got string"},
		{"wrapper element problem", `{"events":[` + bad + "]}", "events[0].score", "must be an integer, got string"},
		{"array element missing field", "[" + seedEvent + "," + seedEvent + "," + without("lead_id") + "]", "events[2].lead_id", "required"},
		{"array element unknown field", "[" + with(`"x":1`) + "]", "events[0].x", "unknown field"},
		{"array element not an object", "[" + seedEvent + `,"evt-2"]`, "events[1]", "must be a JSON object, got string"},
		{"array element null", "[null]", "events[0]", "must be a JSON object, got null"},
		{"empty array", "[]", "events", "must contain at least one event"},
		{"empty wrapper", `{"events":[]}`, "events", "must contain at least one event"},
		{"wrapper events null", `{"events":null}`, "events", "must be an array of events, got null"},
		{"wrapper events object", `{"events":` + seedEvent + `}`, "events", "must be an array of events, got object"},
		{"wrapper unknown field", `{"events":[` + seedEvent + `],"ou":"sales"}`, "ou", "unknown field"},
		{"wrapper duplicate events", `{"events":[` + seedEvent + `],"events":[` + seedEvent + `]}`, "events", "duplicate field"},
		{"string body", `"evt-1"`, "", `must be an event object, an array of events or {"events": [...]}, got string`},
		{"number body", `1`, "", "got number"},
		{"too many events", events(MaxBatchEvents + 1), "events", "must contain at most 1000 events, got 1001"},
		{"body too large", "[" + strings.Repeat(" ", MaxBatchBytes) + seedEvent + "]", "", "body is 4194466 bytes, more than the limit of 4194304"},
		{"single event too large", with(`"metadata":{"k":"` + strings.Repeat("a", MaxEventBytes) + `"}`), "", "event is 65623 bytes, more than the limit of 65536"},
		{"array element too large", "[" + seedEvent + "," + with(`"metadata":{"k":"`+strings.Repeat("a", MaxEventBytes)+`"}`) + "]", "events[1]", "event is 65623 bytes, more than the limit of 65536"},
		{"array element metadata depth bomb", "[" + with(`"metadata":`+nested(5000)) + "]", "events[0].metadata", "must be at most 16 levels deep, got 5000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeBatch([]byte(tt.in), testNow)
			if err == nil {
				t.Fatalf("DecodeBatch accepted %.200s as %d events", tt.in, len(got))
			}
			if got != nil {
				t.Fatalf("DecodeBatch returned %d events with its error", len(got))
			}
			wantProblem(t, err, tt.field, tt.msg)
		})
	}

	// At MaxBatchEvents a batch is accepted.
	got, err := DecodeBatch([]byte(events(MaxBatchEvents)), testNow)
	if err != nil || len(got) != MaxBatchEvents {
		t.Fatalf("DecodeBatch of %d events: %d events, %v", MaxBatchEvents, len(got), err)
	}
}

func TestDecodeBatchReportsEveryEvent(t *testing.T) {
	in := "[" + with(`"score":1.5`) + "," + seedEvent + "," + with(`"id":""`, `"x":1`) + "]"
	_, err := DecodeBatch([]byte(in), testNow)
	want := []FieldError{
		{"events[0].score", ReasonInvalidValue, "must be an integer, got 1.5"},
		{"events[2].id", ReasonInvalidValue, "must not be empty"},
		{"events[2].x", ReasonUnknownField, "unknown field"},
	}
	if got := problemsOf(t, err); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("problems:\n%v\nwant\n%v", got, want)
	}
}

func TestDecodeBatchBoundsTheProblemsReported(t *testing.T) {
	in := "[" + strings.TrimSuffix(strings.Repeat("{},", MaxBatchEvents), ",") + "]"
	_, err := DecodeBatch([]byte(in), testNow)
	got := problemsOf(t, err)
	if len(got) != maxReportedErrors+1 {
		t.Fatalf("%d problems listed, want %d", len(got), maxReportedErrors+1)
	}
	if got[0] != (FieldError{"events[0].id", ReasonMissingField, "required"}) {
		t.Fatalf("first problem %v", got[0])
	}
	if last, want := got[len(got)-1], (FieldError{"", ReasonOther, "and 3900 more problems"}); last != want {
		t.Fatalf("last problem %v, want %v", last, want)
	}
}

// checkLimits checks that a decoded event holds to every limit and rule.
func checkLimits(t testing.TB, ev Event) {
	t.Helper()
	for name, id := range map[string]string{"id": ev.ID, "lead_id": ev.LeadID} {
		if id == "" || len(id) > MaxIDLength || !utf8.ValidString(id) {
			t.Fatalf("%s %q breaks the limits", name, id)
		}
		for _, r := range id {
			if unicode.IsControl(r) || unicode.IsSpace(r) {
				t.Fatalf("%s %q contains %U", name, id, r)
			}
		}
	}
	if ev.EventType == "" || len(ev.EventType) > MaxEventTypeLength {
		t.Fatalf("event_type %q breaks the limits", ev.EventType)
	}
	for i := 0; i < len(ev.EventType); i++ {
		c := ev.EventType[i]
		if !isASCIIAlnum(c) && (i == 0 || !strings.ContainsRune("_.:/-", rune(c))) {
			t.Fatalf("event_type %q does not match the pattern", ev.EventType)
		}
	}
	if ev.Score > MaxScore || ev.Score < -MaxScore {
		t.Fatalf("score %d beyond MaxScore", ev.Score)
	}
	if ev.Metadata != nil {
		var buf bytes.Buffer
		if err := json.Compact(&buf, ev.Metadata); err != nil {
			t.Fatalf("metadata %q is not JSON: %v", ev.Metadata, err)
		}
		if !bytes.Equal(buf.Bytes(), ev.Metadata) {
			t.Fatalf("metadata %q is not compacted", ev.Metadata)
		}
		if ev.Metadata[0] != '{' || len(ev.Metadata) > MaxMetadataBytes || !utf8.Valid(ev.Metadata) {
			t.Fatalf("metadata %q breaks the limits", ev.Metadata)
		}
		if _, depth := measureJSON(ev.Metadata); depth > MaxMetadataDepth {
			t.Fatalf("metadata %q is %d deep", ev.Metadata, depth)
		}
	}
	if ev.CreatedAt.Location() != time.UTC || ev.CreatedAt.Year() < 0 || ev.CreatedAt.Year() > 9999 {
		t.Fatalf("created_at %v breaks the limits", ev.CreatedAt)
	}
}

// checkAgainstEncodingJSON checks a decoded event against what
// encoding/json makes of the same input.
func checkAgainstEncodingJSON(t testing.TB, data []byte, ev Event, now time.Time) {
	t.Helper()
	var std struct {
		ID        string          `json:"id"`
		LeadID    string          `json:"lead_id"`
		EventType string          `json:"event_type"`
		Score     int64           `json:"score"`
		Metadata  json.RawMessage `json:"metadata"`
		CreatedAt *string         `json:"created_at"`
	}
	if err := json.Unmarshal(data, &std); err != nil {
		t.Fatalf("encoding/json refuses what DecodeEvent accepted: %v", err)
	}
	var meta json.RawMessage
	if len(std.Metadata) > 0 && string(std.Metadata) != "null" {
		var buf bytes.Buffer
		if err := json.Compact(&buf, std.Metadata); err != nil {
			t.Fatal(err)
		}
		meta = buf.Bytes()
	}
	want := Event{ID: std.ID, LeadID: std.LeadID, EventType: std.EventType, Score: std.Score, Metadata: meta, CreatedAt: now.UTC()}
	if std.CreatedAt != nil {
		tm, err := time.Parse(time.RFC3339Nano, *std.CreatedAt)
		if err != nil {
			t.Fatalf("created_at %q: %v", *std.CreatedAt, err)
		}
		want.CreatedAt = tm.UTC()
	}
	if !equalEvents(ev, want) {
		t.Fatalf("DecodeEvent =\n%+v\nencoding/json =\n%+v", ev, want)
	}
}

// checkError checks the shape of a decoding error.
func checkError(t testing.TB, err error) {
	t.Helper()
	problems := problemsOf(t, err)
	if len(problems) > maxReportedErrors+1 {
		t.Fatalf("%d problems listed", len(problems))
	}
	for _, p := range problems {
		if p.Message == "" {
			t.Fatalf("problem of %q without a message", p.Field)
		}
		if len(p.Field) > 200 || len(p.Message) > 300 {
			t.Fatalf("problem too long: %q: %q", p.Field, p.Message)
		}
	}
}

// fuzzSeeds are valid and invalid inputs for both fuzz targets.
var fuzzSeeds = []string{
	seedEvent,
	with(),
	with(`"created_at":"2025-01-15T11:35:00.123456789+01:00"`, `"metadata":{"a":[1,{"b":null}],"c":"\u00e9\ud83d\ude00"}`),
	with(`"id":"a\"b\\c"`, `"lead_id":"\ud800"`),
	with(`"score":1.5`),
	with(`"score":-1000000000000000`),
	with(`"score":1e400`),
	with(`"metadata":` + nested(MaxMetadataDepth+1)),
	with(`"extra":1`, `"id":""`),
	event(append(valid, `"score":11`)...),
	`{"events":[` + seedEvent + `]}`,
	"[" + seedEvent + "," + with() + "]",
	`[]`,
	`{"events":null}`,
	`{"id":`,
	"\"\\u0000\xff\"",
	`null`,
	`[{}, 1, "x", [], null]`,
}

func FuzzDecodeEvent(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := DecodeEvent(data, testNow)
		if err != nil {
			checkError(t, err)
			return
		}
		checkLimits(t, ev)
		checkAgainstEncodingJSON(t, data, ev, testNow)
		roundTrip(t, ev)
	})
}

func FuzzDecodeBatch(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		events, err := DecodeBatch(data, testNow)
		if err != nil {
			checkError(t, err)
			if events != nil {
				t.Fatalf("%d events returned with an error", len(events))
			}
			return
		}
		if len(events) == 0 || len(events) > MaxBatchEvents {
			t.Fatalf("%d events in a batch", len(events))
		}
		for _, ev := range events {
			checkLimits(t, ev)
			roundTrip(t, ev)
		}
		if len(events) == 1 {
			if single, err := DecodeEvent(data, testNow); err == nil && !equalEvents(single, events[0]) {
				t.Fatalf("DecodeBatch %+v, DecodeEvent %+v", events[0], single)
			}
		}
	})
}

// FuzzEventFields builds events from arbitrary field values, so that most
// inputs are valid JSON, and checks DecodeEvent against an independent
// statement of the rules: it must accept exactly the events that keep them.
func FuzzEventFields(f *testing.F) {
	f.Add("evt-789", "ld_123", "demo_request", int64(82), []byte(`{"source":"website","page":"/pricing"}`), "2025-01-15T10:35:00Z")
	f.Add("a b", "", "_x", int64(-1), []byte(`[]`), "")
	f.Add("\xff\u2028", "\u00a0", "pagé", MaxScore+1, []byte(nested(MaxMetadataDepth+1)), "0000-01-01T00:00:00+01:00")
	f.Add(strings.Repeat("x", MaxIDLength), "ld", "a:b/c.d-e_f", -MaxScore, []byte(` { "a" : [ 1 , 2.5e3 ] } `), "9999-12-31T23:59:59.999999999Z")
	eventType := regexp.MustCompile(eventTypePattern)
	f.Fuzz(func(t *testing.T, id, leadID, typ string, score int64, metadata []byte, createdAt string) {
		str := func(s string) string {
			b, err := json.Marshal(s)
			if err != nil {
				t.Fatal(err)
			}
			return string(b)
		}
		members := []string{`"id":` + str(id), `"lead_id":` + str(leadID), `"event_type":` + str(typ), `"score":` + fmt.Sprint(score)}
		if json.Valid(metadata) {
			members = append(members, `"metadata":`+string(metadata))
		} else {
			metadata = nil
		}
		if createdAt != "" {
			members = append(members, `"created_at":`+str(createdAt))
		}
		data := []byte(event(members...))
		ev, err := DecodeEvent(data, testNow)

		// What the rules say, from what encoding/json decodes.
		var problems []string
		unmarshal := func(s string) string {
			var out string
			if err := json.Unmarshal([]byte(str(s)), &out); err != nil {
				t.Fatal(err)
			}
			return out
		}
		for _, v := range []string{unmarshal(id), unmarshal(leadID)} {
			if v == "" || len(v) > MaxIDLength || strings.ContainsFunc(v, func(r rune) bool { return unicode.IsControl(r) || unicode.IsSpace(r) }) {
				problems = append(problems, "id "+v)
			}
		}
		if v := unmarshal(typ); len(v) > MaxEventTypeLength || !eventType.MatchString(v) {
			problems = append(problems, "event_type "+v)
		}
		if score > MaxScore || score < -MaxScore {
			problems = append(problems, "score")
		}
		if m := trimJSONSpace(metadata); len(m) > 0 && string(m) != "null" {
			var buf bytes.Buffer
			_ = json.Compact(&buf, m)
			dec := json.NewDecoder(bytes.NewReader(m))
			level, depth := 0, 0
			for {
				tok, err := dec.Token()
				if err != nil {
					break
				}
				switch tok {
				case json.Delim('{'), json.Delim('['):
					level++
					depth = max(depth, level)
				case json.Delim('}'), json.Delim(']'):
					level--
				}
			}
			if m[0] != '{' || !utf8.Valid(m) || buf.Len() > MaxMetadataBytes || depth > MaxMetadataDepth {
				problems = append(problems, "metadata")
			}
		}
		if createdAt != "" {
			tm, err := time.Parse(time.RFC3339Nano, unmarshal(createdAt))
			if y := tm.UTC().Year(); err != nil || y < 0 || y > 9999 {
				problems = append(problems, "created_at")
			}
		}
		if len(data) > MaxEventBytes {
			problems = append(problems, "size")
		}

		if (err == nil) != (len(problems) == 0) {
			t.Fatalf("DecodeEvent(%s): %v; the rules find %q", data, err, problems)
		}
		if err != nil {
			checkError(t, err)
			return
		}
		checkLimits(t, ev)
		checkAgainstEncodingJSON(t, data, ev, testNow)
		roundTrip(t, ev)
	})
}

func BenchmarkDecodeEvent(b *testing.B) {
	data := []byte(`{"id":"evt-01JH8Q3ZK4M7N2P5R6S8T9V0WX","lead_id":"ld_7f3c2a91-4b5e-4d6f-8a9b-0c1d2e3f4a5b","event_type":"demo_request","score":82,"metadata":{"source":"website","page":"/pricing","campaign":"spring-launch","utm":{"medium":"cpc","term":"lead scoring"},"referrer":"https://example.com/blog"},"created_at":"2025-01-15T10:35:00.123Z"}`)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := DecodeEvent(data, testNow); err != nil {
			b.Fatal(err)
		}
	}
}
