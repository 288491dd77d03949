package email

import (
	"encoding/json"
	"mime"
	"net/mail"
	"strings"
	"testing"
)

// FuzzRender checks that Render never panics and that no subject,
// preheader, message, name, id or metadata can add a header or break the
// message's structure.
func FuzzRender(f *testing.F) {
	f.Add("Hot Lead Alert", "pre", "A lead!\nCall them", "Hot Lead", "lead_7", "mtf_1", "key", "value")
	f.Add("a\r\nBcc: x@example.com", "<b>\r\n", "<script>", "n\nX: y", "l\r", "id\r\nX: z", "\r\n", "\x00")
	f.Add("très chaud 🔥"+strings.Repeat("é", 300), "", "", "", "", "=?utf-8?q?x?=", "k", "=_mt_")
	f.Add("s", "<x>", "<SCRIPT>alert(1)</SCRIPT>", "<x", "<x", "<x", "<script>", "</table><x>")
	f.Add("\xff\xfe", "\xff", "\xff", "\xff", "\xff", "\xff", "\xff", "\xff")
	f.Fuzz(func(t *testing.T, subject, preheader, message, name, lead, id, key, value string) {
		fir := testFiring()
		fir.TriggerName = name
		fir.Event.LeadID = lead
		fir.ID = id
		meta, err := json.Marshal(map[string]any{key: value, "n": 1})
		if err != nil {
			t.Skip()
		}
		fir.Event.Metadata = meta
		def := testDefinition("sales@example.com")
		def.Destinations.EmailSubject = subject
		def.Destinations.EmailPreheader = preheader
		def.Destinations.EmailMessage = message

		m, err := Render(fir, def, testFrom, true, testNow)
		if id == "" {
			if err == nil {
				t.Fatal("Render without an id succeeded")
			}
			return
		}
		if err != nil {
			t.Fatalf("Render: %v", err)
		}
		raw := string(m.Raw)
		end := strings.Index(raw, "\r\n\r\n")
		if end < 0 {
			t.Fatal("no end of the header section")
		}
		for _, line := range strings.Split(raw[:end], "\r\n") {
			if strings.ContainsAny(line, "\r\n") {
				t.Fatalf("a bare CR or LF in header line %q", line)
			}
			for i := 0; i < len(line); i++ {
				if line[i] >= 0x80 {
					t.Fatalf("non-ASCII in header line %q", line)
				}
			}
			if len(line) > 998 {
				t.Fatalf("header line of %d bytes", len(line))
			}
		}
		msg, err := mail.ReadMessage(strings.NewReader(raw))
		if err != nil {
			t.Fatalf("reading the message: %v", err)
		}
		want := map[string]bool{"From": true, "To": true, "Subject": true, "Date": true, "Message-Id": true,
			"Mime-Version": true, "X-Leadvibe-Firing-Id": true, "Content-Type": true}
		for k, v := range msg.Header {
			if !want[k] || len(v) != 1 {
				t.Fatalf("header %q: %q", k, v)
			}
		}
		got, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
		if err != nil {
			t.Fatalf("decoding the subject: %v", err)
		}
		if got != m.Subject || !strings.HasPrefix(got, testPrefix) {
			t.Fatalf("Subject decodes to %q, want %q", got, m.Subject)
		}
		if strings.Contains(strings.ToLower(m.HTML), "<script") || strings.Contains(m.HTML, "<x") {
			t.Fatalf("outside text reached the HTML unescaped:\n%s", m.HTML)
		}
		p := parse(t, m.Raw)
		body := p.html[strings.Index(p.html, "<body>")+len("<body>"):]
		if !strings.HasPrefix(strings.TrimSpace(body), `<div style="display:none;max-height:0;overflow:hidden;mso-hide:all">`) {
			t.Fatalf("the preheader is not first in the body")
		}
	})
}
