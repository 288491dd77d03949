package webhook

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/leadvibe/milestone-triggers-operator/internal/notify/notifytest"
)

// seedPayload is the example payload of the API documentation, verbatim.
const seedPayload = `{
"trigger": {
"id": "trigger-456",
"name": "Hot Lead Alert",
"type": "milestone"
},
"event": {
"id": "evt-789",
"lead_id": "ld_123",
"event_type": "demo_request",
"metadata": {
"source": "website",
"page": "/pricing"
},
"created_at": "2025-01-15T10:35:00Z"
},
"score": 82
}`

func TestPayloadMatchesSeed(t *testing.T) {
	got, err := Payload(notifytest.Firing())
	if err != nil {
		t.Fatal(err)
	}

	var gotV, wantV any
	if err := json.Unmarshal(got, &gotV); err != nil {
		t.Fatalf("payload is not JSON: %v\n%s", err, got)
	}
	if err := json.Unmarshal([]byte(seedPayload), &wantV); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gotV, wantV) {
		t.Fatalf("payload = %s\nwant the seed's %s", got, seedPayload)
	}

	if g, w := keyOrder(t, got), keyOrder(t, []byte(seedPayload)); !reflect.DeepEqual(g, w) {
		t.Fatalf("key order = %v\nwant the seed's %v", g, w)
	}

	var compact bytes.Buffer
	if err := json.Compact(&compact, []byte(seedPayload)); err != nil {
		t.Fatal(err)
	}
	if string(got) != compact.String() {
		t.Fatalf("payload = %s\nwant    %s", got, compact.Bytes())
	}
}

// keyOrder lists every object key of the JSON document in document order.
func keyOrder(t *testing.T, doc []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(doc))
	var keys []string
	// expectKey[i] says whether the next string at depth i is a key.
	var inObject []bool
	var expectKey []bool
	for {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		n := len(inObject)
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{', '[':
				if n > 0 && inObject[n-1] {
					expectKey[n-1] = true
				}
				inObject = append(inObject, v == '{')
				expectKey = append(expectKey, v == '{')
			default:
				inObject, expectKey = inObject[:n-1], expectKey[:n-1]
			}
		default:
			if n > 0 && inObject[n-1] {
				if expectKey[n-1] {
					keys = append(keys, v.(string))
				}
				expectKey[n-1] = !expectKey[n-1]
			}
		}
	}
	return keys
}

func TestPayloadEdges(t *testing.T) {
	f := notifytest.Firing()
	f.Event.Metadata = nil
	f.Event.CreatedAt = time.Date(2025, 1, 15, 11, 35, 0, 123_000_000, time.FixedZone("CET", 3600))
	f.TriggerName = `Leads <"VIP"> & friends`
	got, err := Payload(f)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"trigger":{"id":"trigger-456","name":"Leads <\"VIP\"> & friends","type":"milestone"},` +
		`"event":{"id":"evt-789","lead_id":"ld_123","event_type":"demo_request","metadata":{},"created_at":"2025-01-15T10:35:00.123Z"},"score":82}`
	if string(got) != want {
		t.Fatalf("payload = %s\nwant    %s", got, want)
	}

	f.Event.Metadata = json.RawMessage(`{"nested":{"a":[1,2,{"b":null}]},"html":"<b>&</b>","n":1.50}`)
	got, err = Payload(f)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(got, []byte(`"metadata":{"nested":{"a":[1,2,{"b":null}]},"html":"<b>&</b>","n":1.50}`)) {
		t.Fatalf("metadata not passed through verbatim: %s", got)
	}

	f.Event.Metadata = json.RawMessage(`{"broken":`)
	if _, err := Payload(f); err == nil {
		t.Fatal("Payload with invalid metadata succeeded, want an error")
	}
}
