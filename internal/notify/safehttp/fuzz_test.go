package safehttp

import (
	"testing"
	"time"
)

// FuzzParseRetryAfter checks that any header value a receiver sends gives
// a delay between 0 and MaxRetryAfter.
func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"", "0", "120", "-1", "Wed, 15 Jan 2025 10:35:00 GMT", "99999999999999999999"} {
		f.Add(s)
	}
	now := time.Date(2025, 1, 15, 10, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, v string) {
		if d := ParseRetryAfter(v, now); d < 0 || d > MaxRetryAfter {
			t.Fatalf("ParseRetryAfter(%q) = %v", v, d)
		}
	})
}

// FuzzParseCIDRs checks that every prefix ParseCIDRs accepts is valid,
// masked and not IPv4-mapped.
func FuzzParseCIDRs(f *testing.F) {
	for _, s := range []string{"169.254.0.0/16,fe80::/10", "::ffff:10.0.0.0/104", " , ", "1.2.3.4/33"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		prefixes, err := ParseCIDRs(s)
		if err != nil {
			return
		}
		for _, p := range prefixes {
			if !p.IsValid() || p != p.Masked() || (p.Addr().Is4In6() && p.Bits() >= 96) {
				t.Fatalf("ParseCIDRs(%q) gave %v", s, p)
			}
		}
	})
}
