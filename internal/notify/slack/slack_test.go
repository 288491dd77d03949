package slack

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
	"unicode/utf8"

	"github.com/leadvibe/milestone-triggers-operator/internal/notify"
	"github.com/leadvibe/milestone-triggers-operator/internal/notify/notifytest"
	"github.com/leadvibe/milestone-triggers-operator/internal/notify/safehttp"
	"github.com/leadvibe/milestone-triggers-operator/internal/notify/safehttp/safehttptest"
	"github.com/leadvibe/milestone-triggers-operator/internal/triggerset"
)

// definition is the example firing's trigger, posting to url.
func definition(url string) triggerset.Definition {
	return notifytest.Trigger(triggerset.Destinations{Slack: triggerset.NewCredential(url)})
}

// parsed is the part of a Slack message the tests read.
type parsed struct {
	Text   string `json:"text"`
	Blocks []struct {
		Type string `json:"type"`
		Text *struct {
			Type string `json:"type"`
			Text string `json:"text"`
		} `json:"text"`
		Fields []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		} `json:"fields"`
		Elements []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		} `json:"elements"`
	} `json:"blocks"`
}

func parse(t *testing.T, b []byte) parsed {
	t.Helper()
	var p parsed
	dec := json.NewDecoder(strings.NewReader(string(b)))
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("message is not JSON: %v\n%s", err, b)
	}
	return p
}

func TestMessageStructure(t *testing.T) {
	b, err := Message(notifytest.Firing(), definition("https://hooks.slack.com/services/T/B/X"), false)
	if err != nil {
		t.Fatal(err)
	}
	m := parse(t, b)
	if !strings.Contains(m.Text, "Hot Lead Alert") || !strings.Contains(m.Text, "ld_123") || strings.HasPrefix(m.Text, TestPrefix) {
		t.Errorf("text = %q", m.Text)
	}
	var blockTypes []string
	for _, bl := range m.Blocks {
		blockTypes = append(blockTypes, bl.Type)
	}
	if got := strings.Join(blockTypes, ","); got != "header,section,section,context" {
		t.Fatalf("blocks = %s, want header,section,section,context", got)
	}
	if h := m.Blocks[0].Text; h == nil || h.Type != "plain_text" || h.Text != "Hot Lead Alert" {
		t.Errorf("header = %+v", h)
	}
	want := []string{"*Lead*\nld_123", "*Score*\n82", "*Event type*\ndemo_request", "*Time*\n2025-01-15T10:35:00Z", "*Threshold*\n75"}
	if len(m.Blocks[1].Fields) != len(want) {
		t.Fatalf("fields = %+v", m.Blocks[1].Fields)
	}
	for i, w := range want {
		if f := m.Blocks[1].Fields[i]; f.Type != "mrkdwn" || f.Text != w {
			t.Errorf("field %d = %+v, want %q", i, f, w)
		}
	}
	meta := m.Blocks[2]
	if meta.Text == nil || meta.Text.Text != "*Metadata*" || len(meta.Fields) != 2 ||
		meta.Fields[0].Text != "*source*\nwebsite" || meta.Fields[1].Text != "*page*\n/pricing" {
		t.Errorf("metadata section = %+v", meta)
	}
	ctx := m.Blocks[3].Elements
	if len(ctx) != 1 || !strings.Contains(ctx[0].Text, "evt-789") || !strings.Contains(ctx[0].Text, notifytest.Firing().ID) {
		t.Errorf("context = %+v", ctx)
	}
}

func TestMessageEscapesAndBounds(t *testing.T) {
	f := notifytest.Firing()
	f.Event.LeadID = "<!channel> & <https://evil.example|click>"
	var meta strings.Builder
	meta.WriteString(`{"long":"` + strings.Repeat("é", 5000) + `","nested":{"a":"<b>"}`)
	for i := range 20 {
		fmt.Fprintf(&meta, `,"k%d":%d`, i, i)
	}
	meta.WriteString("}")
	f.Event.Metadata = json.RawMessage(meta.String())
	def := definition("https://hooks.slack.com/services/T/B/X")
	def.DisplayName = strings.Repeat("N", 500)

	b, err := Message(f, def, true)
	if err != nil {
		t.Fatal(err)
	}
	m := parse(t, b)
	if !strings.HasPrefix(m.Text, TestPrefix) {
		t.Errorf("text = %q, want the test marker", m.Text)
	}
	if h := m.Blocks[0].Text.Text; !strings.HasPrefix(h, TestPrefix) || utf8.RuneCountInString(h) > 150 {
		t.Errorf("header = %q, want the test marker and at most 150 characters", h)
	}
	if lead := m.Blocks[1].Fields[0].Text; lead != "*Lead*\n&lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;" {
		t.Errorf("lead field = %q, want it escaped", lead)
	}
	if strings.Contains(m.Text, "<!channel>") {
		t.Errorf("text = %q, want it escaped", m.Text)
	}
	for _, bl := range m.Blocks {
		if len(bl.Fields) > 10 {
			t.Errorf("a %s block has %d fields, Slack allows 10", bl.Type, len(bl.Fields))
		}
		if bl.Text != nil && utf8.RuneCountInString(bl.Text.Text) > 3000 {
			t.Errorf("a %s block's text has more than 3000 characters", bl.Type)
		}
		for _, fl := range bl.Fields {
			if utf8.RuneCountInString(fl.Text) > 2000 {
				t.Errorf("a field has more than 2000 characters")
			}
		}
	}
	meta2 := m.Blocks[2]
	if meta2.Text.Text != "*Metadata* (10 of 22 fields)" {
		t.Errorf("metadata title = %q", meta2.Text.Text)
	}
	if meta2.Fields[1].Text != `*nested*`+"\n"+`{"a":"&lt;b&gt;"}` {
		t.Errorf("nested metadata field = %q", meta2.Fields[1].Text)
	}
}

func TestMessageWithoutMetadata(t *testing.T) {
	f := notifytest.Firing()
	f.Event.Metadata = nil
	b, err := Message(f, definition("https://hooks.slack.com/x"), false)
	if err != nil {
		t.Fatal(err)
	}
	if m := parse(t, b); len(m.Blocks) != 3 || m.Blocks[2].Type != "context" {
		t.Fatalf("blocks = %+v, want no metadata section", m.Blocks)
	}
}

func TestSend(t *testing.T) {
	tests := []struct {
		status    int
		ok        bool
		retryable bool
	}{
		{200, true, false},
		{500, false, true},
		{429, false, true},
		{400, false, false},
		{403, false, false},
		{404, false, false},
	}
	for _, tt := range tests {
		got := make(chan []byte, 1)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
				t.Errorf("request %s with Content-Type %q", r.Method, r.Header.Get("Content-Type"))
			}
			got <- b
			w.WriteHeader(tt.status)
			_, _ = io.WriteString(w, "invalid_token")
		}))
		n := New(safehttp.NewClient(safehttptest.Policy(), 5*time.Second))
		def := definition(srv.URL + "/services/T000/B000/s3cr3t")
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
	def := definition("https://hooks.slack.com/services/T000/B000/s3cr3t")
	if n.Channel() != notify.ChannelSlack || !n.Configured(def) || n.Configured(triggerset.Definition{}) {
		t.Fatal("Channel or Configured is wrong")
	}
	if got := n.Destination(def); got != "https://hooks.slack.com/<redacted>" {
		t.Fatalf("Destination = %q", got)
	}
}
