// Package safehttp sends HTTP requests to targets that tenants supply, such
// as webhook URLs: its client refuses to connect to denied address ranges
// (by default every loopback, private, link-local, multicast and cloud
// metadata address, DefaultDeny) unless an allow list makes an exception,
// checking the address of every connection after DNS resolution, and never
// follows redirects. It also classifies responses and transport errors as
// notify errors whose messages are fixed reasons, never the receiver's
// words, for the channels that deliver over HTTP.
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

// DefaultDeny is the deny list used unless one is configured
// (--webhook-deny-cidrs): every range where a tenant's URL could reach the
// operator itself, the cluster's own network or a cloud's metadata and
// control services rather than a receiver on the internet. An allow list
// (--webhook-allow-cidrs) makes exceptions.
var DefaultDeny = []netip.Prefix{
	// Loopback: the operator's own pod, or on a node's network the
	// kubelet, etcd and the API server.
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("::1/128"),
	// Unspecified, "this network": 0.0.0.0 connects to the local host.
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("::/128"),
	// RFC 1918 private ranges: pod, Service and node networks.
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
	// Shared address space (RFC 6598, carrier-grade NAT), used by some
	// clusters for pods and by Alibaba Cloud's metadata service
	// (100.100.100.200).
	netip.MustParsePrefix("100.64.0.0/10"),
	// IPv4 link-local, home of the metadata services of AWS, GCP, Azure,
	// Oracle, DigitalOcean and others (169.254.169.254) and of Tencent
	// Cloud's (169.254.0.23).
	netip.MustParsePrefix("169.254.0.0/16"),
	// IPv6 link-local.
	netip.MustParsePrefix("fe80::/10"),
	// IPv6 unique local addresses (private), including AWS's IPv6
	// metadata service fd00:ec2::254.
	netip.MustParsePrefix("fc00::/7"),
	// Multicast.
	netip.MustParsePrefix("224.0.0.0/4"),
	netip.MustParsePrefix("ff00::/8"),
	// IPv4 addresses embedded in IPv6 by a local NAT64 translator
	// (RFC 8215): how they embed depends on the site, so all are refused.
	// The well-known NAT64 prefix 64:ff9b::/96 is checked by the IPv4
	// address it embeds instead.
	netip.MustParsePrefix("64:ff9b:1::/48"),
	// IPv4-compatible IPv6 addresses (::a.b.c.d, deprecated by RFC 4291),
	// which some stacks still tunnel to the IPv4 address.
	netip.MustParsePrefix("::/96"),
	// AWS's IPv6 metadata service (inside fc00::/7 too: listed so that a
	// deny list built from this one keeps it).
	netip.MustParsePrefix("fd00:ec2::254/128"),
	// Azure's WireServer, a public address reachable only from Azure VMs,
	// which serves the VM agent's configuration and secrets.
	netip.MustParsePrefix("168.63.129.16/32"),
	// Alibaba Cloud's metadata service (inside 100.64.0.0/10 too).
	netip.MustParsePrefix("100.100.100.200/32"),
}

// DefaultDenyCIDRs is DefaultDeny as the --webhook-deny-cidrs flag
// takes it.
var DefaultDenyCIDRs = FormatCIDRs(DefaultDeny)

// nat64 is the well-known NAT64 prefix (RFC 6052): 64:ff9b::a.b.c.d
// reaches a.b.c.d through a NAT64 gateway.
var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// DeniedError is the error of a connection refused because its address is
// in a denied range and in no allowed one. It matches ErrDenied. Its
// message names the address, so it is for the operator's logs: Classify
// reports it to tenants in fixed words.
type DeniedError struct {
	// Addr is the address the connection would have been made to,
	// normalized (see Policy).
	Addr netip.Addr
	// Prefix is the denied range that contains it; invalid when the
	// address itself could not be checked.
	Prefix netip.Prefix
	// Reason, when set, says why an address could not be checked.
	Reason string
}

// Error says which address was refused and why.
func (e *DeniedError) Error() string {
	if e.Reason != "" {
		return e.Reason
	}
	return fmt.Sprintf("target %s is in a denied range (%s)", e.Addr, e.Prefix)
}

// Is makes errors.Is(err, ErrDenied) true.
func (e *DeniedError) Is(target error) bool { return target == ErrDenied }

// Policy says which addresses a client may connect to: an address in an
// Allow range may, whatever Deny says; otherwise one in a Deny range may
// not; any other may. Addresses are normalized before they are matched:
// an IPv6 zone is dropped, an IPv4-mapped IPv6 address
// (::ffff:127.0.0.1) is its IPv4 address, and so is an address of the
// well-known NAT64 prefix (64:ff9b::7f00:1), which is also matched as
// itself against Deny (but not against Allow: allowing 10.1.2.3/32
// allows 64:ff9b::a01:203, allowing 64:ff9b::/96 allows nothing).
type Policy struct {
	// Deny lists the refused ranges; DefaultDeny unless configured.
	Deny []netip.Prefix
	// Allow lists the exceptions, checked first.
	Allow []netip.Prefix
}

// normalized returns p with its prefixes normalized.
func (p Policy) normalized() Policy {
	return Policy{Deny: normalizePrefixes(p.Deny), Allow: normalizePrefixes(p.Allow)}
}

// check returns a *DeniedError when the policy, normalized, refuses a.
func (p Policy) check(a netip.Addr) error {
	raw, a := a.WithZone(""), normalizeAddr(a)
	for _, allow := range p.Allow {
		if allow.Contains(a) {
			return nil
		}
	}
	for _, deny := range p.Deny {
		if deny.Contains(a) || deny.Contains(raw) {
			return &DeniedError{Addr: a, Prefix: deny}
		}
	}
	return nil
}

// ParseCIDRs parses a comma-separated list of CIDR prefixes, as given to
// the --webhook-deny-cidrs and --webhook-allow-cidrs flags. Space around
// entries and empty entries are ignored, so an empty string is an empty
// list. Prefixes are masked, and IPv4-mapped IPv6 prefixes become the
// IPv4 prefixes they cover.
func ParseCIDRs(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		p, err := netip.ParsePrefix(part)
		if err != nil {
			return nil, fmt.Errorf("invalid CIDR %q: want an address and a prefix length, such as 10.96.0.0/12, 203.0.113.7/32 or fd00::/8", part)
		}
		out = append(out, normalizePrefix(p))
	}
	return out, nil
}

// FormatCIDRs is the inverse of ParseCIDRs.
func FormatCIDRs(prefixes []netip.Prefix) string {
	s := make([]string, len(prefixes))
	for i, p := range prefixes {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}

// normalizePrefix masks p and turns an IPv4-mapped IPv6 prefix into the
// IPv4 prefix it covers, since addresses are unmapped before matching.
// A prefix of the NAT64 range stays as it is: it matches the IPv6 form of
// an address.
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

// normalizeAddr drops an IPv6 zone and turns an IPv4-mapped or
// well-known NAT64 IPv6 address into its IPv4 address, so that
// ::ffff:127.0.0.1, 64:ff9b::7f00:1 and fe80::1%eth0 match the ranges
// that contain them.
func normalizeAddr(a netip.Addr) netip.Addr {
	a = a.WithZone("").Unmap()
	if a.Is6() && nat64.Contains(a) {
		return embedded4(a)
	}
	return a
}

// embedded4 is the IPv4 address in the last 32 bits of a.
func embedded4(a netip.Addr) netip.Addr {
	b := a.As16()
	return netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
}
