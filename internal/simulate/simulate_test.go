package simulate

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/leadvibe/milestone-triggers-operator/internal/event"
	"github.com/leadvibe/milestone-triggers-operator/internal/ledger"
	"github.com/leadvibe/milestone-triggers-operator/internal/notify"
	"github.com/leadvibe/milestone-triggers-operator/internal/notify/safehttp"
	"github.com/leadvibe/milestone-triggers-operator/internal/notify/safehttp/safehttptest"
	"github.com/leadvibe/milestone-triggers-operator/internal/notify/slack"
	"github.com/leadvibe/milestone-triggers-operator/internal/notify/teams"
	"github.com/leadvibe/milestone-triggers-operator/internal/notify/webhook"
	"github.com/leadvibe/milestone-triggers-operator/internal/triggerset"
)

var signingKey = []byte("simulate-test-signing-key-32byte")

func signingSecret() string { return "whsec_" + base64.StdEncoding.EncodeToString(signingKey) }

// receiver is a real HTTP server that records what it receives.
type receiver struct {
	*httptest.Server
	mu       sync.Mutex
	requests []*http.Request
	bodies   [][]byte
}

func newReceiver(t *testing.T, status int) *receiver {
	rcv := &receiver{}
	rcv.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rcv.mu.Lock()
		rcv.requests = append(rcv.requests, r)
		rcv.bodies = append(rcv.bodies, body)
		rcv.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(rcv.Close)
	return rcv
}

func (r *receiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.requests)
}

func definition(hook, slackURL, teamsURL string, active bool, eventType string) triggerset.Definition {
	return triggerset.Definition{
		Key:         types.NamespacedName{Namespace: "acme", Name: "trigger-456"},
		UID:         "uid-456",
		DisplayName: "Hot Lead Alert",
		EventType:   eventType,
		Threshold:   75,
		Active:      active,
		Destinations: triggerset.Destinations{
			Webhook:               triggerset.NewCredential(hook),
			WebhookSigningSecrets: []triggerset.Credential{triggerset.NewCredential(signingSecret())},
			Emails:                []string{"sales@example.com"},
			EmailSubject:          "Hot lead!",
			Slack:                 triggerset.NewCredential(slackURL),
			Teams:                 triggerset.NewCredential(teamsURL),
		},
	}
}

func newEvent(typ string, score int64) event.Event {
	return event.Event{
		ID: "evt-789", LeadID: "lead-123", EventType: typ, Score: score,
		Metadata:  json.RawMessage(`{"page":"/pricing"}`),
		CreatedAt: time.Date(2025, 1, 15, 10, 0, 0, 0, time.UTC),
	}
}

func notifiers() []notify.Notifier {
	client := safehttp.NewClient(safehttptest.Policy(), 5*time.Second)
	return []notify.Notifier{webhook.New(client), slack.New(client), teams.New(client)}
}

func score(v int64) *int64 { return &v }

func TestRunEvaluatesWithTheRules(t *testing.T) {
	cases := []struct {
		name      string
		active    bool
		eventType string
		req       Request
		wouldFire bool
		ifActive  bool
		rule      string
		specRule  int
	}{
		{"crossing", true, "", Request{Event: newEvent("form_submit", 85), PreviousScore: score(40)}, true, true, "crossing", 1},
		{"unseen lead crossing", true, "", Request{Event: newEvent("form_submit", 85)}, true, true, "crossing", 1},
		{"another type is pending", true, "demo_request", Request{Event: newEvent("page_view", 85), PreviousScore: score(40)}, false, false, "pending", 1},
		{"pending fires on the type", true, "demo_request", Request{Event: newEvent("demo_request", 90), PreviousScore: score(85), PendingCrossing: true}, true, true, "pending_fired", 2},
		{"drop re-arms", true, "", Request{Event: newEvent("x", 10), PreviousScore: score(90)}, false, false, "rearm", 3},
		{"no refire above", true, "", Request{Event: newEvent("x", 95), PreviousScore: score(90)}, false, false, "already_above", 4},
		{"stays below", true, "", Request{Event: newEvent("x", 20), PreviousScore: score(10)}, false, false, "below_threshold", 4},
		{"inactive", false, "", Request{Event: newEvent("x", 85), PreviousScore: score(40)}, false, true, "inactive", 5},
	}
	leads := newLedger(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			def := definition("https://hooks.example.com/x", "", "", c.active, c.eventType)
			res, err := Run(context.Background(), Config{Leads: leads}, def, c.req, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if res.WouldFire != c.wouldFire || res.WouldFireIfActive != c.ifActive || res.Rule != c.rule || res.SpecRule != c.specRule {
				t.Fatalf("got would_fire %v (if active %v), rule %s (%d); want %v (%v), %s (%d); reason %q",
					res.WouldFire, res.WouldFireIfActive, res.Rule, res.SpecRule, c.wouldFire, c.ifActive, c.rule, c.specRule, res.Reason)
			}
			if res.Reason == "" || res.TriggerID != "trigger-456" || res.Active != c.active {
				t.Errorf("result %+v lacks a reason or the trigger", res)
			}
			if want := c.ifActive; (res.FiringID != "") != want {
				t.Errorf("firing_id %q, want one only when it fires", res.FiringID)
			}
			if len(res.TestNotifications) != 0 {
				t.Errorf("test notifications sent without being asked: %+v", res.TestNotifications)
			}
		})
	}
}

