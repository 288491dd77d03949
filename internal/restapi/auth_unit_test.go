package restapi

import (
	"crypto/sha256"
	"net/http"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
)

func TestBearerToken(t *testing.T) {
	for _, tc := range []struct {
		header, token string
		ok            bool
	}{
		{"Bearer abc.def", "abc.def", true},
		{"bearer abc", "abc", true},
		{"Bearer  abc ", "abc", true},
		{"", "", false},
		{"Bearer", "", false},
		{"Bearer ", "", false},
		{"Basic dXNlcjpwYXNz", "", false},
		{"Bearer a b", "", false},
		{"Bearer " + strings.Repeat("a", maxTokenBytes+1), "", false},
	} {
		token, err := bearerToken(tc.header)
		if tc.ok != (err == nil) || token != tc.token {
			t.Errorf("bearerToken(%.20q) = %q, %v", tc.header, token, err)
		}
		if err != nil && err.Status != http.StatusUnauthorized {
			t.Errorf("bearerToken(%.20q): status %d", tc.header, err.Status)
		}
	}
}

func TestResolveOU(t *testing.T) {
	sa := authenticationv1.UserInfo{Username: "system:serviceaccount:ou-a:tool"}
	person := authenticationv1.UserInfo{Username: "alice"}
	hdr := func(vs ...string) http.Header {
		h := http.Header{}
		for _, v := range vs {
			h.Add(OUHeader, v)
		}
		return h
	}
	for _, tc := range []struct {
		name   string
		h      http.Header
		user   authenticationv1.UserInfo
		ou     string
		status int
	}{
		{"service account default", hdr(), sa, "ou-a", 0},
		{"header wins", hdr("ou-b"), sa, "ou-b", 0},
		{"header for a person", hdr("ou-b"), person, "ou-b", 0},
		{"blank header falls back", hdr("  "), sa, "ou-a", 0},
		{"no OU", hdr(), person, "", http.StatusBadRequest},
		{"invalid OU", hdr("OU_B"), sa, "", http.StatusBadRequest},
		{"two OUs", hdr("ou-a", "ou-b"), sa, "", http.StatusBadRequest},
		{"malformed service account", hdr(), authenticationv1.UserInfo{Username: "system:serviceaccount:ou-a"}, "", http.StatusBadRequest},
	} {
		ou, err := resolveOU(tc.h, tc.user)
		status := 0
		if err != nil {
			status = err.Status
		}
		if ou != tc.ou || status != tc.status {
			t.Errorf("%s: resolveOU = %q, %v", tc.name, ou, err)
		}
	}
	if _, err := resolveOU(hdr(), person); err == nil || err.Message != "no OU: set X-LeadVibe-OU" {
		t.Errorf("no OU: %v", err)
	}
}

func TestAccessKeyIgnoresGroupOrder(t *testing.T) {
	a := authenticationv1.UserInfo{Username: "u", Groups: []string{"g1", "g2"}}
	b := authenticationv1.UserInfo{Username: "u", Groups: []string{"g2", "g1"}}
	acc := access{ou: "ou", verb: "get", resource: resourceName, name: "x"}
	if accessKey(a, acc) != accessKey(b, acc) {
		t.Error("group order changes the key")
	}
	if accessKey(a, acc) == accessKey(a, access{ou: "ou2", verb: "get", resource: resourceName, name: "x"}) {
		t.Error("the OU does not change the key")
	}
}

func TestTTLCache(t *testing.T) {
	now := time.Unix(0, 0)
	c := newTTLCache[int](10*time.Second, 2, func() time.Time { return now })
	k := func(s string) cacheKey { return cacheKey(sha256.Sum256([]byte(s))) }
	c.put(k("a"), 1)
	c.put(k("b"), 2)
	if v, ok := c.get(k("a")); !ok || v != 1 {
		t.Fatalf("get a = %v, %v", v, ok)
	}
	c.put(k("c"), 3) // evicts b, the least recently used
	if _, ok := c.get(k("b")); ok {
		t.Error("b outlived the size bound")
	}
	if c.len() != 2 {
		t.Errorf("len = %d", c.len())
	}
	now = now.Add(10 * time.Second)
	if _, ok := c.get(k("a")); ok {
		t.Error("a outlived its ttl")
	}
	off := newTTLCache[int](-1, 10, nil)
	off.put(k("a"), 1)
	if _, ok := off.get(k("a")); ok {
		t.Error("a disabled cache kept an entry")
	}
}
