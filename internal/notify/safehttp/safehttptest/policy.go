// Package safehttptest holds what the tests of the HTTP channels share.
package safehttptest

import (
	"net/netip"

	"github.com/leadvibe/milestone-triggers-operator/internal/notify/safehttp"
)

// Policy is the egress policy the local system runs with: the default
// deny list, with 127.0.0.1/32 allowed, so that httptest servers are
// reachable and every other internal address (127.0.0.2 included) is not.
func Policy() safehttp.Policy {
	return safehttp.Policy{
		Deny:  safehttp.DefaultDeny,
		Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
	}
}
