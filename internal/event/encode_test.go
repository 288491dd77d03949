package event

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

func TestEncode(t *testing.T) {
	ev, err := DecodeEvent([]byte(seedEvent), testNow)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":"evt-789","lead_id":"ld_123","event_type":"demo_request","score":82,"metadata":{"source":"website","page":"/pricing"},"created_at":"2025-01-15T10:35:00Z"}`
	if got := string(ev.Encode()); got != want {
		t.Fatalf("Encode =\n%s\nwant\n%s", got, want)
	}
	marshalled, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	if string(marshalled) != want {
		t.Fatalf("json.Marshal =\n%s\nwant\n%s", marshalled, want)
	}

	hand := Event{
		ID: "a\"<b>&\\", LeadID: "l\x01\xff", EventType: "t", Score: -MaxScore,
		Metadata:  json.RawMessage(" {\"a\" : [1, 2]}\n"),
		CreatedAt: time.Date(2025, 1, 15, 11, 35, 0, 1, time.FixedZone("", 3600)),
	}
	want = `{"id":"a\"<b>&\\","lead_id":"l\u0001\ufffd","event_type":"t","score":-1000000000000000,"metadata":{"a":[1,2]},"created_at":"2025-01-15T10:35:00.000000001Z"}`
	if got := string(hand.Encode()); got != want {
		t.Fatalf("Encode =\n%s\nwant\n%s", got, want)
	}

	for _, meta := range []string{"", "null", "[1]", `{"a":`, `"x"`} {
		e := Event{ID: "a", LeadID: "b", EventType: "c", Metadata: json.RawMessage(meta)}
		want := `{"id":"a","lead_id":"b","event_type":"c","score":0,"created_at":"0001-01-01T00:00:00Z"}`
		if got := string(e.Encode()); got != want {
			t.Errorf("Encode with metadata %q = %s, want %s", meta, got, want)
		}
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	inputs := []string{
		seedEvent,
		with(),
		with(`"created_at":"2025-01-15T11:35:00.123456789+01:00"`, `"metadata":{"html":"<b>&amp;</b>","u":"\u2028\ud800","n":[1.5e3,-0,null,true]}`),
		with(`"id":"a\"b\\c/d\u00e9😀"`, `"lead_id":"\ud83d\ude00"`, `"score":-1000000000000000`),
		with(`"created_at":"0001-01-01T00:00:00Z"`),
		with(`"created_at":"0000-01-01T00:00:00Z"`),
		with(`"created_at":"9999-12-31T23:59:59.999999999Z"`),
		with(`"metadata":{}`),
		with(`"metadata":` + nested(MaxMetadataDepth)),
	}
	for _, in := range inputs {
		ev, err := DecodeEvent([]byte(in), testNow)
		if err != nil {
			t.Fatalf("DecodeEvent(%s): %v", in, err)
		}
		roundTrip(t, ev)
	}
}

// roundTrip checks that the encoding of ev decodes to ev, and is canonical.
func roundTrip(t testing.TB, ev Event) {
	t.Helper()
	enc := ev.Encode()
	if len(enc) > MaxEventBytes {
		t.Fatalf("encoding is %d bytes, beyond MaxEventBytes", len(enc))
	}
	back, err := DecodeEvent(enc, time.Time{})
	if err != nil {
		t.Fatalf("DecodeEvent(Encode()) of %+v: %v\nencoding: %s", ev, err, enc)
	}
	if !equalEvents(back, ev) {
		t.Fatalf("round trip changed the event:\n%+v\nto\n%+v\nencoding: %s", ev, back, enc)
	}
	if again := back.Encode(); !bytes.Equal(again, enc) {
		t.Fatalf("encoding not canonical:\n%s\nthen\n%s", enc, again)
	}
	var buf bytes.Buffer
	je := json.NewEncoder(&buf)
	je.SetEscapeHTML(false)
	if err := je.Encode(ev); err != nil || !bytes.Equal(bytes.TrimSuffix(buf.Bytes(), []byte("\n")), enc) {
		t.Fatalf("json.Encoder = %s, %v; want %s", buf.Bytes(), err, enc)
	}
}
