package text

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestClip(t *testing.T) {
	for _, tt := range []struct {
		in        string
		runes     int
		wantRunes string
		bytes     int
		wantBytes string
	}{
		{"hello", 10, "hello", 10, "hello"},
		{"hello", 5, "hello", 5, "hello"},
		{"hello world", 6, "hello…", 5, "hello…"},
		{"héllo", 2, "h…", 2, "h…"}, // é is two bytes: the byte cut backs off
		{"日本語テキスト", 3, "日本…", 4, "日…"},
		{"", 3, "", 3, ""},
		{"abc", 0, "", 0, "…"},
	} {
		if got := ClipRunes(tt.in, tt.runes); got != tt.wantRunes {
			t.Errorf("ClipRunes(%q, %d) = %q, want %q", tt.in, tt.runes, got, tt.wantRunes)
		}
		if got := ClipBytes(tt.in, tt.bytes); got != tt.wantBytes {
			t.Errorf("ClipBytes(%q, %d) = %q, want %q", tt.in, tt.bytes, got, tt.wantBytes)
		}
	}
}

func FuzzClip(f *testing.F) {
	f.Add("héllo wörld", 3)
	f.Add(strings.Repeat("日", 50), 7)
	f.Fuzz(func(t *testing.T, s string, n int) {
		n %= 1000
		r, b := ClipRunes(s, n), ClipBytes(s, n)
		if utf8.ValidString(s) && (!utf8.ValidString(r) || !utf8.ValidString(b)) {
			t.Fatalf("a cut of valid %q split a character: %q, %q", s, r, b)
		}
		if n > 0 && utf8.RuneCountInString(r) > n {
			t.Fatalf("ClipRunes(%q, %d) = %q: more than %d runes", s, n, r, n)
		}
		if len(b) > max(n, 0)+len(Ellipsis) {
			t.Fatalf("ClipBytes(%q, %d) = %q: %d bytes", s, n, b, len(b))
		}
		if utf8.RuneCountInString(s) <= n && r != s {
			t.Fatalf("ClipRunes cut %q, which fits in %d runes", s, n)
		}
	})
}