func TestRunRefusesAnImpossiblePendingCrossing(t *testing.T) {
	for name, c := range map[string]struct {
		eventType string
		previous  *int64
	}{
		"no event type":  {"", score(90)},
		"below":          {"demo_request", score(10)},
		"never seen yet": {"demo_request", nil},
	} {
		t.Run(name, func(t *testing.T) {
			def := definition("https://hooks.example.com/x", "", "", true, c.eventType)
			_, err := Run(context.Background(), Config{}, def, Request{Event: newEvent("demo_request", 90), PreviousScore: c.previous, PendingCrossing: true}, time.Now())
			ie, ok := err.(*InputError)
			if !ok || ie.Field != "pending_crossing" {
				t.Fatalf("err = %v, want an InputError on pending_crossing", err)
			}
		})
	}
}

// The rendered notifications are the ones the notifiers send: the same
// webhook body, a signature that verifies, the same Slack and Teams JSON,
// and the email's parts.
func TestRunRendersExactlyWhatIsSent(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	def := definition("https://hooks.example.com/secret-path?token=abc", "https://hooks.slack.com/services/T/B/C", "https://example.webhook.office.com/x", true, "")
	req := Request{Event: newEvent("form_submit", 85), PreviousScore: score(40)}
	res, err := Run(context.Background(), Config{EmailFrom: "Triggers <triggers@example.com>"}, def, req, now)
	if err != nil {
		t.Fatal(err)
	}
	f := ledger.Firing{
		ID: ledger.FiringID("acme", "uid-456", "lead-123", "evt-789"), OU: "acme", Trigger: "trigger-456",
		TriggerUID: "uid-456", TriggerName: "Hot Lead Alert", Threshold: 75, Event: req.Event, Score: 85, FiredAt: now,
	}
	if res.FiringID != f.ID {
		t.Errorf("firing_id %s, want the pipeline's id %s", res.FiringID, f.ID)
	}
	var channels []string
	for _, n := range res.Notifications {
		channels = append(channels, n.Channel)
	}
	if got := strings.Join(channels, ","); got != "webhook,email,slack,teams" {
		t.Fatalf("channels %s", got)
	}

	hook := res.Notifications[0]
	wantBody, _ := webhook.Payload(f)
	if string(hook.Webhook.Body) != string(wantBody) {
		t.Errorf("webhook body\n%s\nwant\n%s", hook.Webhook.Body, wantBody)
	}
	if hook.Webhook.Method != http.MethodPost || hook.Webhook.Headers["Webhook-Id"] != f.ID || hook.Webhook.Headers["Content-Type"] != "application/json" {
		t.Errorf("webhook headers %v", hook.Webhook.Headers)
	}
	verifySignature(t, hook.Webhook.Headers, hook.Webhook.Body)
	if strings.Contains(hook.Destination, "token") || strings.Contains(hook.Destination, "secret-path") {
		t.Errorf("webhook destination %q is not redacted", hook.Destination)
	}

	mail := res.Notifications[1].Email
	if mail == nil || mail.Subject != "Hot lead!" || len(mail.To) != 1 || mail.To[0] != "sales@example.com" ||
		!strings.Contains(mail.Text, "lead-123") || !strings.Contains(mail.HTML, "lead-123") || mail.Preheader == "" {
		t.Errorf("email %+v", mail)
	}

	wantSlack, _ := slack.Message(f, def, false)
	wantTeams, _ := teams.Message(f, def, false)
	if string(res.Notifications[2].Message) != string(wantSlack) || string(res.Notifications[3].Message) != string(wantTeams) {
		t.Errorf("chat messages differ from the renderers'")
	}
}

func TestRunWithoutEmailSaysSo(t *testing.T) {
	def := definition("", "", "", true, "")
	res, err := Run(context.Background(), Config{Leads: newLedger(t)}, def, Request{Event: newEvent("x", 85)}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Notifications) != 1 || res.Notifications[0].Email != nil || !strings.Contains(res.Notifications[0].Note, "--smtp-addr") || !strings.Contains(res.Notifications[0].Note, "EmailDisabled") {
		t.Fatalf("notifications %+v", res.Notifications)
	}
}

