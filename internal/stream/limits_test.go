package stream

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/leadvibe/milestone-triggers-operator/internal/metrics/metricstest"
)

func TestParseByteLimits(t *testing.T) {
	got, err := ParseByteLimits(" events=20Gi , history=500Mi,")
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultByteLimits
	want.Events, want.History = 20<<30, 500<<20
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if got, err := ParseByteLimits(""); err != nil || got != DefaultByteLimits {
		t.Errorf("empty: %+v, %v; want the defaults", got, err)
	}
	back, err := ParseByteLimits(DefaultByteLimits.String())
	if err != nil || back != DefaultByteLimits {
		t.Errorf("String does not parse back: %q: %+v, %v", DefaultByteLimits.String(), back, err)
	}
	for _, tt := range []struct{ in, want string }{
		{"events", "want name=size"},
		{"event=1Gi", "a name among deliveries, events, firings, history, leads, rejected, resends"},
		{"events=lots", `not a size such as 4Gi`},
		{"events=1Ki", "at least 1Mi"},
		{"events=-5Gi", "at least 1Mi"},
	} {
		_, err := ParseByteLimits(tt.in)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: error %v, want one containing %q", tt.in, err, tt.want)
		}
	}
}

// TestFullEventsStreamRefusesNewEvents fills a real events stream to its
// byte limit: writes are then refused with an error IsFull recognizes,
// in atomic batches and one by one, and the first events are all still
// there (nothing was dropped to make room). The history, a record, drops
// its oldest instead.
func TestFullEventsStreamRefusesNewEvents(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn, err := Open(ctx, Config{DataDir: t.TempDir(), Sync: SyncPolicy{Always: true}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	streams, err := Ensure(ctx, conn.JS, Layout{Bytes: ByteLimits{Events: 1 << 20, History: 1 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(streams.Close)

	payload := strings.Repeat("x", 8<<10)
	stored := 0
	var fullErr error
	for i := 0; i < 400 && fullErr == nil; i += 50 {
		msgs := make([]Msg, 50)
		for j := range msgs {
			msgs[j] = Msg{Subject: EventSubject("ou-a"), Data: []byte(payload), ID: fmt.Sprintf("evt-%d", i+j)}
		}
		if _, err := streams.Events.Write(ctx, msgs...); err != nil {
			fullErr = err
			break
		}
		stored += len(msgs)
	}
	if fullErr == nil {
		t.Fatal("400 events of 8 KiB fit in a 1 MiB stream")
	}
	if !IsFull(fullErr) {
		t.Fatalf("the refused batch's error is not recognized as full: %v", fullErr)
	}
	// The refused batch did not fit; lone events fill what is left.
	for i := 0; ; i++ {
		_, err := streams.Events.Write(ctx, Msg{Subject: EventSubject("ou-a"), Data: []byte(payload), ID: fmt.Sprintf("one-%d", i)})
		if err == nil && i < 200 {
			stored++
			continue
		}
		if !IsFull(err) {
			t.Fatalf("lone write %d to the full stream: %v, want a full error", i, err)
		}
		break
	}
	msgs := readAll(t, conn.JS, EventsStream)
	if len(msgs) < stored || len(msgs) == 0 || msgs[0].Headers().Get(hdrMsgID) != "evt-0" {
		t.Fatalf("the full stream holds %d events (first %q), want at least the %d stored, from evt-0", len(msgs), msgs[0].Headers().Get(hdrMsgID), stored)
	}

	usage := NewUsageCollector(conn.JS)
	if got := testutil.CollectAndCount(usage); got != 3*len(usageStreams) {
		t.Errorf("the usage collector reports %d series, want %d", got, 3*len(usageStreams))
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(usage)
	for _, p := range metricstest.Lint(t, reg, "milestone_triggers_stream_bytes", "milestone_triggers_stream_max_bytes", "milestone_triggers_stream_messages") {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
	want := fmt.Sprintf(`
# HELP milestone_triggers_stream_max_bytes A stream's or bucket's byte limit (--stream-max-bytes).
# TYPE milestone_triggers_stream_max_bytes gauge
milestone_triggers_stream_max_bytes{stream="KV_LEADVIBE_DELIVERIES"} %d
milestone_triggers_stream_max_bytes{stream="KV_LEADVIBE_LEADS"} %d
milestone_triggers_stream_max_bytes{stream="LEADVIBE_EVENTS"} %d
milestone_triggers_stream_max_bytes{stream="LEADVIBE_FIRINGS"} %d
milestone_triggers_stream_max_bytes{stream="LEADVIBE_HISTORY"} %d
milestone_triggers_stream_max_bytes{stream="LEADVIBE_REJECTED"} %d
milestone_triggers_stream_max_bytes{stream="LEADVIBE_RESENDS"} %d
`, DefaultByteLimits.Deliveries, DefaultByteLimits.Leads, 1<<20, DefaultByteLimits.Firings, 1<<20, DefaultByteLimits.Rejected, DefaultByteLimits.Resends)
	if err := testutil.CollectAndCompare(usage, strings.NewReader(want), "milestone_triggers_stream_max_bytes"); err != nil {
		t.Error(err)
	}
	if err := testutil.CollectAndCompare(usage, strings.NewReader(fmt.Sprintf(`
# HELP milestone_triggers_stream_messages Messages a stream or bucket holds.
# TYPE milestone_triggers_stream_messages gauge
milestone_triggers_stream_messages{stream="KV_LEADVIBE_DELIVERIES"} 0
milestone_triggers_stream_messages{stream="KV_LEADVIBE_LEADS"} 0
milestone_triggers_stream_messages{stream="LEADVIBE_EVENTS"} %d
milestone_triggers_stream_messages{stream="LEADVIBE_FIRINGS"} 0
milestone_triggers_stream_messages{stream="LEADVIBE_HISTORY"} 0
milestone_triggers_stream_messages{stream="LEADVIBE_REJECTED"} 0
milestone_triggers_stream_messages{stream="LEADVIBE_RESENDS"} 0
`, len(msgs))), "milestone_triggers_stream_messages"); err != nil {
		t.Error(err)
	}

	for i := range 200 {
		if _, err := streams.History.Write(ctx, Msg{Subject: HistorySubject("ou-a", "t"), Data: []byte(payload), ID: fmt.Sprintf("h-%d", i)}); err != nil {
			t.Fatalf("history write %d: %v: a full history must drop its oldest records, not refuse", i, err)
		}
	}
	hist := readAll(t, conn.JS, HistoryStream)
	if len(hist) == 200 || hist[len(hist)-1].Headers().Get(hdrMsgID) != "h-199" {
		t.Fatalf("history holds %d of 200 records, last %q: want the oldest dropped and the newest kept", len(hist), hist[len(hist)-1].Headers().Get(hdrMsgID))
	}
}

// TestEnsureAppliesByteLimits checks that every stream and bucket gets
// its limit, and that a layout created without limits (an older
// operator's) takes them on the next Ensure.
func TestEnsureAppliesByteLimits(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, streams := openTest(t)
	streams.Close()
	limits := ByteLimits{Events: 10 << 20, Rejected: 11 << 20, Firings: 12 << 20, History: 13 << 20, Resends: 14 << 20, Leads: 15 << 20, Deliveries: 16 << 20}
	s2, err := Ensure(ctx, conn.JS, Layout{Bytes: limits})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	for name, want := range map[string]int64{
		EventsStream: limits.Events, RejectedStream: limits.Rejected, FiringsStream: limits.Firings,
		HistoryStream: limits.History, ResendsStream: limits.Resends,
		BucketStream(LeadsBucket): limits.Leads, BucketStream(DeliveriesBucket): limits.Deliveries,
	} {
		s, err := conn.JS.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.CachedInfo().Config.MaxBytes; got != want {
			t.Errorf("%s: MaxBytes %d, want %d", name, got, want)
		}
	}
}
