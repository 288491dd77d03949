package pipeline

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/leadvibe/milestone-triggers-operator/internal/event"
	"github.com/leadvibe/milestone-triggers-operator/internal/ledger"
	"github.com/leadvibe/milestone-triggers-operator/internal/triggerset"
)

// The pipeline applies rearmBelow and cooldown by the events' created_at,
// and what a lead holds for them survives a restart in its stored state:
// the second run starts from the bucket, not from a replay of the first
// run's events.
func TestRearmAndCooldownAcrossARestart(t *testing.T) {
	s := newSystem(t)
	triggers := triggerset.NewMemory()
	steady := trigger("steady", "", 75)
	rearm := int64(60)
	steady.RearmBelow = &rearm
	calm := trigger("calm", "", 50)
	calm.Cooldown = time.Hour
	triggers.Upsert(steady)
	triggers.Upsert(calm)

	at := func(id string, score int64, minute int) event.Event {
		ev := newEvent(id, "ld_1", "page_view", score)
		ev.CreatedAt = time.Date(2025, 1, 15, 10, 0, 0, 0, time.UTC).Add(time.Duration(minute) * time.Minute)
		return ev
	}
	first := []event.Event{
		at("e1", 80, 0),  // both fire; calm's cooldown runs until 11:00
		at("e2", 74, 5),  // below steady's threshold, not below its rearm level
		at("e3", 76, 10), // steady is not re-armed: no firing
		at("e4", 70, 12), // below the threshold again, still not re-armed
	}
	second := []event.Event{
		at("e5", 76, 15),  // steady, from the stored state, is not re-armed
		at("e6", 40, 20),  // re-arms both
		at("e7", 55, 30),  // calm crosses within its cooldown: swallowed
		at("e8", 76, 40),  // steady crosses again and fires
		at("e9", 40, 70),  // below both
		at("e10", 55, 75), // calm crosses after its cooldown and fires
	}
	s.publish(first...)
	r := s.start(triggers, s.ledger)
	r.waitFor(t, uint64(len(first)))
	r.stop(t)

	// The first run stored the lead's holds: steady disarmed, calm's
	// cooldown.
	st, _, found, err := ledger.New(s.streams).ReadLead(context.Background(), ou, "ld_1")
	if err != nil || !found {
		t.Fatalf("stored state of ld_1: found %v, %v", found, err)
	}
	h := st.State.Holds
	if h == nil || len(h.Disarmed) != 1 || h.Disarmed[0].Trigger != "steady" || len(h.Cooldowns) != 1 || h.Cooldowns[0].Trigger != "calm" ||
		!h.Cooldowns[0].FiredAt.Equal(first[0].CreatedAt) || st.AppliedSeq != uint64(len(first)) {
		t.Fatalf("stored state of ld_1 = %+v (holds %+v), want steady disarmed and calm cooling since %v, through sequence %d", st, h, first[0].CreatedAt, len(first))
	}

	s.publish(second...)
	r = s.start(triggers, s.ledger)
	r.waitFor(t, uint64(len(first)+len(second)))
	r.stop(t)

	firings, stored := outbox(t, s.conn.JS)
	want := []fired{{"calm", "ld_1", "e10"}, {"calm", "ld_1", "e1"}, {"steady", "ld_1", "e1"}, {"steady", "ld_1", "e8"}}
	if got := summarize(firings); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("firings = %v, want %v", got, want)
	}
	if stored != uint64(len(want)) {
		t.Fatalf("outbox stored %d messages for %d firings", stored, len(want))
	}
}
