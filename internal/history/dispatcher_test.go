package history

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"k8s.io/apimachinery/pkg/types"

	"github.com/leadvibe/milestone-triggers-operator/internal/event"
	"github.com/leadvibe/milestone-triggers-operator/internal/ledger"
	"github.com/leadvibe/milestone-triggers-operator/internal/notify"
	"github.com/leadvibe/milestone-triggers-operator/internal/notify/safehttp"
	"github.com/leadvibe/milestone-triggers-operator/internal/notify/webhook"
	"github.com/leadvibe/milestone-triggers-operator/internal/stream"
	"github.com/leadvibe/milestone-triggers-operator/internal/stream/streamtest"
	"github.com/leadvibe/milestone-triggers-operator/internal/triggerset"
)

// loopbackAllowed is the default policy with the test receivers' loopback
// address allowed, as the local system runs it.
var loopbackAllowed = safehttp.Policy{Deny: safehttp.DefaultDeny, Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}

// TestHistoryShowsEveryAttempt runs the dispatcher with the real webhook
// channel against a receiver that fails twice, and checks that the
// history holds the firing and all three attempts, in order.
func TestHistoryShowsEveryAttempt(t *testing.T) {
	ctx := context.Background()
	var calls atomic.Int32
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= 2 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer rcv.Close()

	streams, ldg, store, triggers := openFixture(t, rcv.URL+"/hook?token=s3cr3t")

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	d := &notify.Dispatcher{
		Streams: streams, Triggers: triggers, Log: testr.New(t),
		Notifiers: []notify.Notifier{webhook.New(safehttp.NewClient(loopbackAllowed, 0))},
		Schedule:  notify.Schedule{0, 50 * time.Millisecond, 50 * time.Millisecond, 50 * time.Millisecond},
		History:   store.Recorder(5 * time.Second),
	}
	go func() { _ = d.Start(runCtx) }()

	firing := ledger.Firing{ID: "mtf_history", OU: "demo", Trigger: "hot", TriggerUID: "uid-hot", TriggerName: "Hot", Threshold: 75,
		Event: event.Event{ID: "evt-1", LeadID: "ld_1", EventType: "demo_request", Score: 80, CreatedAt: time.Now().UTC()},
		Score: 80, FiredAt: time.Now().UTC()}
	if err := ldg.CommitFirings(ctx, []ledger.Firing{firing}); err != nil {
		t.Fatal(err)
	}

	var page Page
	var err error
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if page, err = store.Find(ctx, Query{OU: "demo", Trigger: "hot"}); err != nil {
			t.Fatal(err)
		}
		if len(page.Records) == 4 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(page.Records) != 4 {
		t.Fatalf("history has %d records, want the firing and 3 attempts: %+v", len(page.Records), page.Records)
	}
	if page.Records[0].Kind != KindFiring || page.Records[0].LeadID != "ld_1" {
		t.Errorf("first record %+v, want the firing", page.Records[0])
	}
	for i, r := range page.Records[1:] {
		if r.Kind != KindAttempt || r.Attempt != i+1 || r.Channel != notify.ChannelWebhook || r.FiringID != firing.ID {
			t.Errorf("record %d = %+v", i+1, r)
		}
		if r.Destination == "" || strings.Contains(r.Destination, "s3cr3t") || strings.Contains(r.Error, "s3cr3t") {
			t.Errorf("record %d leaks or lacks the destination: %+v", i+1, r)
		}
	}
	if page.Records[1].StatusCode != 503 || page.Records[3].Outcome != notify.OutcomeDelivered || page.Records[3].StatusCode != http.StatusNoContent {
		t.Errorf("attempts = %+v, want two 503s then a delivery with its 204", page.Records[1:])
	}
}

