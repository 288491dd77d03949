package stream

import "testing"

func TestParseCrashPoint(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want crashAt
	}{
		{"", crashAt{}},
		{"LEADVIBE_FIRINGS:3", crashAt{stream: "LEADVIBE_FIRINGS", n: 3}},
		{"KV_LEADVIBE_LEADS:2:100", crashAt{stream: "KV_LEADVIBE_LEADS", n: 2, min: 100}},
		{"KV_LEADVIBE_LEADS:0", crashAt{}},
		{"KV_LEADVIBE_LEADS:2:x", crashAt{}},
		{"KV_LEADVIBE_LEADS:2:-1", crashAt{}},
		{"LEADVIBE_FIRINGS", crashAt{}},
	} {
		if got := parseCrashPoint(tt.in); got != tt.want {
			t.Errorf("%q: %+v, want %+v", tt.in, got, tt.want)
		}
	}
}
