// Package safehttp sends HTTP requests to targets that tenants supply, such
// as webhook URLs: its client refuses to connect to denied address ranges
// (the link-local metadata services by default), checking the address of
// every connection after DNS resolution, and never follows redirects. It
// also classifies responses and transport errors as notify errors, with
// URLs redacted, for the channels that deliver over HTTP.
package safehttp

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// ErrDenied is matched, with errors.Is, by the error of a connection to a
// denied address.
var ErrDenied = errors.New("target is in a denied range")

// DefaultDeny is the deny list used unless one is configured: the IPv4 and
// IPv6 link-local ranges, where cloud metadata services live.
var DefaultDeny = []netip.Prefix{
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("fe80::/10"),
}

// DeniedError is the error of a connection refused because its address is
// in a denied range. It matches ErrDenied.
type DeniedError struct {
	// Addr is the address the connection would have been made to.
	Addr netip.Addr
	// Prefix is the denied range that contains it.
	Prefix netip.Prefix
}

// Error says which address was refused and why.
func (e *DeniedError) Error() string {
	return fmt.Sprintf("target %s is in a denied range (%s)", e.Addr, e.Prefix)
}

// Is makes errors.Is(err, ErrDenied) true.
func (e *DeniedError) Is(target error) bool { return target == ErrDenied }

// ParseCIDRs parses a comma-separated list of CIDR prefixes, as given to
// the --webhook-deny-cidrs flag. Space around entries and empty entries
// are ignored, so an empty string is an empty list. Prefixes are masked,
// and IPv4-mapped IPv6 prefixes become IPv4 prefixes.
func ParseCIDRs(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		p, err := netip.ParsePrefix(part)
		if err != nil {
			return nil, fmt.Errorf("invalid CIDR %q: want an address and a prefix length, such as 169.254.0.0/16 or fe80::/10", part)
		}
		out = append(out, normalizePrefix(p))
	}
	return out, nil
}

// normalizePrefix masks p and turns an IPv4-mapped IPv6 prefix into the
// IPv4 prefix it covers, since addresses are unmapped before matching.
func normalizePrefix(p netip.Prefix) netip.Prefix {
	p = p.Masked()
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		return netip.PrefixFrom(a.Unmap(), p.Bits()-96).Masked()
	}
	return p
}

// normalizePrefixes returns a normalized copy of prefixes.
func normalizePrefixes(prefixes []netip.Prefix) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(prefixes))
	for _, p := range prefixes {
		if p.IsValid() {
			out = append(out, normalizePrefix(p))
		}
	}
	return out
}

// normalizeAddr drops an IPv6 zone and unmaps an IPv4-mapped IPv6
// address, so that ::ffff:169.254.169.254 and fe80::1%eth0 match the
// ranges that contain them.
func normalizeAddr(a netip.Addr) netip.Addr {
	return a.WithZone("").Unmap()
}

// checkAddr returns a *DeniedError when a is in one of the denied ranges,
// which normalizePrefixes has prepared.
func checkAddr(deny []netip.Prefix, a netip.Addr) error {
	a = normalizeAddr(a)
	for _, p := range deny {
		if p.Contains(a) {
			return &DeniedError{Addr: a, Prefix: p}
		}
	}
	return nil
}
