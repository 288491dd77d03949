package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/leadvibe/milestone-triggers-operator/hack/internal/bench"
	"github.com/leadvibe/milestone-triggers-operator/internal/stream"
)

// Targets (docs/benchmarks.md).
const (
	targetRate   = 5000                  // events/s at which the latency target applies
	targetP99    = 50 * time.Millisecond // event-to-webhook p99
	targetRatio  = 0.5                   // end to end / raw async publish
	rateKeptFrac = 0.97                  // a paced run "kept the rate" when it offered this much of it
)

// report gathers the run's figures and prints them.
type report struct {
	opts       options
	run        string
	command    string
	machine    bench.Machine
	loadBefore string
	loadAfter  string

	load        loadResult
	received    receiverStats
	drainErr    error
	consumedAt  time.Time // when the evaluator's counter reached every event (zero: unknown)
	evaluatedAt time.Time // when the outbox held every expected firing (zero: unknown)
	raw         *rawResult
	toolCPU     time.Duration
	operatorCPU time.Duration // zero when unknown

	firedCount     int64 // the sum of the triggers' status.firedCount
	firedCountErr  error
	firedCountWait time.Duration
}

func (r *report) print(w io.Writer) {
	o, l, rc := r.opts, r.load, r.received
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }

	offered := eventsPerSecond(l.events, l.start, l.sent)
	e2e := eventsPerSecond(l.events, l.start, rc.last)
	lat := latencies(rc.samples)

	p("")
	p("== hack/load run %s", r.run)
	p("command      %s", r.command)
	p("machine      %s, %s, %d cores, %s", r.machine.GoVer, r.machine.CPUModel, r.machine.Cores, r.machine.Kernel)
	p("load avg     before %s; after %s", r.loadBefore, r.loadAfter)
	target := "as fast as possible"
	if o.rate > 0 {
		target = fmt.Sprintf("target %.0f events/s in batches every %s", o.rate, o.interval)
	}
	typed := "none typed"
	if o.typedEvery > 0 {
		typed = fmt.Sprintf("every %s typed", ordinal(o.typedEvery))
	}
	how := fmt.Sprintf("over NATS with async publish, at most %d in flight", o.maxInflight)
	if o.via == viaREST {
		how = fmt.Sprintf("through POST /events, %d callers (each lead always by the same one), up to %d events a request", o.restCallers, o.restBatch)
	}
	p("workload     %d OUs x %d triggers (%s), %d leads (Zipf s=%.2f v=%.0f), scores 0..%d, seed %d, %s, %s; stream fsync %s",
		o.ous, o.triggersPerOU, typed, o.leads, o.zipfS, o.zipfV, o.maxScore, o.seed, target, how, streamSync(o))
	stalls := fmt.Sprintf("%d stalls at the in-flight bound", l.stalls)
	if o.via == viaREST {
		stalls = fmt.Sprintf("%d waits for a busy caller", l.stalls)
	}
	p("published    %d events (%d bytes on average; %d are the sentinels) in %s: %.0f events/s offered; last ack %s after the last publish; at most %d events behind the target; %s; %d duplicate acks",
		l.events, avg(l.bytes, l.events), o.ous, dur(l.sent.Sub(l.start)), offered, dur(l.acked.Sub(l.sent)), l.maxBehind, stalls, l.duplicates)
	if rs := l.rest; rs != nil {
		p("requests     %d POST /events answered 202, %.1f events each on average (up to %d), by %d callers as %s; round trip p50 %s, p99 %s, max %s; %d retried",
			rs.requests, rs.meanSize, rs.batch, rs.callers, rs.user, ms(bench.Quantile(rs.rtts, 0.5)), ms(bench.Quantile(rs.rtts, 0.99)), ms(bench.Quantile(rs.rtts, 1)), rs.retries)
	}
	p("event mix    %s", mix(l.typeCounts, l.events))

	missing := rc.expected - rc.got
	exact := missing == 0 && rc.unexpected == 0 && rc.duplicates == 0 && rc.malformed == 0
	p("firings      %d expected (%.3f per event); %d delivered with distinct webhook-ids; %d requests; missing %d, unexpected %d, duplicates %d, malformed %d: exactly once %s",
		rc.expected, float64(rc.expected)/float64(max(1, l.events)), rc.got, rc.deliveries, missing, rc.unexpected, rc.duplicates, rc.malformed, yesNo(exact))
	switch {
	case r.firedCountErr != nil:
		p("status       could not read the triggers' status: %v", r.firedCountErr)
	case r.firedCount == int64(rc.expected):
		p("status       the triggers' status.firedCount adds up to %d, as expected (%s after the deliveries)", r.firedCount, dur(r.firedCountWait))
	default:
		p("status       the triggers' status.firedCount adds up to %d, not %d, %s after the deliveries", r.firedCount, rc.expected, dur(r.firedCountWait))
	}
	p("created_at   the payload's created_at equals the publish time to the nanosecond in %d of %d deliveries", rc.createdAtOK, rc.got)
	if n := len(lat); n > 0 {
		from := "publish"
		if o.via == viaREST {
			from = "the time its request was sent"
		}
		p("latency      event to webhook (arrival minus %s): p50 %s, p90 %s, p99 %s, p99.9 %s, max %s (%d deliveries)",
			from, ms(bench.Quantile(lat, 0.50)), ms(bench.Quantile(lat, 0.90)), ms(bench.Quantile(lat, 0.99)), ms(bench.Quantile(lat, 0.999)), ms(lat[n-1]), n)
		if o.via == viaREST {
			dl := dueLatencies(rc.samples)
			p("latency      from when the tool made the event (its wait in the caller's queue included): p50 %s, p90 %s, p99 %s, p99.9 %s, max %s",
				ms(bench.Quantile(dl, 0.50)), ms(bench.Quantile(dl, 0.90)), ms(bench.Quantile(dl, 0.99)), ms(bench.Quantile(dl, 0.999)), ms(dl[n-1]))
		}
		r.timeline(p)
	}
	if r.drainErr != nil {
		p("end to end   INCOMPLETE: %v", r.drainErr)
	}
	p("end to end   %d events from the first publish to the last delivery in %s: %.0f events/s sustained (the last delivery came %s after the last publish's ack)",
		l.events, dur(rc.last.Sub(l.start)), e2e, dur(rc.last.Sub(l.acked)))
	if !r.evaluatedAt.IsZero() {
		p("evaluator    every event evaluated and its firings in the outbox (%s) %s after the first publish: %.0f events/s; deliveries finished %s later",
			stream.FiringsStream, dur(r.evaluatedAt.Sub(l.start)), eventsPerSecond(l.events, l.start, r.evaluatedAt), dur(rc.last.Sub(r.evaluatedAt)))
	}
	if !r.consumedAt.IsZero() {
		p("evaluator    %s reached every event %s after the first publish: %.0f events/s (polled every 50ms)",
			consumedMetric, dur(r.consumedAt.Sub(l.start)), eventsPerSecond(l.events, l.start, r.consumedAt))
	}
	var ratio float64
	if r.raw != nil {
		ratio = e2e / r.raw.publishRate()
		p("raw stream   on scratch streams %s_* of the operator's own NATS server, configured like %s (the server's fsync policy applies to them too: the operator's --stream-sync, %s), from this tool over the network, after the run; %d events (%d bytes on average):",
			r.raw.stream, stream.EventsStream, streamSync(o), r.raw.events, avg(r.raw.bytes, r.raw.events))
		if r.raw.syncEvents > 0 {
			p("raw stream     one at a time, each waiting for its ack: %.0f msg/s (%d events)", r.raw.syncRate(), r.raw.syncEvents)
		}
		p("raw stream     async publish, at most %d in flight: %.0f msg/s; ordered consume %.0f msg/s; publish then consume %.0f msg/s",
			r.raw.inflight, r.raw.publishRate(), r.raw.consumeRate(), r.raw.bothRate())
		p("raw stream     atomic batches of %d through internal/stream.Writer: %.0f msg/s (%d batches refused and written one at a time)",
			r.raw.batch, r.raw.batchRate(), r.raw.batchFallbacks)
		line := fmt.Sprintf("end to end / raw async publish %.1f%%; end to end / raw atomic-batch publish %.1f%%; end to end / raw publish then consume %.1f%%",
			100*ratio, 100*e2e/r.raw.batchRate(), 100*e2e/r.raw.bothRate())
		if !r.evaluatedAt.IsZero() {
			ev := eventsPerSecond(l.events, l.start, r.evaluatedAt)
			line += fmt.Sprintf("; evaluator / raw async publish %.1f%%; evaluator / raw atomic-batch publish %.1f%%", 100*ev/r.raw.publishRate(), 100*ev/r.raw.batchRate())
		}
		p("ratio        %s", line)
	}
	busy := rc.last.Sub(l.start)
	if busy > 0 {
		p("tool CPU     %s over the %s of publishing and receiving (%.2f cores), taken from the machine the operator runs on",
			dur(r.toolCPU), dur(busy), r.toolCPU.Seconds()/busy.Seconds())
		if r.operatorCPU > 0 {
			p("operator CPU %s over the same time (%.2f cores; process %d, embedded NATS server included)",
				dur(r.operatorCPU), r.operatorCPU.Seconds()/busy.Seconds(), o.operatorPID)
		}
	}

	p("targets")
	p("  p99 event to webhook <= %s at %d events/s: %s", ms(targetP99), targetRate, r.latencyVerdict(offered, lat))
	p("  end to end >= %.0f%% of the raw stream's async-publish rate: %s", 100*targetRatio, r.ratioVerdict(ratio))
	if o.via == viaREST && r.raw != nil {
		// POST /events commits each request as one atomic batch: the like
		// for like is the raw stream's atomic-batch rate.
		p("  end to end >= %.0f%% of the raw stream's atomic-batch rate (the way POST /events writes): %s", 100*targetRatio, r.ratioVerdict(e2e/r.raw.batchRate()))
	}
	p("  every firing delivered exactly once: %s", yesNo(exact))

	raw, rawRatio, rawSync, rawBatch, batchRatio := "-", "-", "-", "-", "-"
	if r.raw != nil {
		raw = fmt.Sprintf("%.0f", r.raw.publishRate())
		rawRatio = fmt.Sprintf("%.0f%%", 100*ratio)
		rawBatch = fmt.Sprintf("%.0f", r.raw.batchRate())
		batchRatio = fmt.Sprintf("%.0f%%", 100*e2e/r.raw.batchRate())
		if r.raw.syncEvents > 0 {
			rawSync = fmt.Sprintf("%.0f", r.raw.syncRate())
		}
	}
	via := "nats"
	if o.via == viaREST {
		via = fmt.Sprintf("rest %dx%d", o.restCallers, o.restBatch)
	}
	rate := "max"
	if o.rate > 0 {
		rate = fmt.Sprintf("%.0f", o.rate)
	}
	evaluator := "-"
	if !r.evaluatedAt.IsZero() {
		evaluator = fmt.Sprintf("%.0f", eventsPerSecond(l.events, l.start, r.evaluatedAt))
	}
	p("markdown     | fsync | via | target rate | events | offered (events/s) | evaluated (events/s) | end to end (events/s) | firings | p50 | p99 | max | raw sync publish (msg/s) | raw async publish (msg/s) | raw atomic-batch publish (msg/s) | end to end / raw async | end to end / raw atomic batch | exactly once |")
	p("markdown     | %s | %s | %s | %d | %.0f | %s | %.0f | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s |",
		streamSync(o), via, rate, l.events, offered, evaluator, e2e, rc.got, ms(bench.Quantile(lat, 0.5)), ms(bench.Quantile(lat, 0.99)), ms(bench.Quantile(lat, 1)),
		rawSync, raw, rawBatch, rawRatio, batchRatio, yesNo(exact))
}

