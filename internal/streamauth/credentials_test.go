package streamauth

import (
	"encoding/base64"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"

	"github.com/leadvibe/milestone-triggers-operator/internal/kubeauth"
	"github.com/leadvibe/milestone-triggers-operator/internal/stream"
)

func TestParseCredentials(t *testing.T) {
	long := strings.Repeat("t", kubeauth.MaxTokenBytes+1)
	for _, tc := range []struct {
		name  string
		opts  jwt.ConnectOptions
		token string
		ous   []string
		err   string
	}{
		{"token", jwt.ConnectOptions{Token: "tok"}, "tok", nil, ""},
		{"OUs and token", jwt.ConnectOptions{Username: "ou-a, ou-b,ou-a", Password: "tok"}, "tok", []string{"ou-a", "ou-b"}, ""},
		{"nothing", jwt.ConnectOptions{}, "", nil, "no token"},
		{"user without password", jwt.ConnectOptions{Username: "ou-a"}, "", nil, "needs the token as its password"},
		{"password without user", jwt.ConnectOptions{Password: "tok"}, "", nil, "no token"},
		{"both", jwt.ConnectOptions{Token: "tok", Username: "ou-a", Password: "tok"}, "", nil, "not both"},
		{"bad OU", jwt.ConnectOptions{Username: "ou-a,OU_B", Password: "tok"}, "", nil, `user name: "OU_B" is not an OU name`},
		{"empty OU", jwt.ConnectOptions{Username: "ou-a,", Password: "tok"}, "", nil, `user name: "" is not an OU name`},
		{"wildcard OU", jwt.ConnectOptions{Username: ">", Password: "tok"}, "", nil, "is not an OU name"},
		{"too many OUs", jwt.ConnectOptions{Username: strings.Repeat("a,", MaxOUs) + "a", Password: "tok"}, "", nil, "at most 32"},
		{"long token", jwt.ConnectOptions{Token: long}, "", nil, "too long"},
		{"long password", jwt.ConnectOptions{Username: "ou-a", Password: long}, "", nil, "too long"},
	} {
		c, err := parseCredentials(tc.opts)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v, want %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil || c.token != tc.token || !slices.Equal(c.ous, tc.ous) {
			t.Errorf("%s: %+v, %v", tc.name, c, err)
		}
	}
}

func TestInboxPrefix(t *testing.T) {
	for user, want := range map[string]string{
		"system:serviceaccount:demo:publisher":     "_INBOX.demo.publisher",
		"system:serviceaccount:demo:web.publisher": "_INBOX.demo.web_publisher",
		"alice": "_INBOX._user.2bd806c97f0e00af1a1fc3328fa763a9",
		// Not a service account's name: hashed like any user's.
		"system:serviceaccount:demo": InboxPrefix("system:serviceaccount:demo"),
	} {
		if got := InboxPrefix(user); got != want {
			t.Errorf("InboxPrefix(%q) = %q, want %q", user, got, want)
		}
	}
	if p := InboxPrefix("system:serviceaccount:demo"); !strings.HasPrefix(p, "_INBOX._user.") {
		t.Errorf("a malformed service account gets %q", p)
	}
	// Names that differ only where a dot stands never share an inbox with
	// another service account: service account names hold no "_".
	if InboxPrefix("system:serviceaccount:a:b.c") == InboxPrefix("system:serviceaccount:a.b:c") {
		t.Error("two service accounts share an inbox prefix")
	}
}

func TestTokenExpiry(t *testing.T) {
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	for _, tc := range []struct {
		token string
		exp   int64
		ok    bool
	}{
		{"h." + enc(`{"exp":1700000000,"sub":"x"}`) + ".s", 1700000000, true},
		{"h." + enc(`{"exp":1.7e9}`) + ".s", 0, false},
		{"h." + enc(`{"sub":"x"}`) + ".s", 0, false},
		{"h." + enc(`{"exp":-5}`) + ".s", 0, false},
		{"h." + enc(`not json`) + ".s", 0, false},
		{"h.!!!.s", 0, false},
		{"opaque-token", 0, false},
	} {
		exp, ok := tokenExpiry(tc.token)
		if ok != tc.ok || (ok && exp.Unix() != tc.exp) {
			t.Errorf("tokenExpiry(%q) = %v, %v", tc.token, exp, ok)
		}
	}
}

