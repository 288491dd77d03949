package safehttp

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// Transport limits of the client.
const (
	dialTimeout           = 10 * time.Second
	tlsHandshakeTimeout   = 10 * time.Second
	idleConnTimeout       = 90 * time.Second
	maxResponseHeaderSize = 64 << 10
)

// NewClient returns a client for tenant-supplied targets. Every connection
// it makes, including those of a retried or redirected request, is checked
// against p once DNS has resolved the host: an address p refuses is
// refused with an error that matches ErrDenied (a *DeniedError). It uses
// no proxy (a proxy would hide the target's address from the check) and
// follows no redirects: a 3xx is returned as the response. timeout bounds
// each request as a whole; zero leaves the bound to the request's context.
func NewClient(p Policy, timeout time.Duration) *http.Client {
	p = p.normalized()
	dialer := &net.Dialer{
		Timeout:   dialTimeout,
		KeepAlive: 30 * time.Second,
		Control: func(network, address string, _ syscall.RawConn) error {
			return control(p, network, address)
		},
	}
	transport := &http.Transport{
		Proxy:                  nil,
		DialContext:            dialer.DialContext,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           100,
		MaxIdleConnsPerHost:    4,
		IdleConnTimeout:        idleConnTimeout,
		TLSHandshakeTimeout:    tlsHandshakeTimeout,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: maxResponseHeaderSize,
	}
	return &http.Client{
		Transport: transport,
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// control checks the resolved address of a connection about to be made.
// An address that does not parse, or a network other than TCP, is refused:
// the check fails closed.
func control(p Policy, network, address string) error {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return &DeniedError{Reason: fmt.Sprintf("refusing a %s connection: only TCP targets are allowed", network)}
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &DeniedError{Reason: fmt.Sprintf("refusing a connection to unparsable address %q", address)}
	}
	return p.check(ap.Addr())
}
