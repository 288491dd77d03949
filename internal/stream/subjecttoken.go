package stream

import (
	"strings"
)

// Names become subject tokens. An OU (a namespace) or a trigger (an object
// name) is a Kubernetes name, which may hold "." (object names are DNS
// subdomains) and, when it comes from outside and is not checked, anything
// at all: "*" and ">" would act as wildcards in a subscription's filter
// and "." would split one name into two tokens. nameToken makes any string
// one literal token, so that the subject helpers never produce a wildcard
// and two different names never share a subject:
//
//   - letters, digits and "-" stay as they are, so the subjects of the
//     names without a dot, written before this encoding, are unchanged;
//   - "." becomes "_", which Kubernetes names cannot hold;
//   - every other byte, "_" included, becomes "~" and two hex digits;
//   - the empty string becomes "~".
//
// The encoding is one-to-one. Callers still check names as Kubernetes
// names first (the REST shim answers 400 or 404); this is the second line.
func nameToken(s string) string {
	if s == "" {
		return "~"
	}
	if plainName(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case isNameByte(c):
			b.WriteByte(c)
		case c == '.':
			b.WriteByte('_')
		default:
			writeEscaped(&b, c)
		}
	}
	return b.String()
}

// idToken makes an operator-made id (a firing id, "mtf_" and hex) one
// literal token: letters, digits, "-" and "_" stay, every other byte
// becomes "~" and two hex digits, and the empty string "~".
func idToken(s string) string {
	if s == "" {
		return "~"
	}
	if plainID(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if c := s[i]; isNameByte(c) || c == '_' {
			b.WriteByte(c)
		} else {
			writeEscaped(&b, c)
		}
	}
	return b.String()
}

// keyTokens makes a bucket key literal: its "."-separated parts, which
// JetStream keys may hold, stay separate tokens, and each part keeps the
// characters keys may hold ("-", "_", "/", "=", letters and digits) while
// every other byte becomes "~" and two hex digits; an empty part becomes
// "~".
func keyTokens(key string) string {
	if plainKey(key) {
		// Every key the operator writes (lead states, checkpoints, firing
		// ids): no copy on the snapshot's path.
		return key
	}
	return escapeKey(key)
}

// escapeKey is keyTokens without its shortcut.
func escapeKey(key string) string {
	parts := strings.Split(key, ".")
	for i, p := range parts {
		if p == "" {
			parts[i] = "~"
			continue
		}
		var b strings.Builder
		for j := 0; j < len(p); j++ {
			if c := p[j]; isNameByte(c) || c == '_' || c == '/' || c == '=' {
				b.WriteByte(c)
			} else {
				writeEscaped(&b, c)
			}
		}
		parts[i] = b.String()
	}
	return strings.Join(parts, ".")
}

// plainKey reports whether keyTokens would leave key as it is: only the
// characters keys keep, and no empty part.
func plainKey(key string) bool {
	if key == "" || key[0] == '.' || key[len(key)-1] == '.' {
		return false
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		switch {
		case isNameByte(c), c == '_', c == '/', c == '=':
		case c == '.' && key[i-1] != '.':
		default:
			return false
		}
	}
	return true
}

// plainID reports whether idToken would leave s as it is.
func plainID(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isNameByte(c) && c != '_' {
			return false
		}
	}
	return true
}

func plainName(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isNameByte(s[i]) {
			return false
		}
	}
	return true
}

func isNameByte(c byte) bool {
	return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || 'A' <= c && c <= 'Z'
}

func writeEscaped(b *strings.Builder, c byte) {
	const hex = "0123456789abcdef"
	b.WriteByte('~')
	b.WriteByte(hex[c>>4])
	b.WriteByte(hex[c&0xf])
}
