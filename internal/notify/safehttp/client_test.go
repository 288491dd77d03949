package safehttp

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/leadvibe/milestone-triggers-operator/internal/notify"
)

func get(t *testing.T, c *http.Client, url string) (*http.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c.Do(req)
}

// loopback1 is the allow list the local system runs with.
var loopback1 = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}

func TestLoopbackReachableWhenAllowed(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "hello")
	}))
	defer srv.Close()

	resp, err := get(t, NewClient(Policy{Deny: DefaultDeny, Allow: loopback1}, 5*time.Second), srv.URL)
	if err != nil {
		t.Fatalf("GET loopback with the default deny list and 127.0.0.1/32 allowed: %v", err)
	}
	defer resp.Body.Close()
	if b, _ := io.ReadAll(resp.Body); string(b) != "hello" {
		t.Fatalf("body = %q, want hello", b)
	}
}

func TestLoopbackRefusedByDefault(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		t.Error("the denied server was reached")
	}))
	defer srv.Close()

	_, err := get(t, NewClient(Policy{Deny: DefaultDeny}, 5*time.Second), srv.URL)
	if !errors.Is(err, ErrDenied) {
		t.Fatalf("err = %v, want one matching ErrDenied", err)
	}
	if !strings.Contains(err.Error(), "target 127.0.0.1 is in a denied range (127.0.0.0/8)") {
		t.Fatalf("err = %q, want it to name the address and the range", err)
	}
	var denied *DeniedError
	if !errors.As(err, &denied) || denied.Addr != netip.MustParseAddr("127.0.0.1") {
		t.Fatalf("err = %#v, want a *DeniedError for 127.0.0.1", err)
	}
}

// listen127002 starts a server on 127.0.0.2, a loopback address outside
// the local system's allow list.
func listen127002(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("cannot listen on 127.0.0.2: %v", err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

// TestLoopbackOutsideAllowList runs a real receiver on 127.0.0.2: with
// only 127.0.0.1/32 allowed it is refused as loopback, in every spelling
// of its address, and reached once it is allowed.
func TestLoopbackOutsideAllowList(t *testing.T) {
	var reached atomic.Int32
	srv := listen127002(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		reached.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())

	refused := NewClient(Policy{Deny: DefaultDeny, Allow: loopback1}, 5*time.Second)
	for _, host := range []string{"127.0.0.2", "[::ffff:127.0.0.2]", "[::ffff:7f00:2]", "[0:0:0:0:0:ffff:127.0.0.2]"} {
		url := "http://" + host + ":" + port + "/hook"
		_, err := Post(context.Background(), refused, url, nil, []byte("{}"))
		var denied *DeniedError
		if !errors.As(err, &denied) || denied.Prefix != netip.MustParsePrefix("127.0.0.0/8") {
			t.Errorf("POST %s: err = %v (detail %q), want it refused as loopback", url, err, notify.Detail(err))
			continue
		}
		if notify.IsRetryable(err) || err.Error() != DeniedReason {
			t.Errorf("POST %s: err = %q, retryable %v; want the permanent %q", url, err, notify.IsRetryable(err), DeniedReason)
		}
		if !strings.Contains(notify.Detail(err), "127.0.0.2") {
			t.Errorf("POST %s: detail = %q, want the refused address for the logs", url, notify.Detail(err))
		}
	}
	if n := reached.Load(); n != 0 {
		t.Fatalf("the refused receiver was reached %d times", n)
	}

	allowed := NewClient(Policy{Deny: DefaultDeny, Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}}, 5*time.Second)
	if _, err := Post(context.Background(), allowed, srv.URL+"/hook", nil, []byte("{}")); err != nil {
		t.Fatalf("POST with 127.0.0.2/32 allowed: %v", err)
	}
	if n := reached.Load(); n != 1 {
		t.Fatalf("the allowed receiver was reached %d times, want 1", n)
	}
}

// TestHostnameResolvedBeforeCheck dials "localhost", which only DNS turns
// into a loopback address, so the check must see the resolved address.
func TestHostnameResolvedBeforeCheck(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		t.Error("the denied server was reached")
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())

	_, err := get(t, NewClient(Policy{Deny: DefaultDeny}, 5*time.Second), "http://localhost:"+port+"/")
	if !errors.Is(err, ErrDenied) {
		t.Fatalf("err = %v, want one matching ErrDenied", err)
	}
}

func TestRedirectNotFollowed(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/elsewhere" {
			t.Error("the redirect was followed")
		}
		http.Redirect(w, r, "/elsewhere", http.StatusFound)
	}))
	defer srv.Close()

	resp, err := get(t, NewClient(Policy{}, 5*time.Second), srv.URL+"/start")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("status = %d, want 302 returned as is", resp.StatusCode)
	}
}

func TestMetadataLiteralsRefused(t *testing.T) {
	c := NewClient(Policy{Deny: DefaultDeny}, 5*time.Second)
	for _, url := range []string{
		"http://169.254.169.254/latest/meta-data/",
		"http://[fe80::1]:8080/",
		"http://[::ffff:169.254.169.254]/",
		"http://[fd00:ec2::254]/latest/meta-data/",
		"http://168.63.129.16/machine?comp=goalstate",
		"http://100.100.100.200/latest/meta-data/",
		"http://[64:ff9b::a9fe:a9fe]/", // 169.254.169.254 through NAT64
	} {
		_, err := get(t, c, url)
		if !errors.Is(err, ErrDenied) {
			t.Errorf("GET %s: err = %v, want one matching ErrDenied", url, err)
		}
	}
}