// Test notifications are sent for real, only when asked, marked as tests,
// with an id that is not the real firing's.
func TestRunSendsTestNotificationsOnlyWhenAsked(t *testing.T) {
	hook, chat := newReceiver(t, http.StatusOK), newReceiver(t, http.StatusInternalServerError)
	def := definition(hook.URL+"/hook", chat.URL+"/slack", "", true, "")
	cfg := Config{Notifiers: notifiers(), Leads: newLedger(t)}

	res, err := Run(context.Background(), cfg, def, Request{Event: newEvent("x", 85), PreviousScore: score(40)}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if hook.count() != 0 || chat.count() != 0 || res.TestNotifications != nil {
		t.Fatalf("a simulation without send_test_notifications sent something")
	}

	// Below the threshold: it would not fire, but tests are still sent.
	res, err = Run(context.Background(), cfg, def, Request{Event: newEvent("x", 10), SendTestNotifications: true}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.TestNotifications) != 2 {
		t.Fatalf("test notifications %+v, want webhook and slack", res.TestNotifications)
	}
	if w := res.TestNotifications[0]; w.Channel != "webhook" || w.Outcome != "delivered" || w.StatusCode != http.StatusOK || w.Error != "" {
		t.Errorf("webhook test %+v", w)
	}
	if s := res.TestNotifications[1]; s.Channel != "slack" || s.Outcome != "failed" || s.StatusCode != 500 || s.Error == "" {
		t.Errorf("slack test %+v", s)
	}
	if hook.count() != 1 || chat.count() != 1 {
		t.Fatalf("receivers saw %d and %d requests, want 1 each", hook.count(), chat.count())
	}
	r := hook.requests[0]
	if r.Header.Get(webhook.HeaderTest) != "true" {
		t.Errorf("test webhook not marked: headers %v", r.Header)
	}
	realID := ledger.FiringID("acme", "uid-456", "lead-123", "evt-789")
	if id := r.Header.Get(webhook.HeaderID); id == "" || id == realID {
		t.Errorf("test webhook-id %q must differ from the real firing's %q", id, realID)
	}
	verifySignature(t, flatten(r.Header), hook.bodies[0])
}

// TestTestSendsNeverEchoReceivers sends test notifications to a webhook
// receiver whose answer holds a marker in its body and headers, a Slack
// receiver on 127.0.0.2 (loopback, outside the allow list) and a Teams
// URL on the metadata address: the answer, as the REST API returns it,
// carries the status code and the operator's reasons only.
func TestTestSendsNeverEchoReceivers(t *testing.T) {
	const marker = "MARKER-b41c7e-INTERNAL-ANSWER"
	hostile := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-Internal", marker)
		w.Header().Set("Retry-After", "30")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, `{"message":"`+marker+`","node":"10.0.0.7"}`)
	}))
	defer hostile.Close()
	l, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("cannot listen on 127.0.0.2: %v", err)
	}
	other := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		t.Error("the receiver on 127.0.0.2 was reached")
		_, _ = io.WriteString(w, marker)
	}))
	other.Listener.Close()
	other.Listener = l
	other.Start()
	defer other.Close()

	def := definition(hostile.URL+"/hook", other.URL+"/slack", "http://169.254.169.254/latest/meta-data/", true, "")
	res, err := Run(context.Background(), Config{Notifiers: notifiers(), Leads: newLedger(t)}, def, Request{Event: newEvent("x", 85), SendTestNotifications: true}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]TestNotification{
		"webhook": {Channel: "webhook", Outcome: "failed", StatusCode: 503, Error: "the receiver answered 503 Service Unavailable with Retry-After 30s"},
		"slack":   {Channel: "slack", Outcome: "failed", Error: safehttp.DeniedReason},
		"teams":   {Channel: "teams", Outcome: "failed", Error: safehttp.DeniedReason},
	}
	if len(res.TestNotifications) != len(want) {
		t.Fatalf("test notifications %+v, want %d", res.TestNotifications, len(want))
	}
	for _, got := range res.TestNotifications {
		w := want[got.Channel]
		w.Destination = got.Destination
		if got != w {
			t.Errorf("%s: %+v, want %+v", got.Channel, got, w)
		}
	}
	answer, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	for _, leak := range []string{marker, "10.0.0.7", "169.254.169.254/latest"} {
		if strings.Contains(string(answer), leak) {
			t.Errorf("the answer holds %q: %s", leak, answer)
		}
	}
	for _, got := range res.TestNotifications {
		// The destination is the tenant's own URL, redacted; the error
		// names no address.
		if strings.Contains(got.Error, "127.0.0") || strings.Contains(got.Error, "169.254") {
			t.Errorf("%s: error %q names the target's address", got.Channel, got.Error)
		}
	}
}

// verifySignature checks a Standard Webhooks signature with the signing
// key, independently of the package that signs.
func verifySignature(t *testing.T, h map[string]string, body []byte) {
	t.Helper()
	mac := hmac.New(sha256.New, signingKey)
	mac.Write([]byte(h["Webhook-Id"] + "." + h["Webhook-Timestamp"] + "." + string(body)))
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	if h["Webhook-Signature"] != want {
		t.Errorf("signature %q, want %q", h["Webhook-Signature"], want)
	}
}