// TestHistoryShowsEveryResentAttempt dead-letters a firing (two 503s on a
// two-attempt schedule), re-sends it to a receiver that is fine again,
// and checks that the history keeps the dead-lettered attempts and the
// re-sent one, each a record of its own: the re-send's attempt 1 is not
// taken for the first round's attempt 1.
func TestHistoryShowsEveryResentAttempt(t *testing.T) {
	ctx := context.Background()
	var fine atomic.Bool
	var calls atomic.Int32
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if !fine.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer rcv.Close()

	streams, ldg, store, triggers := openFixture(t, rcv.URL+"/hook")
	runCtx, cancel := context.WithCancel(ctx)
	stopped := make(chan error, 1)
	defer func() { cancel(); <-stopped }()
	d := &notify.Dispatcher{
		Streams: streams, Triggers: triggers, Log: testr.New(t),
		Notifiers: []notify.Notifier{webhook.New(safehttp.NewClient(loopbackAllowed, 0))},
		Schedule:  notify.Schedule{0, 50 * time.Millisecond},
		History:   store.Recorder(5 * time.Second),
	}
	go func() { stopped <- d.Start(runCtx) }()

	firing := ledger.Firing{ID: "mtf_resent", OU: "demo", Trigger: "hot", TriggerUID: "uid-hot", TriggerName: "Hot", Threshold: 75,
		Event: event.Event{ID: "evt-1", LeadID: "ld_1", EventType: "demo_request", Score: 80, CreatedAt: time.Now().UTC()},
		Score: 80, FiredAt: time.Now().UTC()}
	if err := ldg.CommitFirings(ctx, []ledger.Firing{firing}); err != nil {
		t.Fatal(err)
	}
	waitRecords := func(n int) []Record {
		t.Helper()
		var page Page
		var err error
		deadline := time.Now().Add(15 * time.Second)
		for time.Now().Before(deadline) {
			if page, err = store.Find(ctx, Query{OU: "demo", Trigger: "hot"}); err != nil {
				t.Fatal(err)
			}
			if len(page.Records) >= n {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if len(page.Records) != n {
			t.Fatalf("history has %d records, want %d: %+v", len(page.Records), n, page.Records)
		}
		return page.Records
	}
	waitRecords(3) // the firing and two 503s, dead-lettered
	fine.Store(true)
	resend := func() error {
		var err error
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			// The dead letter's state is saved right after its record.
			if err = notify.Resend(ctx, streams, "demo", "hot", firing.ID); !errors.Is(err, notify.ErrNotDeadLettered) {
				return err
			}
			time.Sleep(20 * time.Millisecond)
		}
		return err
	}
	if err := resend(); err != nil {
		t.Fatal(err)
	}
	waitRecords(4)
	time.Sleep(200 * time.Millisecond)
	records := waitRecords(4)

	want := []struct {
		round, attempt int
		outcome        string
	}{{0, 1, notify.OutcomePending}, {0, 2, notify.OutcomeDeadLettered}, {1, 1, notify.OutcomeDelivered}}
	for i, w := range want {
		r := records[i+1]
		if r.Kind != KindAttempt || r.Round != w.round || r.Attempt != w.attempt || r.Outcome != w.outcome {
			t.Errorf("record %d = %+v, want round %d attempt %d %s", i+1, r, w.round, w.attempt, w.outcome)
		}
	}
	if n := calls.Load(); n != 3 {
		t.Errorf("the receiver saw %d requests, want 3", n)
	}
}

// openFixture opens a real embedded stream with fsync always, its layout,
// ledger and history, and a trigger set holding demo/hot with a webhook to
// url.
func openFixture(t *testing.T, url string) (*stream.Streams, *ledger.Ledger, *Store, *triggerset.Memory) {
	t.Helper()
	_, streams := streamtest.Open(t, streamtest.WithLayout(stream.Layout{History: time.Hour}))
	triggers := triggerset.NewMemory()
	triggers.Upsert(triggerset.Definition{
		Key: types.NamespacedName{Namespace: "demo", Name: "hot"}, UID: "uid-hot", DisplayName: "Hot", Threshold: 75, Active: true,
		Destinations: triggerset.Destinations{Webhook: triggerset.NewCredential(url)},
	})
	return streams, ledger.New(streams), New(streams), triggers
}
