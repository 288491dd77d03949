package record

import (
	"encoding/json"
	"testing"
	"time"
)

// A record stored by an older operator reads as it was written, with the
// outcome in its one spelling.
func TestStoredRecordsStayReadable(t *testing.T) {
	stored := `{"kind":"attempt","firing_id":"mtf_1","ou":"demo","trigger":"hot","lead_id":"lead-1",` +
		`"at":"2025-01-15T10:00:00Z","channel":"webhook","destination":"https://hooks.example.com/\u003credacted\u003e",` +
		`"round":1,"attempt":2,"status_code":503,"error":"the receiver answered 503 Service Unavailable",` +
		`"outcome":"dead-lettered","duration_ms":12}`
	var r Record
	if err := json.Unmarshal([]byte(stored), &r); err != nil {
		t.Fatal(err)
	}
	want := Record{Kind: KindAttempt, FiringID: "mtf_1", OU: "demo", Trigger: "hot", LeadID: "lead-1",
		At: time.Date(2025, 1, 15, 10, 0, 0, 0, time.UTC), Channel: "webhook",
		Destination: "https://hooks.example.com/<redacted>", Round: 1, Attempt: 2, StatusCode: 503,
		Error: "the receiver answered 503 Service Unavailable", Outcome: OutcomeDeadLettered, DurationMS: 12}
	if r != want {
		t.Fatalf("read %+v, want %+v", r, want)
	}
	// What is written now reads back the same, in the same shape.
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != stored {
		t.Fatalf("written as\n%s\nwant\n%s", b, stored)
	}
}

func TestOldOutcomeSpellingReadsAsTheCurrentOne(t *testing.T) {
	var r Record
	if err := json.Unmarshal([]byte(`{"kind":"attempt","outcome":"dead_lettered"}`), &r); err != nil {
		t.Fatal(err)
	}
	if r.Outcome != OutcomeDeadLettered {
		t.Fatalf("outcome %q, want %q", r.Outcome, OutcomeDeadLettered)
	}
	for _, o := range []string{OutcomePending, OutcomeDelivered, OutcomeDeadLettered, ""} {
		if got := CanonicalOutcome(o); got != o {
			t.Errorf("CanonicalOutcome(%q) = %q", o, got)
		}
	}
}