func (r *report) latencyVerdict(offered float64, sorted []time.Duration) string {
	switch {
	case r.opts.rate == 0:
		return "not assessed: with --rate 0 events queue by design, so latency measures the queue (run --rate 5000)"
	case r.opts.rate < targetRate:
		return fmt.Sprintf("not assessed: --rate %.0f is below %d", r.opts.rate, targetRate)
	case offered < rateKeptFrac*targetRate && r.load.stalls > 0 && r.opts.via == viaREST:
		return fmt.Sprintf("NOT MET: the REST API took only %.0f events/s (the tool waited for a busy caller %d times)", offered, r.load.stalls)
	case offered < rateKeptFrac*targetRate && r.load.stalls > 0:
		return fmt.Sprintf("NOT MET: the stream took only %.0f events/s (the publisher waited at the in-flight bound %d times)", offered, r.load.stalls)
	case offered < rateKeptFrac*targetRate:
		return fmt.Sprintf("not assessed: the tool offered only %.0f events/s without being held back by the stream", offered)
	case r.drainErr != nil || len(sorted) == 0:
		return "NOT MET: deliveries missing"
	}
	p99 := bench.Quantile(sorted, 0.99)
	verdict := "MET"
	if p99 > targetP99 {
		verdict = "NOT MET"
	}
	return fmt.Sprintf("%s (p99 %s at %.0f events/s offered)", verdict, ms(p99), offered)
}

