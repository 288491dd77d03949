// Package metricstest reads metrics in tests: the value of a counter or a
// gauge, the count and sum of a histogram, and promlint's findings.
//
// It does what prometheus/testutil's ToFloat64 and GatherAndLint do;
// testutil itself needs github.com/kylelemons/godebug in go.mod, which the
// module does not list (go.sum has it), so these helpers stand in for it.
package metricstest

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
)

// write reads the one series c collects.
func write(t testing.TB, c prometheus.Collector) *dto.Metric {
	t.Helper()
	ch := make(chan prometheus.Metric, 2)
	c.Collect(ch)
	close(ch)
	var got []prometheus.Metric
	for m := range ch {
		got = append(got, m)
	}
	if len(got) != 1 {
		t.Fatalf("collected %d series, want 1", len(got))
	}
	var pb dto.Metric
	if err := got[0].Write(&pb); err != nil {
		t.Fatal(err)
	}
	return &pb
}

// Value returns the value of one counter or gauge series, such as a
// CounterVec's WithLabelValues.
func Value(t testing.TB, c prometheus.Collector) float64 {
	t.Helper()
	pb := write(t, c)
	switch {
	case pb.Counter != nil:
		return pb.Counter.GetValue()
	case pb.Gauge != nil:
		return pb.Gauge.GetValue()
	}
	t.Fatalf("%v is neither a counter nor a gauge", pb)
	return 0
}

// Histogram returns the sample count and sum of one histogram series, a
// plain Histogram or a HistogramVec's WithLabelValues.
func Histogram(t testing.TB, o prometheus.Observer) (count uint64, sum float64) {
	t.Helper()
	c, ok := o.(prometheus.Collector)
	if !ok {
		t.Fatalf("%T is not a collector", o)
	}
	pb := write(t, c)
	if pb.Histogram == nil {
		t.Fatalf("%v is not a histogram", pb)
	}
	return pb.Histogram.GetSampleCount(), pb.Histogram.GetSampleSum()
}

// Lint gathers g and returns promlint's problems with the named metrics.
func Lint(t testing.TB, g prometheus.Gatherer, names ...string) []promlint.Problem {
	t.Helper()
	families, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	var mine []*dto.MetricFamily
	for _, f := range families {
		if want[f.GetName()] {
			mine = append(mine, f)
		}
	}
	problems, err := promlint.NewWithMetricFamilies(mine).Lint()
	if err != nil {
		t.Fatal(err)
	}
	return problems
}
