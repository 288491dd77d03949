package kubeauth

import (
	"crypto/sha256"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
)

func TestCache(t *testing.T) {
	now := time.Unix(0, 0)
	c := NewCache[int](10*time.Second, 2, func() time.Time { return now })
	k := func(s string) Key { return Key(sha256.Sum256([]byte(s))) }
	c.Put(k("a"), 1)
	c.Put(k("b"), 2)
	if v, ok := c.Get(k("a")); !ok || v != 1 {
		t.Fatalf("Get a = %v, %v", v, ok)
	}
	c.Put(k("c"), 3) // evicts b, the least recently used
	if _, ok := c.Get(k("b")); ok {
		t.Error("b outlived the size bound")
	}
	if c.Len() != 2 {
		t.Errorf("Len = %d", c.Len())
	}
	now = now.Add(10 * time.Second)
	if _, ok := c.Get(k("a")); ok {
		t.Error("a outlived its ttl")
	}
	off := NewCache[int](-1, 10, nil)
	off.Put(k("a"), 1)
	if _, ok := off.Get(k("a")); ok {
		t.Error("a disabled cache kept an entry")
	}
}

func TestAccessKeyIgnoresGroupOrder(t *testing.T) {
	a := authenticationv1.UserInfo{Username: "u", Groups: []string{"g1", "g2"}}
	b := authenticationv1.UserInfo{Username: "u", Groups: []string{"g2", "g1"}}
	acc := Access{OU: "ou", Verb: "get", Resource: "milestonetriggers", Name: "x"}
	if AccessKey(a, acc) != AccessKey(b, acc) {
		t.Error("group order changes the key")
	}
	other := acc
	other.OU = "ou2"
	if AccessKey(a, acc) == AccessKey(a, other) {
		t.Error("the OU does not change the key")
	}
}

func TestAudiencesMatch(t *testing.T) {
	for _, tc := range []struct {
		want, got []string
		ok        bool
	}{
		{nil, nil, true},
		{nil, []string{"https://kubernetes.default.svc"}, true},
		{[]string{"milestone-triggers"}, []string{"milestone-triggers"}, true},
		{[]string{"a", "milestone-triggers"}, []string{"milestone-triggers"}, true},
		{[]string{"milestone-triggers"}, []string{"https://kubernetes.default.svc"}, false},
		{[]string{"milestone-triggers"}, nil, false},
	} {
		if got := audiencesMatch(tc.want, tc.got); got != tc.ok {
			t.Errorf("audiencesMatch(%q, %q) = %v", tc.want, tc.got, got)
		}
	}
}