// timeline prints, for each slice of the run by publish time, the events
// published and the latency of their deliveries: a latency that grows
// from slice to slice is a backlog, the system not keeping up.
func (r *report) timeline(p func(string, ...any)) {
	total := r.load.sent.Sub(r.load.start).Seconds()
	secs := max(1, int(math.Round(total))) // the sentinels' last instant joins the last second
	step := max(1, (secs+11)/12)           // at most about 12 lines
	slice := func(t time.Time) int {
		return min(max(int(t.Sub(r.load.start)/time.Second), 0), secs-1) / step
	}
	n := (secs + step - 1) / step
	events := make([]int, n)
	for sec, c := range r.load.perSecond {
		events[min(sec, secs-1)/step] += c
	}
	lat := make([][]time.Duration, n)
	for _, s := range r.received.samples {
		i := slice(s.due) // events are counted by the time they were made
		lat[i] = append(lat[i], s.latency)
	}
	for i := range n {
		from, to := float64(i*step), float64((i+1)*step)
		if i == n-1 {
			to = max(total, from+0.001)
		}
		slices.Sort(lat[i])
		p("  %12s %8.0f events/s published, %6d deliveries: p50 %s, p99 %s, max %s",
			fmt.Sprintf("%.0f-%.0fs", from, to), float64(events[i])/(to-from), len(lat[i]),
			ms(bench.Quantile(lat[i], 0.5)), ms(bench.Quantile(lat[i], 0.99)), ms(bench.Quantile(lat[i], 1)))
	}
}

