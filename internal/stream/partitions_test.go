package stream

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/leadvibe/milestone-triggers-operator/internal/event"
)

func openLayout(t *testing.T, l Layout) (*Conn, *Streams) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := Open(ctx, Config{DataDir: t.TempDir(), Sync: SyncPolicy{Always: true}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	streams, err := Ensure(ctx, conn.JS, l)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(streams.Close)
	return conn, streams
}

// TestServerPartitionsAsPartitionOfSays publishes events of many leads,
// some with ids that are not subject tokens, through the events writer:
// the server's subject transform stores each in the partition PartitionOf
// computes, every partition gets some, and the stored subject names the
// lead.
func TestServerPartitionsAsPartitionOfSays(t *testing.T) {
	conn, streams := openLayout(t, Layout{})
	ctx := context.Background()
	var evs []event.Event
	for i := range 400 {
		lead := fmt.Sprintf("ld_%d", i)
		switch i % 4 {
		case 1:
			lead = fmt.Sprintf("lead.%d*>", i)
		case 2:
			lead = fmt.Sprintf("ünï-%d~", i)
		}
		evs = append(evs, event.Event{ID: fmt.Sprintf("evt-%d", i), LeadID: lead, EventType: "page_view", Score: int64(i), CreatedAt: time.Unix(1e9, 0).UTC()})
	}
	if _, err := Publish(ctx, streams.Events, "demo", evs...); err != nil {
		t.Fatal(err)
	}
	c, err := conn.JS.OrderedConsumer(ctx, EventsStream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	used := map[int]int{}
	for i := range evs {
		msg, err := c.Next(jetstream.FetchMaxWait(5 * time.Second))
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		parts, ok := ParseEventSubject(msg.Subject())
		if !ok {
			t.Fatalf("stored subject %q does not parse", msg.Subject())
		}
		ev, err := event.DecodeEvent(msg.Data(), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if want := PartitionOf("demo", ev.LeadID, DefaultPartitions); parts.Partition != want || parts.OU != "demo" || parts.LeadToken != LeadToken(ev.LeadID) {
			t.Errorf("lead %q stored as %q: %+v, want partition %d", ev.LeadID, msg.Subject(), parts, want)
		}
		used[parts.Partition]++
	}
	if len(used) != DefaultPartitions {
		t.Errorf("400 leads used %d of %d partitions: %v", len(used), DefaultPartitions, used)
	}
}

func TestParseEventSubject(t *testing.T) {
	for _, tt := range []struct {
		subject string
		want    EventSubjectParts
		ok      bool
	}{
		{"leadvibe.events.demo", EventSubjectParts{OU: "demo", Partition: -1}, true},
		{"leadvibe.events.demo.ld_1.7", EventSubjectParts{OU: "demo", LeadToken: "ld_1", Partition: 7}, true},
		{"leadvibe.events.demo.ld_1", EventSubjectParts{}, false}, // never stored so
		{"leadvibe.events.demo.ld_1.x", EventSubjectParts{}, false},
		{"leadvibe.events.demo.ld_1.-1", EventSubjectParts{}, false},
		{"leadvibe.events.*", EventSubjectParts{}, false},
		{"leadvibe.events.", EventSubjectParts{}, false},
		{"leadvibe.events..a.1", EventSubjectParts{}, false},
		{"leadvibe.history.demo", EventSubjectParts{}, false},
	} {
		got, ok := ParseEventSubject(tt.subject)
		if ok != tt.ok || got != tt.want {
			t.Errorf("%q: %+v, %v; want %+v, %v", tt.subject, got, ok, tt.want, tt.ok)
		}
	}
	if got := LeadSubject("demo", "a.b c"); got != "leadvibe.events.demo.a~2eb~20c" {
		t.Errorf("LeadSubject = %q", got)
	}
}

// TestPartitionsCannotChange: a stream created with 16 partitions refuses
// a start with 8, saying what to do, and keeps its 16.
func TestPartitionsCannotChange(t *testing.T) {
	conn, _ := openLayout(t, Layout{})
	ctx := context.Background()
	_, err := Ensure(ctx, conn.JS, Layout{Partitions: 8})
	if err == nil || !strings.Contains(err.Error(), "created with 16 partitions, not 8") || !strings.Contains(err.Error(), "--partitions=16") {
		t.Fatalf("Ensure with 8 partitions: %v", err)
	}
	if _, err := Ensure(ctx, conn.JS, Layout{Partitions: MaxPartitions + 1}); err == nil {
		t.Error("more than MaxPartitions was accepted")
	}
	s, err := conn.JS.Stream(ctx, EventsStream)
	if err != nil {
		t.Fatal(err)
	}
	if cfg := s.CachedInfo().Config; cfg.Metadata[partitionsMetadata] != "16" || cfg.SubjectTransform.Destination != partitionTransform(16) {
		t.Errorf("the stream changed: %v %+v", cfg.Metadata, cfg.SubjectTransform)
	}
}

// TestWriteAllIsAllOrNothing: a batch whose compare-and-swap fails stores
// nothing, not even the messages without checks, and says ErrRefused; a
// batch that passes returns its last message's sequence, the revision the
// next compare-and-swap expects.
func TestWriteAllIsAllOrNothing(t *testing.T) {
	conn, streams := openLayout(t, Layout{})
	ctx := context.Background()
	key := KeySubject(LeadsBucket, "_fence.test")
	rev, err := streams.Leads.WriteAll(ctx, Msg{Subject: KeySubject(LeadsBucket, "a"), Data: []byte("1")}, Msg{Subject: key, Data: []byte("x")}.Expect(0))
	if err != nil || rev == 0 {
		t.Fatalf("first write: %d, %v", rev, err)
	}
	_, err = streams.Leads.WriteAll(ctx, Msg{Subject: KeySubject(LeadsBucket, "b"), Data: []byte("2")}, Msg{Subject: key, Data: []byte("y")}.Expect(rev+100))
	if !errors.Is(err, ErrRefused) {
		t.Fatalf("stale revision: %v, want ErrRefused", err)
	}
	if _, err := streams.LeadsKV.Get(ctx, "b"); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Errorf("the refused batch stored b: %v", err)
	}
	next, err := streams.Leads.WriteAll(ctx, Msg{Subject: KeySubject(LeadsBucket, "b"), Data: []byte("2")}, Msg{Subject: key, Data: []byte("y")}.Expect(rev))
	if err != nil || next <= rev {
		t.Fatalf("current revision: %d, %v", next, err)
	}
	entry, err := streams.LeadsKV.Get(ctx, "_fence.test")
	if err != nil || entry.Revision() != next {
		t.Errorf("fence at %v, %v; WriteAll said %d", entry, err, next)
	}
	_ = conn
}

// TestLeadStatesAreReadFromTheLeader: the lead-state bucket refuses direct
// reads (a replica behind the leader could answer one), after a restart
// too, when the client library would turn them back on; the deliveries
// bucket, whose writes are compare-and-swaps anyway, keeps them.
func TestLeadStatesAreReadFromTheLeader(t *testing.T) {
	conn, _ := openLayout(t, Layout{})
	ctx := context.Background()
	for range 2 {
		streams, err := Ensure(ctx, conn.JS, Layout{})
		if err != nil {
			t.Fatal(err)
		}
		streams.Close()
		for bucket, want := range map[string]bool{LeadsBucket: false, DeliveriesBucket: true} {
			s, err := conn.JS.Stream(ctx, BucketStream(bucket))
			if err != nil {
				t.Fatal(err)
			}
			if got := s.CachedInfo().Config.AllowDirect; got != want {
				t.Errorf("%s: AllowDirect %v, want %v", bucket, got, want)
			}
		}
	}
}

// TestSubjectChecksAllocateNothing: the evaluator parses every event's
// subject and checks its lead against the body's; for the lead ids that
// are tokens already, that costs no allocation, and IsLeadToken agrees
// with LeadToken for every id.
func TestSubjectChecksAllocateNothing(t *testing.T) {
	subject := LeadSubject("demo", "ld_123") + ".7"
	allocs := testing.AllocsPerRun(100, func() {
		parts, ok := ParseEventSubject(subject)
		if !ok || !IsLeadToken(parts.LeadToken, "ld_123") {
			t.Fatal("the subject does not parse")
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per event", allocs)
	}
	for _, id := range []string{"ld_1", "a.b", "ünï", "~", "", "x~41", "A-Z_0"} {
		if !IsLeadToken(LeadToken(id), id) {
			t.Errorf("IsLeadToken(LeadToken(%q)) is false", id)
		}
		if IsLeadToken(LeadToken(id)+"x", id) {
			t.Errorf("IsLeadToken accepts another token for %q", id)
		}
	}
}
