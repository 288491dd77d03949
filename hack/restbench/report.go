package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"time"

	"github.com/leadvibe/milestone-triggers-operator/hack/internal/bench"
)

// targetRatio is the goal: the shim serves at least ten times the API
// server's list rate.
const targetRatio = 10

type reportInput struct {
	opts                  options
	apiServer             string
	results               []result
	loadBefore, loadAfter string
}

// report prints how the run was made and its figures, as Markdown.
func report(w io.Writer, in reportInput) {
	o := in.opts
	fmt.Fprintf(w, "\n## restbench: GET /triggers, %d triggers in one OU\n\n", o.triggers)
	fmt.Fprintf(w, "- command: `%s`\n", bench.CommandLine(os.Args, "./hack/restbench"))
	fmt.Fprintf(w, "- measured: %s\n", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(w, "- go: %s %s/%s, GOMAXPROCS %d\n", runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.GOMAXPROCS(0))
	fmt.Fprintf(w, "- CPU: %s, %d cores\n", bench.DescribeMachine().CPUModel, runtime.NumCPU())
	fmt.Fprintf(w, "- kube-apiserver: %s (and etcd) from %s\n", in.apiServer, o.assets)
	fmt.Fprintf(w, "- load average (1, 5, 15 min): %s before, %s after\n", in.loadBefore, in.loadAfter)
	fmt.Fprintf(w, "- each target: %s per concurrency in %d alternating slices; API server client gzip: %t\n\n", o.duration, o.rounds, o.compression)

	fmt.Fprintln(w, "| concurrency | target | calls | req/s | req/s per slice (min - max) | p50 | p99 | max | body (bytes) |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|")
	for _, r := range in.results {
		if r.total.requests == 0 {
			fmt.Fprintf(w, "| %d | %s | 0 | 0 | - | - | - | - | - |\n", r.concurrency, r.target)
			continue
		}
		lat := slices.Clone(r.total.latencies)
		slices.Sort(lat)
		fmt.Fprintf(w, "| %d | %s | %d | %.0f | %.0f - %.0f | %s | %s | %s | %d |\n",
			r.concurrency, r.target, r.total.requests, r.rate(),
			slices.Min(r.perRound), slices.Max(r.perRound),
			ms(bench.Quantile(lat, 0.50)), ms(bench.Quantile(lat, 0.99)), ms(lat[len(lat)-1]),
			r.total.bytes/int64(r.total.requests))
	}
	fmt.Fprintln(w)
	for i := 0; i+1 < len(in.results); i += 2 {
		sh, api := in.results[i], in.results[i+1]
		ratio := sh.rate() / api.rate()
		verdict := "met"
		if ratio < targetRatio {
			verdict = "not met"
		}
		fmt.Fprintf(w, "- concurrency %d: shim / API server = %.1fx (target >= %dx: %s)\n", sh.concurrency, ratio, targetRatio, verdict)
	}
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
}
