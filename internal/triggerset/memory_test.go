package triggerset

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

func def(ns, name string, threshold int64) Definition {
	return Definition{
		Key:         types.NamespacedName{Namespace: ns, Name: name},
		DisplayName: name,
		Threshold:   threshold,
		Active:      true,
		Destinations: Destinations{
			Emails: []string{"sales@example.com"},
		},
	}
}

func TestMemoryUpsertGetListDelete(t *testing.T) {
	s := NewMemory()
	s.Upsert(def("ou-a", "b", 10))
	s.Upsert(def("ou-a", "a", 20))
	s.Upsert(def("ou-b", "a", 30))

	got := s.List("ou-a")
	if len(got) != 2 || got[0].Key.Name != "a" || got[1].Key.Name != "b" {
		t.Fatalf("List(ou-a) = %v, want a then b", got)
	}
	if n := len(s.List("ou-c")); n != 0 {
		t.Fatalf("List(ou-c) has %d entries, want 0", n)
	}

	rev := s.Revision("ou-a")
	if rev == 0 || s.Revision("ou-b") == 0 || s.Revision("ou-c") != 0 {
		t.Fatalf("revisions after upserts: ou-a %d, ou-b %d, ou-c %d", rev, s.Revision("ou-b"), s.Revision("ou-c"))
	}
	updated := def("ou-a", "a", 25)
	updated.Active = false
	s.Upsert(updated)
	d, ok := s.Get(types.NamespacedName{Namespace: "ou-a", Name: "a"})
	if !ok || d.Threshold != 25 || d.Active {
		t.Fatalf("Get after update = %+v, %v; want threshold 25, inactive", d, ok)
	}
	if s.Revision("ou-a") == rev {
		t.Fatal("Upsert did not change the namespace's revision")
	}

	rev = s.Revision("ou-a")
	s.Delete(types.NamespacedName{Namespace: "ou-a", Name: "a"})
	if s.Revision("ou-a") == rev {
		t.Fatal("Delete did not change the namespace's revision")
	}
	if _, ok := s.Get(types.NamespacedName{Namespace: "ou-a", Name: "a"}); ok {
		t.Fatal("Get after Delete found the trigger")
	}
	if n := len(s.List("ou-a")); n != 1 {
		t.Fatalf("List(ou-a) after delete has %d entries, want 1", n)
	}
	// Deleting what is not there is harmless.
	s.Delete(types.NamespacedName{Namespace: "nowhere", Name: "x"})
}

func TestMemoryReturnsCopies(t *testing.T) {
	s := NewMemory()
	in := def("ou", "t", 1)
	s.Upsert(in)
	in.Destinations.Emails[0] = "changed-by-writer@example.com"

	out, _ := s.Get(in.Key)
	if out.Destinations.Emails[0] != "sales@example.com" {
		t.Fatal("the set shares the caller's slice on Upsert")
	}
	out.Destinations.Emails[0] = "changed-by-reader@example.com"
	again, _ := s.Get(in.Key)
	if again.Destinations.Emails[0] != "sales@example.com" {
		t.Fatal("the set shares its slice with a reader")
	}
}

func TestMemoryCopiesRearmBelow(t *testing.T) {
	s := NewMemory()
	in := def("ou", "t", 75)
	rearm := int64(60)
	in.RearmBelow, in.Cooldown = &rearm, 30*time.Minute
	s.Upsert(in)
	rearm = 1

	out, _ := s.Get(in.Key)
	if out.RearmBelow == nil || *out.RearmBelow != 60 || out.Cooldown != 30*time.Minute {
		t.Fatalf("Get = rearmBelow %v, cooldown %v; want 60 and 30m (the set shares the caller's pointer on Upsert?)", out.RearmBelow, out.Cooldown)
	}
	*out.RearmBelow = 2
	if listed := s.List("ou"); *listed[0].RearmBelow != 60 {
		t.Fatal("the set shares its rearmBelow with a reader")
	}
	none := def("ou", "u", 75)
	s.Upsert(none)
	if got, _ := s.Get(none.Key); got.RearmBelow != nil || got.Cooldown != 0 {
		t.Fatalf("a definition without rearmBelow and cooldown came back with %v, %v", got.RearmBelow, got.Cooldown)
	}
}

func TestMemoryConcurrentUse(t *testing.T) {
	s := NewMemory()
	done := make(chan struct{})
	for w := range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 200 {
				d := def("ou", fmt.Sprintf("t-%d-%d", w, i%10), int64(i))
				s.Upsert(d)
				s.List("ou")
				s.Get(d.Key)
				if i%3 == 0 {
					s.Delete(d.Key)
				}
			}
		}()
	}
	for range 4 {
		<-done
	}
}

func TestCredentialRedacts(t *testing.T) {
	cases := map[string]string{
		"https://hooks.slack.com/services/T000/B000/XXXX": "https://hooks.slack.com/<redacted>",
		"https://user:pass@example.com":                   "https://example.com/<redacted>",
		"https://example.com/":                            "https://example.com",
		"https://example.com?token=abc":                   "https://example.com/<redacted>",
		"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw":          "<redacted>",
		"":                                                "",
	}
	for raw, want := range cases {
		c := NewCredential(raw)
		if got := c.String(); got != want {
			t.Errorf("String(%q) = %q, want %q", raw, got, want)
		}
		for _, printed := range []string{fmt.Sprintf("%v", c), fmt.Sprintf("%+v", struct{ C Credential }{c}), fmt.Sprintf("%#v", c)} {
			if raw != "" && len(raw) > 20 && strings.Contains(printed, raw) {
				t.Errorf("printing %q leaked it: %s", raw, printed)
			}
		}
		if c.Reveal() != raw {
			t.Errorf("Reveal() = %q, want %q", c.Reveal(), raw)
		}
	}
}