func TestUserClaims(t *testing.T) {
	ukp, _ := nkeys.CreateUser()
	upub, _ := ukp.PublicKey()
	expires := time.Now().Add(time.Hour).Truncate(time.Second)
	uc := userClaims(upub, "system:serviceaccount:demo:p", []string{"demo", "ou-b"}, expires)
	if got := []string(uc.Pub.Allow); !slices.Equal(got, []string{stream.EventSubject("demo"), stream.LeadSubjects("demo"), stream.EventSubject("ou-b"), stream.LeadSubjects("ou-b")}) {
		t.Errorf("publish allow = %q", got)
	}
	if got := []string(uc.Sub.Allow); !slices.Equal(got, []string{"_INBOX.demo.p.>"}) {
		t.Errorf("subscribe allow = %q", got)
	}
	if len(uc.Pub.Deny) != 0 || len(uc.Sub.Deny) != 0 || uc.Resp != nil {
		t.Errorf("unexpected permissions: %+v", uc.Permissions)
	}
	if uc.Expires != expires.Unix() || uc.Audience != server.DEFAULT_GLOBAL_ACCOUNT {
		t.Errorf("expires %d, audience %q", uc.Expires, uc.Audience)
	}
	vr := jwt.CreateValidationResults()
	uc.Validate(vr)
	if len(vr.Errors()) > 0 {
		t.Errorf("invalid claims: %v", vr.Errors())
	}
}

// FuzzParseCredentials: whatever a client sends as its user name,
// password and token, parsing never panics, and the OUs it accepts are
// OU names, never subject wildcards or separators.
func FuzzParseCredentials(f *testing.F) {
	f.Add("", "", "tok")
	f.Add("ou-a,ou-b", "tok", "")
	f.Add("ou-a,>", "tok", "")
	f.Add("a.b,*", "tok", "")
	f.Fuzz(func(t *testing.T, user, pass, token string) {
		c, err := parseCredentials(jwt.ConnectOptions{Username: user, Password: pass, Token: token})
		if err != nil {
			return
		}
		if c.token == "" || len(c.ous) > MaxOUs {
			t.Fatalf("accepted %+v", c)
		}
		for _, ou := range c.ous {
			if ou == "" || strings.ContainsAny(ou, ".*> \t\r\n") {
				t.Fatalf("accepted OU %q", ou)
			}
		}
	})
}

func TestTokenInboxPrefix(t *testing.T) {
	enc := func(s string) string { return "h." + base64.RawURLEncoding.EncodeToString([]byte(s)) + ".s" }
	if p, err := TokenInboxPrefix(enc(`{"sub":"system:serviceaccount:demo:web.pub"}`)); err != nil || p != "_INBOX.demo.web_pub" {
		t.Errorf("a service account's token: %q, %v", p, err)
	}
	for _, token := range []string{enc(`{"sub":"alice"}`), enc(`{}`), "opaque", enc(`[1]`)} {
		if p, err := TokenInboxPrefix(token); err == nil {
			t.Errorf("TokenInboxPrefix(%q) = %q", token, p)
		}
	}
}

// FuzzTokenClaims: any token decodes to an error, or to no expiry or a
// positive one, and to an inbox prefix that is a valid NATS subject
// without wildcards, without a panic.
func FuzzTokenClaims(f *testing.F) {
	f.Add("h." + base64.RawURLEncoding.EncodeToString([]byte(`{"exp":1700000000,"sub":"system:serviceaccount:demo:p"}`)) + ".s")
	f.Add("h." + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"system:serviceaccount:a.b:c>"}`)) + ".s")
	f.Add("a.b.c")
	f.Add("")
	f.Fuzz(func(t *testing.T, token string) {
		if exp, ok := tokenExpiry(token); ok && exp.Unix() <= 0 {
			t.Fatalf("expiry %v", exp)
		}
		p, err := TokenInboxPrefix(token)
		if err != nil {
			return
		}
		if !strings.HasPrefix(p, "_INBOX.") || strings.ContainsAny(p, "*> \t\r\n") || strings.Contains(p, "..") || strings.HasSuffix(p, ".") {
			t.Fatalf("inbox prefix %q", p)
		}
	})
}
