package controllers

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	triggersv1alpha1 "github.com/leadvibe/milestone-triggers-operator/api/v1alpha1"
	"github.com/leadvibe/milestone-triggers-operator/internal/history"
	"github.com/leadvibe/milestone-triggers-operator/internal/notify"
)

// TestAChangedDestinationClearsTheOldError: failures at one webhook, then
// an attempt at another (the trigger was edited): the old error and the
// failures counted are gone, whatever the new attempt's outcome.
func TestAChangedDestinationClearsTheOldError(t *testing.T) {
	var st triggersv1alpha1.MilestoneTriggerStatus
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	fail := func(dest string) history.Record {
		return history.Record{Kind: history.KindAttempt, Channel: "webhook", Destination: dest, At: at, StatusCode: 503,
			Error: "the receiver answered 503 Service Unavailable", Outcome: notify.OutcomePending}
	}
	applyAttempt(&st, fail("https://old.example.com"))
	applyAttempt(&st, fail("https://old.example.com"))
	if h := st.Deliveries[0]; h.ConsecutiveFailures != 2 || h.LastError == "" || h.Destination != "https://old.example.com" {
		t.Fatalf("after two failures: %+v", h)
	}
	applyAttempt(&st, history.Record{Kind: history.KindAttempt, Channel: "webhook", Destination: "https://new.example.com", At: at, StatusCode: 204, Outcome: notify.OutcomeDelivered})
	h := st.Deliveries[0]
	if h.LastError != "" || h.LastErrorTime != nil || h.ConsecutiveFailures != 0 || h.Destination != "https://new.example.com" || h.LastSuccessTime == nil {
		t.Fatalf("a delivery to a new destination kept the old one's error: %+v", h)
	}
	applyAttempt(&st, fail("https://new.example.com"))
	applyAttempt(&st, history.Record{Kind: history.KindAttempt, Channel: "webhook", Destination: "https://new.example.com", At: at, Outcome: notify.OutcomeDelivered})
	if h := st.Deliveries[0]; h.LastError == "" {
		t.Fatalf("a recovery at the same destination must keep the last error visible: %+v", h)
	}
}

func TestClipErrorKeepsCharactersWhole(t *testing.T) {
	long := strings.Repeat("é", maxErrorLength)
	got := clipError(long)
	if !utf8.ValidString(got) || len(got) > maxErrorLength {
		t.Fatalf("clipError gave %d bytes, valid UTF-8 %v", len(got), utf8.ValidString(got))
	}
}
