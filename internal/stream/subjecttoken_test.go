package stream

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

func TestSubjectHelpersKeepPlainNames(t *testing.T) {
	// Subjects of names without a dot are those written before names
	// were encoded: history already stored stays readable.
	cases := map[string]string{
		EventSubject("demo"):                        "leadvibe.events.demo",
		RejectedSubject("demo"):                     "leadvibe.rejected.demo",
		HistorySubject("demo", "hot-lead-alert"):    "leadvibe.history.demo.hot-lead-alert",
		HistoryOUFilter("demo"):                     "leadvibe.history.demo.*",
		FiringSubject("demo", "mtf_0123abcd"):       "leadvibe.firings.demo.mtf_0123abcd",
		ResendSubject("demo", "mtf_0123abcd"):       "leadvibe.resend.demo.mtf_0123abcd",
		KeySubject(LeadsBucket, "demo.bGVhZC0x"):    "$KV.LEADVIBE_LEADS.demo.bGVhZC0x",
		KeySubject(LeadsBucket, "_checkpoint.eval"): "$KV.LEADVIBE_LEADS._checkpoint.eval",
		KeySubject(DeliveriesBucket, "mtf_0a1b"):    "$KV.LEADVIBE_DELIVERIES.mtf_0a1b",
	}
	for got, want := range cases {
		if got != want {
			t.Errorf("subject %q, want %q", got, want)
		}
	}
}

func TestSubjectHelpersMakeOneLiteralToken(t *testing.T) {
	cases := []struct{ trigger, want string }{
		{"a.b", "leadvibe.history.demo.a_b"},
		{"*", "leadvibe.history.demo.~2a"},
		{">", "leadvibe.history.demo.~3e"},
		{"a_b", "leadvibe.history.demo.a~5fb"},
		{"", "leadvibe.history.demo.~"},
		{"a b\x00", "leadvibe.history.demo.a~20b~00"},
		{"é", "leadvibe.history.demo.~c3~a9"},
	}
	for _, tc := range cases {
		if got := HistorySubject("demo", tc.trigger); got != tc.want {
			t.Errorf("HistorySubject(demo, %q) = %q, want %q", tc.trigger, got, tc.want)
		}
	}
	if got := EventSubject(">"); got != "leadvibe.events.~3e" {
		t.Errorf("EventSubject(>) = %q", got)
	}
	if got := FiringSubject("a.b", "*"); got != "leadvibe.firings.a_b.~2a" {
		t.Errorf("FiringSubject(a.b, *) = %q", got)
	}
	if got := KeySubject(LeadsBucket, "demo.>"); got != "$KV.LEADVIBE_LEADS.demo.~3e" {
		t.Errorf("KeySubject(demo.>) = %q", got)
	}
}

// FuzzSubjectTokens checks that, whatever the names, every subject helper
// gives a subject of literal tokens (no wildcard, no empty token, no white
// space), with exactly the tokens of its layout, and that different names
// give different subjects.
func FuzzSubjectTokens(f *testing.F) {
	for _, seed := range [][2]string{{"demo", "hot-lead"}, {"demo", "a.b"}, {"*", ">"}, {"", ""}, {"a_b", "a.b"}, {"\x00", "\xff"}} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, ou, name string) {
		for _, key := range []string{ou, name, ou + "." + name} {
			if got := keyTokens(key); got != escapeKey(key) {
				t.Fatalf("keyTokens(%q) = %q, but escaping gives %q: the shortcut is wrong", key, got, escapeKey(key))
			}
		}
		check := func(subject string, tokens int) {
			parts := strings.Split(subject, ".")
			if len(parts) != tokens {
				t.Fatalf("subject %q has %d tokens, want %d", subject, len(parts), tokens)
			}
			for _, p := range parts {
				if p == "" || p == "*" || p == ">" || strings.ContainsAny(p, " \t\r\n\x00") {
					t.Fatalf("subject %q has the token %q", subject, p)
				}
			}
		}
		check(EventSubject(ou), 3)
		check(RejectedSubject(ou), 3)
		check(HistorySubject(ou, name), 4)
		check(FiringSubject(ou, name), 4)
		check(ResendSubject(ou, name), 4)
		if got := strings.Count(KeySubject(LeadsBucket, name), "."); got != 2+strings.Count(name, ".") {
			t.Fatalf("KeySubject(%q) has %d dots", name, got)
		}
		check(KeySubject(LeadsBucket, strings.ReplaceAll(name, ".", "")), 3)
		if ou != name && HistorySubject("demo", ou) == HistorySubject("demo", name) {
			t.Fatalf("%q and %q share the subject %q", ou, name, HistorySubject("demo", ou))
		}
	})
}

// TestHistorySubjectsStayApart writes history for the triggers "a" and
// "a.b" to a real stream and reads it back by subject filter: "a" reads
// only its own, and "*" or ">" as a trigger name reads nothing.
func TestHistorySubjectsStayApart(t *testing.T) {
	conn, streams := openTest(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, trigger := range []string{"a", "a.b", "c"} {
		if _, err := streams.History.Write(ctx, Msg{Subject: HistorySubject("demo", trigger), Data: []byte(trigger)}); err != nil {
			t.Fatalf("writing the history of %q: %v", trigger, err)
		}
	}
	count := func(filter string) uint64 {
		t.Helper()
		s, err := conn.JS.Stream(ctx, HistoryStream)
		if err != nil {
			t.Fatal(err)
		}
		info, err := s.Info(ctx, jetstream.WithSubjectFilter(filter))
		if err != nil {
			t.Fatal(err)
		}
		var n uint64
		for _, c := range info.State.Subjects {
			n += c
		}
		return n
	}
	for filter, want := range map[string]uint64{
		HistorySubject("demo", "a"):   1,
		HistorySubject("demo", "a.b"): 1,
		HistorySubject("demo", "*"):   0,
		HistorySubject("demo", ">"):   0,
		HistorySubject("*", "a"):      0,
		HistoryOUFilter("demo"):       3,
		HistoryOUFilter("*"):          0,
	} {
		if got := count(filter); got != want {
			t.Errorf("filter %q reads %d records, want %d", filter, got, want)
		}
	}
}
