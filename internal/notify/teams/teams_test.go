package teams

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/leadvibe/milestone-triggers-operator/internal/notify"
	"github.com/leadvibe/milestone-triggers-operator/internal/notify/notifytest"
	"github.com/leadvibe/milestone-triggers-operator/internal/notify/safehttp"
	"github.com/leadvibe/milestone-triggers-operator/internal/notify/safehttp/safehttptest"
	"github.com/leadvibe/milestone-triggers-operator/internal/triggerset"
)

// definition is the example firing's trigger, posting to url.
func definition(url string) triggerset.Definition {
	return notifytest.Trigger(triggerset.Destinations{Teams: triggerset.NewCredential(url)})
}

type factJSON struct {
	Title string `json:"title"`
	Value string `json:"value"`
}

type elementJSON struct {
	Type  string     `json:"type"`
	Text  string     `json:"text"`
	Facts []factJSON `json:"facts"`
}

// decode parses a message generically, so that null and missing fields
// can be told apart, and returns it with its card's body.
func decode(t *testing.T, b []byte) (map[string]any, []elementJSON) {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("message is not JSON: %v\n%s", err, b)
	}
	var typed struct {
		Attachments []struct {
			Content struct {
				Body []elementJSON `json:"body"`
			} `json:"content"`
		} `json:"attachments"`
	}
	if err := json.Unmarshal(b, &typed); err != nil || len(typed.Attachments) != 1 {
		t.Fatalf("attachments: %v\n%s", err, b)
	}
	return m, typed.Attachments[0].Content.Body
}

func TestMessageStructure(t *testing.T) {
	b, err := Message(notifytest.Firing(), definition("https://example.webhook.office.com/x"), false)
	if err != nil {
		t.Fatal(err)
	}
	m, body := decode(t, b)
	if m["type"] != "message" {
		t.Errorf("type = %v, want message", m["type"])
	}
	att := m["attachments"].([]any)[0].(map[string]any)
	if v, ok := att["contentUrl"]; !ok || v != nil {
		t.Errorf("contentUrl = %v (present %v), want null", v, ok)
	}
	if att["contentType"] != "application/vnd.microsoft.card.adaptive" {
		t.Errorf("contentType = %v", att["contentType"])
	}
	content := att["content"].(map[string]any)
	if content["$schema"] != "http://adaptivecards.io/schemas/adaptive-card.json" || content["type"] != "AdaptiveCard" || content["version"] != "1.4" {
		t.Errorf("card = %v", content)
	}
	if strings.Contains(string(b), "MessageCard") || strings.Contains(string(b), "@context") {
		t.Errorf("the message uses the retired connector format: %s", b)
	}

	if len(body) != 4 || body[0].Type != "TextBlock" || body[0].Text != "Hot Lead Alert" ||
		body[1].Type != "FactSet" || body[2].Type != "TextBlock" || body[3].Type != "FactSet" {
		t.Fatalf("body = %+v, want title, facts, metadata title, metadata facts", body)
	}
	want := []factJSON{
		{"Lead", "ld_123"}, {"Score", "82"}, {"Event type", "demo_request"},
		{"Time", "2025-01-15T10:35:00Z"}, {"Threshold", "75"}, {"Event id", "evt-789"},
	}
	if fmt.Sprint(body[1].Facts) != fmt.Sprint(want) {
		t.Errorf("facts = %v, want %v", body[1].Facts, want)
	}
	if got := fmt.Sprint(body[3].Facts); got != fmt.Sprint([]factJSON{{"source", "website"}, {"page", "/pricing"}}) {
		t.Errorf("metadata facts = %s", got)
	}
}

func TestMessageTestMarkerAndBounds(t *testing.T) {
	f := notifytest.Firing()
	var meta strings.Builder
	meta.WriteString(`{"html":"<script>&</script>"`)
	for i := range 15 {
		fmt.Fprintf(&meta, `,"k%d":[%d]`, i, i)
	}
	meta.WriteString("}")
	f.Event.Metadata = json.RawMessage(meta.String())
	b, err := Message(f, definition("https://example.webhook.office.com/x"), true)
	if err != nil {
		t.Fatal(err)
	}
	_, body := decode(t, b)
	if body[0].Text != TestPrefix+"Hot Lead Alert" {
		t.Errorf("title = %q, want the test marker", body[0].Text)
	}
	if body[2].Text != "Metadata (10 of 16 fields)" || len(body[3].Facts) != 10 {
		t.Errorf("metadata = %q with %d facts", body[2].Text, len(body[3].Facts))
	}
	if body[3].Facts[0].Value != "<script>&</script>" || body[3].Facts[1].Value != "[0]" {
		t.Errorf("metadata facts = %v", body[3].Facts[:2])
	}

	f.Event.Metadata = nil
	b, _ = Message(f, definition("https://example.webhook.office.com/x"), false)
	if _, body := decode(t, b); len(body) != 2 {
		t.Errorf("body without metadata = %+v, want title and facts", body)
	}
}

func TestSend(t *testing.T) {
	tests := []struct {
		status    int
		ok        bool
		retryable bool
	}{
		{202, true, false},
		{200, true, false},
		{503, false, true},
		{408, false, true},
		{400, false, false},
		{401, false, false},
		{302, false, false},
	}
	for _, tt := range tests {
		got := make(chan []byte, 1)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			got <- b
			w.WriteHeader(tt.status)
		}))
		n := New(safehttp.NewClient(safehttptest.Policy(), 5*time.Second))
		def := definition(srv.URL + "/workflows/abc/triggers/manual/paths/invoke?sig=s3cr3t")
		_, err := n.Send(context.Background(), notify.Delivery{Firing: notifytest.Firing(), Trigger: def, Attempt: 1, Now: time.Now()})
		srv.Close()

		want, _ := Message(notifytest.Firing(), def, false)
		if b := <-got; string(b) != string(want) {
			t.Errorf("status %d: body = %s, want %s", tt.status, b, want)
		}
		if (err == nil) != tt.ok {
			t.Errorf("status %d: err = %v, want ok=%v", tt.status, err, tt.ok)
			continue
		}
		if err != nil {
			if notify.IsRetryable(err) != tt.retryable {
				t.Errorf("status %d: retryable = %v, want %v", tt.status, notify.IsRetryable(err), tt.retryable)
			}
			if strings.Contains(err.Error(), "s3cr3t") {
				t.Errorf("status %d: error %q leaks the URL", tt.status, err)
			}
		}
	}
}

func TestNotifier(t *testing.T) {
	n := New(safehttp.NewClient(safehttp.Policy{}, time.Second))
	def := definition("https://example.webhook.office.com/workflows/x?sig=s3cr3t")
	if n.Channel() != notify.ChannelTeams || !n.Configured(def) || n.Configured(triggerset.Definition{}) {
		t.Fatal("Channel or Configured is wrong")
	}
	if got := n.Destination(def); got != "https://example.webhook.office.com/<redacted>" {
		t.Fatalf("Destination = %q", got)
	}
}
