// Package text cuts strings for messages, payloads and logs: one rule for
// the whole operator, which never splits a UTF-8 character and always
// marks the cut with "…".
package text

import "unicode/utf8"

// Ellipsis marks a cut.
const Ellipsis = "…"

// ClipRunes cuts s to at most n runes, the last of them the ellipsis when
// s was longer; n of 0 or less gives "".
func ClipRunes(s string, n int) string {
	if n <= 0 {
		return ""
	}
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	count := 0
	for i := range s {
		if count == n-1 {
			return s[:i] + Ellipsis
		}
		count++
	}
	return s
}

// ClipBytes cuts s to at most n bytes of it, on a rune boundary, and adds
// the ellipsis when s was longer (so the result may be up to len(Ellipsis)
// bytes over n).
func ClipBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	n = max(n, 0)
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + Ellipsis
}