func TestPolicyCheck(t *testing.T) {
	p := Policy{
		Deny:  append(append([]netip.Prefix(nil), DefaultDeny...), netip.MustParsePrefix("::ffff:203.0.113.0/120")),
		Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("::ffff:10.96.0.10/128")},
	}.normalized()
	tests := []struct {
		addr   string
		denied string // the range that refuses it, or "" when allowed
	}{
		{"127.0.0.1", ""},            // allowed before the deny list
		{"::ffff:127.0.0.1", ""},     // the same address, mapped
		{"127.0.0.2", "127.0.0.0/8"}, // loopback outside the allow list
		{"::ffff:127.0.0.2", "127.0.0.0/8"},
		{"64:ff9b::7f00:2", "127.0.0.0/8"}, // NAT64 form of 127.0.0.2
		{"64:ff9b::7f00:1", ""},            // NAT64 form of the allowed 127.0.0.1
		{"::1", "::1/128"},
		{"0.0.0.0", "0.0.0.0/8"},
		{"::", "::/128"},
		{"10.96.0.10", ""}, // allowed through its mapped form
		{"10.96.0.11", "10.0.0.0/8"},
		{"172.16.5.4", "172.16.0.0/12"},
		{"172.32.0.1", ""},
		{"192.168.1.1", "192.168.0.0/16"},
		{"100.64.0.1", "100.64.0.0/10"},
		{"100.100.100.200", "100.64.0.0/10"},
		{"169.254.169.254", "169.254.0.0/16"},
		{"fe80::1%eth0", "fe80::/10"},
		{"fd00:ec2::254", "fc00::/7"},
		{"fc00::1", "fc00::/7"},
		{"224.0.0.251", "224.0.0.0/4"},
		{"ff02::1", "ff00::/8"},
		{"64:ff9b:1::a00:1", "64:ff9b:1::/48"},
		{"::7f00:1", "::/96"}, // IPv4-compatible 127.0.0.1
		{"168.63.129.16", "168.63.129.16/32"},
		{"203.0.113.7", "203.0.113.0/24"}, // the mapped deny prefix, normalized
		{"64:ff9b::cb00:7107", "203.0.113.0/24"},
		{"8.8.8.8", ""},
		{"64:ff9b::808:808", ""},
		{"2001:db8::1", ""},
	}
	for _, tt := range tests {
		err := p.check(netip.MustParseAddr(tt.addr))
		var denied *DeniedError
		switch {
		case tt.denied == "" && err != nil:
			t.Errorf("check(%s) = %v, want allowed", tt.addr, err)
		case tt.denied != "" && (!errors.As(err, &denied) || denied.Prefix.String() != tt.denied):
			t.Errorf("check(%s) = %v, want denied by %s", tt.addr, err, tt.denied)
		}
	}
}

func TestControl(t *testing.T) {
	p := Policy{Deny: DefaultDeny}.normalized()
	tests := []struct {
		network, address string
		denied           bool
	}{
		{"tcp4", "169.254.169.254:80", true},
		{"tcp6", "[::ffff:169.254.169.254]:80", true},
		{"tcp6", "[fe80::1%eth0]:443", true},
		{"tcp4", "10.1.2.3:443", true},
		{"tcp4", "203.0.113.7:443", false},
		{"tcp6", "[2001:db8::1]:443", false},
		{"tcp", "not-an-address", true}, // fails closed
		{"unix", "/var/run/x.sock", true},
	}
	for _, tt := range tests {
		err := control(p, tt.network, tt.address)
		if (err != nil) != tt.denied || errors.Is(err, ErrDenied) != tt.denied {
			t.Errorf("control(%s, %s) = %v, want denied=%v", tt.network, tt.address, err, tt.denied)
		}
	}
}

func TestDeniedErrorMessage(t *testing.T) {
	err := Policy{Deny: DefaultDeny}.normalized().check(netip.MustParseAddr("::ffff:169.254.169.254"))
	want := "target 169.254.169.254 is in a denied range (169.254.0.0/16)"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %q", err, want)
	}
}

func TestDefaultDenyCIDRsRoundTrip(t *testing.T) {
	got, err := ParseCIDRs(DefaultDenyCIDRs)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(DefaultDeny) {
		t.Fatalf("ParseCIDRs(DefaultDenyCIDRs) = %v, want %v", got, DefaultDeny)
	}
	for i := range got {
		if got[i] != DefaultDeny[i] {
			t.Errorf("prefix %d = %s, want %s", i, got[i], DefaultDeny[i])
		}
	}
}

func TestParseCIDRs(t *testing.T) {
	got, err := ParseCIDRs(" 169.254.0.0/16 ,fe80::/10,, 10.1.2.3/8, ::ffff:192.168.0.0/112 ")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"169.254.0.0/16", "fe80::/10", "10.0.0.0/8", "192.168.0.0/16"}
	if len(got) != len(want) {
		t.Fatalf("ParseCIDRs = %v, want %v", got, want)
	}
	for i := range want {
		if got[i].String() != want[i] {
			t.Errorf("prefix %d = %s, want %s", i, got[i], want[i])
		}
	}

	if got, err := ParseCIDRs(""); err != nil || len(got) != 0 {
		t.Errorf(`ParseCIDRs("") = %v, %v; want an empty list`, got, err)
	}
	for _, bad := range []string{"169.254.0.0", "10.0.0.0/33", "nonsense/8", "fe80::/10,,300.1.1.1/8"} {
		if _, err := ParseCIDRs(bad); err == nil {
			t.Errorf("ParseCIDRs(%q) succeeded, want an error", bad)
		}
	}
}