// dueLatencies returns the samples' latencies from their events' due
// times, sorted.
func dueLatencies(samples []sample) []time.Duration {
	lat := make([]time.Duration, len(samples))
	for i, s := range samples {
		lat[i] = s.fromDue
	}
	slices.Sort(lat)
	return lat
}

// streamSync is the operator's fsync policy as far as the tool knows it:
// the --stream-sync passed with --manager-arg, the default with
// --start-local, else unknown (a running operator's own flag).
func streamSync(o options) string {
	policy := "unknown"
	if o.startLocal {
		policy = "always"
	}
	for i, a := range o.managerArgs {
		switch {
		case strings.HasPrefix(a, "--stream-sync="), strings.HasPrefix(a, "-stream-sync="):
			_, policy, _ = strings.Cut(a, "=")
		case (a == "--stream-sync" || a == "-stream-sync") && i+1 < len(o.managerArgs):
			policy = o.managerArgs[i+1]
		}
	}
	return policy
}

// ordinal is 2nd, 3rd, 4th, ...
func ordinal(n int) string {
	switch {
	case n == 1:
		return "one"
	case n%100 >= 11 && n%100 <= 13:
		return fmt.Sprintf("%dth", n)
	case n%10 == 2:
		return fmt.Sprintf("%dnd", n)
	case n%10 == 3:
		return fmt.Sprintf("%drd", n)
	}
	return fmt.Sprintf("%dth", n)
}

// latencies returns the samples' latencies, sorted.
func latencies(samples []sample) []time.Duration {
	lat := make([]time.Duration, len(samples))
	for i, s := range samples {
		lat[i] = s.latency
	}
	slices.Sort(lat)
	return lat
}

func (r *report) ratioVerdict(ratio float64) string {
	switch {
	case r.raw == nil:
		return "not assessed: the raw stream was not measured (--raw=false)"
	case r.opts.rate > 0:
		return "not assessed: a paced run's end-to-end rate is its offered rate (run --rate 0)"
	case r.drainErr != nil:
		return "NOT MET: deliveries missing"
	case ratio >= targetRatio:
		return fmt.Sprintf("MET (%.1f%%)", 100*ratio)
	}
	return fmt.Sprintf("NOT MET (%.1f%%)", 100*ratio)
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
}

func dur(d time.Duration) string { return d.Round(time.Millisecond).String() }

func avg(total int64, n int) int64 {
	if n == 0 {
		return 0
	}
	return total / int64(n)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "NO"
}

// mix lists the event types by share, most frequent first.
func mix(counts map[string]int, total int) string {
	type kv struct {
		k string
		n int
	}
	var s []kv
	for k, n := range counts {
		s = append(s, kv{k, n})
	}
	slices.SortFunc(s, func(a, b kv) int { return b.n - a.n })
	parts := make([]string, len(s))
	for i, e := range s {
		parts[i] = fmt.Sprintf("%s %.1f%%", e.k, 100*float64(e.n)/float64(max(1, total)))
	}
	return strings.Join(parts, ", ")
}
