package email

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func TestRenderPreview(t *testing.T) {
	m, err := Render(testFiring(), testDefinition(), testFrom, true, testNow)
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	if len(m.To) != 0 {
		t.Errorf("To = %v, want none", m.To)
	}
	if m.Subject != "[TEST] Milestone reached: Hot Lead for lead lead_7" {
		t.Errorf("Subject = %q", m.Subject)
	}
	p := parse(t, m.Raw)
	if _, ok := p.header["To"]; ok {
		t.Errorf("a To header without recipients")
	}
	if p.text != strings.ReplaceAll(m.Text, "\r\n", "\n") || p.html != m.HTML {
		t.Errorf("the parts differ from Text and HTML")
	}
	if m.MessageID != "<mtf_0123456789abcdef0123456789abcdef@milestone-triggers.leadvibe.io>" {
		t.Errorf("MessageID = %q", m.MessageID)
	}
}

func TestRenderIsDeterministic(t *testing.T) {
	def := testDefinition("a@example.com")
	m1, err1 := Render(testFiring(), def, testFrom, false, testNow)
	m2, err2 := Render(testFiring(), def, testFrom, false, testNow)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if string(m1.Raw) != string(m2.Raw) {
		t.Errorf("two renderings differ")
	}
}

func TestRenderErrors(t *testing.T) {
	f := testFiring()
	if _, err := Render(f, testDefinition(), "not an address", false, testNow); err == nil {
		t.Errorf("Render with a bad sender succeeded")
	}
	if _, err := Render(f, testDefinition("ok@example.com", "bad@"), testFrom, false, testNow); err == nil {
		t.Errorf("Render with a bad recipient succeeded")
	}
	f.ID = ""
	if _, err := Render(f, testDefinition(), testFrom, false, testNow); err == nil {
		t.Errorf("Render without a firing id succeeded")
	}
}

func TestRenderDeduplicatesRecipients(t *testing.T) {
	m, err := Render(testFiring(), testDefinition("a@example.com", "A <A@example.com>", "b@example.com"), testFrom, false, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(m.To, ",") != "a@example.com,b@example.com" {
		t.Errorf("To = %v", m.To)
	}
}

func TestRenderBoundsMetadata(t *testing.T) {
	fields := map[string]string{}
	for i := range maxMetadataFields + 5 {
		fields[fmt.Sprintf("k%03d", i)] = strings.Repeat("v", 2*maxDetailRunes)
	}
	raw, err := json.Marshal(fields)
	if err != nil {
		t.Fatal(err)
	}
	f := testFiring()
	f.Event.Metadata = raw
	m, err := Render(f, testDefinition(), testFrom, false, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(m.Text, "5 more metadata fields not shown.") {
		t.Errorf("no note on the fields left out")
	}
	if strings.Contains(m.Text, "k100:") || !strings.Contains(m.Text, "k099:") {
		t.Errorf("wrong fields shown")
	}
	if strings.Contains(m.Text, strings.Repeat("v", maxDetailRunes+1)) {
		t.Errorf("a metadata value was not cut")
	}

	f.Event.Metadata = json.RawMessage(`[1,2]`)
	if m, err := Render(f, testDefinition(), testFrom, false, testNow); err != nil || !strings.Contains(m.Text, "not a JSON object") {
		t.Errorf("metadata that is not an object: %v\n%s", err, m.Text)
	}
}

func TestFold(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Subject: short", "Subject: short"},
		{"Subject: " + strings.Repeat("word ", 20) + "end",
			"Subject: word word word word word word word word word word word word word word\r\n word word word word word word end"},
		{"Subject: " + strings.Repeat("x", 100), "Subject:\r\n " + strings.Repeat("x", 100)},
		{"Subject: a" + strings.Repeat(" ", 100) + "b", "Subject: a" + strings.Repeat(" ", 99) + "\r\n b"},
	}
	for _, tt := range tests {
		if got := fold(tt.in, maxHeaderLine); got != tt.want {
			t.Errorf("fold(%q) =\n%q, want\n%q", tt.in, got, tt.want)
		}
		if unfolded := strings.ReplaceAll(fold(tt.in, maxHeaderLine), "\r\n", ""); unfolded != tt.in {
			t.Errorf("unfolding fold(%q) gives %q", tt.in, unfolded)
		}
	}
}

func TestCleanLine(t *testing.T) {
	for in, want := range map[string]string{
		"a\r\nb":     "a b",
		"a\n\n\rb":   "a b",
		"plain":      "plain",
		"bad\xffutf": "bad\uFFFDutf",
	} {
		if got := cleanLine(in); got != want {
			t.Errorf("cleanLine(%q) = %q, want %q", in, got, want)
		}
	}
}
