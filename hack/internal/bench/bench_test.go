package bench

import (
	"testing"
	"time"
)

func TestQuantileNearestRank(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	for _, tt := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 50 * time.Millisecond}, {0.99, 99 * time.Millisecond}, {0.999, 100 * time.Millisecond}, {1, 100 * time.Millisecond}, {0.001, time.Millisecond}} {
		if got := Quantile(d, tt.q); got != tt.want {
			t.Errorf("Quantile(1..100 ms, %g) = %v, want %v", tt.q, got, tt.want)
		}
	}
	if got := Quantile([]time.Duration{7}, 0.99); got != 7 {
		t.Errorf("one value: %v", got)
	}
	if got := Quantile(nil, 0.5); got != 0 {
		t.Errorf("none: %v", got)
	}
}

func TestCommandLine(t *testing.T) {
	got := CommandLine([]string{"/tmp/go-build123/b001/exe/load", "--rate", "5000", "--manager-arg=--x y", ""}, "./hack/load")
	want := `go run ./hack/load --rate 5000 '--manager-arg=--x y' ''`
	if got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	if got := CommandLine([]string{"bin/load", "--via", "rest"}, "./hack/load"); got != "bin/load --via rest" {
		t.Errorf("got %s", got)
	}
}
