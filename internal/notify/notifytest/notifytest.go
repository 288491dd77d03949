// Package notifytest holds the fixtures the channel tests share: the
// firing of the API documentation's example (docs/deliveries.md) and its
// trigger.
package notifytest

import (
	"encoding/json"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/leadvibe/milestone-triggers-operator/internal/event"
	"github.com/leadvibe/milestone-triggers-operator/internal/ledger"
	"github.com/leadvibe/milestone-triggers-operator/internal/triggerset"
)

// Firing is the documentation's example: lead ld_123 of OU acme reached a
// score of 82 with event evt-789, a demo request (metadata source
// "website", page "/pricing") created at 2025-01-15T10:35:00Z, and fired
// trigger-456, "Hot Lead Alert", whose threshold is 75.
func Firing() ledger.Firing {
	return ledger.Firing{
		ID:          ledger.FiringID("acme", "uid-456", "ld_123", "evt-789"),
		OU:          "acme",
		Trigger:     "trigger-456",
		TriggerUID:  "uid-456",
		TriggerName: "Hot Lead Alert",
		Threshold:   75,
		Event: event.Event{
			ID:        "evt-789",
			LeadID:    "ld_123",
			EventType: "demo_request",
			Score:     82,
			Metadata:  json.RawMessage(`{"source":"website","page":"/pricing"}`),
			CreatedAt: time.Date(2025, 1, 15, 10, 35, 0, 0, time.UTC),
		},
		Score: 82,
	}
}

// Trigger is the active trigger Firing fired, delivering to dest.
func Trigger(dest triggerset.Destinations) triggerset.Definition {
	return triggerset.Definition{
		Key:          types.NamespacedName{Namespace: "acme", Name: "trigger-456"},
		UID:          "uid-456",
		DisplayName:  "Hot Lead Alert",
		Threshold:    75,
		Active:       true,
		Destinations: dest,
	}
}
