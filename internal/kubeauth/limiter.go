package kubeauth

import (
	"container/list"
	"net"
	"net/netip"
	"sync"
	"time"
)

// Defaults of the failure limiter.
const (
	DefaultFailureLimit     = 20
	DefaultFailureWindow    = time.Minute
	DefaultFailureAddresses = 16384
)

// FailureLimiter counts failed authentications per client address. Once an
// address has failed Limit times within a window (which starts at its first
// failure), Allow refuses it until the window has passed, so that nothing
// it sends reaches the API server. IPv6 addresses count per /64, which one
// host usually holds whole. At most Size addresses are remembered; past
// that the least recently seen is forgotten. A nil *FailureLimiter allows
// everything. It is safe for concurrent use.
type FailureLimiter struct {
	limit  int
	window time.Duration
	size   int
	now    func() time.Time

	mu    sync.Mutex
	order *list.List // of *failures, most recently failed first
	addrs map[netip.Prefix]*list.Element
}

type failures struct {
	addr  netip.Prefix
	count int
	since time.Time
}

// NewFailureLimiter returns a limiter of limit failures per window, for at
// most size addresses (0: DefaultFailureAddresses); now is the clock (nil:
// time.Now). A limit or window of zero or less returns nil: no limit.
func NewFailureLimiter(limit int, window time.Duration, size int, now func() time.Time) *FailureLimiter {
	if limit <= 0 || window <= 0 {
		return nil
	}
	if size <= 0 {
		size = DefaultFailureAddresses
	}
	if now == nil {
		now = time.Now
	}
	return &FailureLimiter{limit: limit, window: window, size: size, now: now,
		order: list.New(), addrs: map[netip.Prefix]*list.Element{}}
}

// Allow reports whether addr may try to authenticate, and when not, how
// long until it may.
func (l *FailureLimiter) Allow(addr string) (time.Duration, bool) {
	key, ok := addrKey(addr)
	if l == nil || !ok {
		return 0, true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	el, found := l.addrs[key]
	if !found {
		return 0, true
	}
	f := el.Value.(*failures)
	left := f.since.Add(l.window).Sub(l.now())
	if left <= 0 {
		l.order.Remove(el)
		delete(l.addrs, key)
		return 0, true
	}
	if f.count >= l.limit {
		return left, false
	}
	return 0, true
}

// Failed records a failed authentication from addr.
func (l *FailureLimiter) Failed(addr string) {
	key, ok := addrKey(addr)
	if l == nil || !ok {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if el, found := l.addrs[key]; found {
		f := el.Value.(*failures)
		if now.Sub(f.since) >= l.window {
			f.count, f.since = 0, now
		}
		f.count++
		l.order.MoveToFront(el)
		return
	}
	for l.order.Len() >= l.size {
		oldest := l.order.Back()
		l.order.Remove(oldest)
		delete(l.addrs, oldest.Value.(*failures).addr)
	}
	l.addrs[key] = l.order.PushFront(&failures{addr: key, count: 1, since: now})
}

// Len is how many addresses the limiter remembers.
func (l *FailureLimiter) Len() int {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.order.Len()
}

// addrKey reads a client address, "host:port" or a bare IP, as the prefix
// it counts under: the IPv4 address, or the IPv6 /64.
func addrKey(addr string) (netip.Prefix, bool) {
	if addr == "" {
		return netip.Prefix{}, false
	}
	if host, _, err := net.SplitHostPort(addr); err == nil {
		addr = host
	}
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return netip.Prefix{}, false
	}
	ip = ip.Unmap().WithZone("")
	bits := 32
	if ip.Is6() {
		bits = 64
	}
	p, err := ip.Prefix(bits)
	return p, err == nil
}
