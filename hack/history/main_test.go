package main

import (
	"testing"

	"github.com/leadvibe/milestone-triggers-operator/internal/history"
	"github.com/leadvibe/milestone-triggers-operator/internal/record"
)

func TestDescribeAttempt(t *testing.T) {
	for _, tc := range []struct {
		r    history.Record
		want string
	}{
		{record.Record{Kind: record.KindAttempt, Channel: "webhook", Attempt: 1, Destination: "https://hooks.example.com/<redacted>",
			StatusCode: 204, DurationMS: 12, Outcome: record.OutcomeDelivered},
			"webhook #1 to https://hooks.example.com/<redacted>  status 204  12ms  delivered"},
		{record.Record{Kind: record.KindAttempt, Channel: "email", Round: 2, Attempt: 3, Destination: "sales@example.com",
			DurationMS: 10000, Outcome: record.OutcomePending, Error: "connecting to the SMTP relay failed: timed out"},
			"email round 2 #3 to sales@example.com  no answer  10000ms  pending: connecting to the SMTP relay failed: timed out"},
	} {
		if got := describeAttempt(tc.r); got != tc.want {
			t.Errorf("describeAttempt() = %q, want %q", got, tc.want)
		}
	}
}
