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
	"testing"
	"time"
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

func TestLoopbackReachableWhenNotDenied(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "hello")
	}))
	defer srv.Close()

	resp, err := get(t, NewClient(DefaultDeny, 5*time.Second), srv.URL)
	if err != nil {
		t.Fatalf("GET loopback with the default deny list: %v", err)
	}
	defer resp.Body.Close()
	if b, _ := io.ReadAll(resp.Body); string(b) != "hello" {
		t.Fatalf("body = %q, want hello", b)
	}
}

func TestLoopbackRefusedWhenDenied(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		t.Error("the denied server was reached")
	}))
	defer srv.Close()

	deny, err := ParseCIDRs("169.254.0.0/16, 127.0.0.0/8")
	if err != nil {
		t.Fatal(err)
	}
	_, err = get(t, NewClient(deny, 5*time.Second), srv.URL)
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

// TestHostnameResolvedBeforeCheck dials "localhost", which only DNS turns
// into a loopback address, so the check must see the resolved address.
func TestHostnameResolvedBeforeCheck(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		t.Error("the denied server was reached")
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())

	deny := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	_, err := get(t, NewClient(deny, 5*time.Second), "http://localhost:"+port+"/")
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

	resp, err := get(t, NewClient(nil, 5*time.Second), srv.URL+"/start")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("status = %d, want 302 returned as is", resp.StatusCode)
	}
}

func TestLinkLocalLiteralRefused(t *testing.T) {
	c := NewClient(DefaultDeny, 5*time.Second)
	for _, url := range []string{
		"http://169.254.169.254/latest/meta-data/",
		"http://[fe80::1]:8080/",
		"http://[::ffff:169.254.169.254]/",
	} {
		_, err := get(t, c, url)
		if !errors.Is(err, ErrDenied) {
			t.Errorf("GET %s: err = %v, want one matching ErrDenied", url, err)
		}
	}
}

func TestControl(t *testing.T) {
	deny := normalizePrefixes(append(DefaultDeny, netip.MustParsePrefix("::ffff:10.0.0.0/104")))
	tests := []struct {
		network, address string
		denied           bool
		fails            bool
	}{
		{"tcp4", "169.254.169.254:80", true, true},
		{"tcp6", "[::ffff:169.254.169.254]:80", true, true},
		{"tcp6", "[fe80::1%eth0]:443", true, true},
		{"tcp4", "10.1.2.3:443", true, true}, // the mapped deny prefix, normalized
		{"tcp4", "203.0.113.7:443", false, false},
		{"tcp6", "[2001:db8::1]:443", false, false},
		{"tcp", "not-an-address", false, true},
		{"unix", "/var/run/x.sock", false, true},
	}
	for _, tt := range tests {
		err := control(deny, tt.network, tt.address)
		if (err != nil) != tt.fails || errors.Is(err, ErrDenied) != tt.denied {
			t.Errorf("control(%s, %s) = %v, want fails=%v denied=%v", tt.network, tt.address, err, tt.fails, tt.denied)
		}
	}
}

func TestDeniedErrorMessage(t *testing.T) {
	err := checkAddr(normalizePrefixes(DefaultDeny), netip.MustParseAddr("169.254.169.254"))
	want := "target 169.254.169.254 is in a denied range (169.254.0.0/16)"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %q", err, want)
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
