// Command publish sends engagement events to the operator's event stream,
// as any NATS client can: to the OU's subject, with the event id as the
// message id. The local system prints how to use it.
//
//	go run ./hack/publish --server nats://127.0.0.1:4222 --ou demo \
//	  --token-file bin/local-state/token --lead ld_123 --type demo_request --score 82
//
// The operator's listener admits a publisher by its Kubernetes
// service-account token (--token-file or --token), allowed to create
// milestonetriggers/events in the OU: the tool connects with the OU as its
// user name and the token as its password, and with the inbox prefix the
// token's service account must use (internal/streamauth), so that the
// JetStream acknowledgements reach it. With a TLS listener, give the
// server as tls://... and its CA with --tls-ca-file.
//
// or, with a JSON event on standard input (one per line):
//
//	echo '{"id":"evt-1","lead_id":"ld_1","event_type":"page_view","score":10}' | go run ./hack/publish --server ... --ou demo -
//
// With --batch N (at most 1000), the events of standard input are
// published as JetStream atomic batches (ADR-50) of up to N events, with
// the operator's own stream writer (internal/stream) over this tool's
// connection: the server stores each batch whole, with one fsync under
// --stream-sync=always, instead of one fsync per event. It prints one line
// per batch with how many events were stored and how many were duplicates
// the stream already held. A batch holding a duplicate is refused by the
// server and written again one event at a time, as the operator's writers
// do; the line says so.
//
//	go run ./hack/publish --server ... --ou demo --batch 500 - < events.jsonl
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	dto "github.com/prometheus/client_model/go"

	"github.com/leadvibe/milestone-triggers-operator/internal/event"
	"github.com/leadvibe/milestone-triggers-operator/internal/metrics"
	"github.com/leadvibe/milestone-triggers-operator/internal/stream"
	"github.com/leadvibe/milestone-triggers-operator/internal/version"
)

func main() {
	server := flag.String("server", nats.DefaultURL, "NATS server URL.")
	ou := flag.String("ou", "demo", "The OU (namespace) the event belongs to.")
	id := flag.String("id", "", "Event id; generated when empty.")
	lead := flag.String("lead", "ld_123", "Lead id.")
	typ := flag.String("type", "page_view", "Event type.")
	score := flag.Int64("score", 0, "The lead's score after this event.")
	token := flag.String("token", "", "The Kubernetes service-account token to publish with (prefer --token-file: a flag shows in the process list).")
	tokenFile := flag.String("token-file", "", "A file holding the Kubernetes service-account token to publish with, such as the local system's bin/local-state/token.")
	inboxPrefix := flag.String("inbox-prefix", "", "The inbox prefix to use; by default the one the token's service account must use (_INBOX.<namespace>.<name>).")
	caFile := flag.String("tls-ca-file", "", "PEM CA bundle to verify a TLS listener's certificate with.")
	certFile := flag.String("tls-cert-file", "", "PEM client certificate, for a listener that requires one (with --tls-key-file).")
	keyFile := flag.String("tls-key-file", "", "PEM private key of --tls-cert-file.")
	batch := flag.Int("batch", 0, fmt.Sprintf("With - (events on standard input): publish them as atomic batches of up to this many events (1..%d), with one summary line per batch; with fsync on every write, batches of a few hundred are fastest, and under about %d events a batch costs more than the events one by one. 0 publishes one event at a time, with one line per event.", stream.MaxAtomicBatch, stream.DefaultMinBatch))
	flag.Usage = func() {
		out := flag.CommandLine.Output()
		fmt.Fprintf(out, "Usage:\n  %[1]s [flags]                  publish one event built from --id, --lead, --type, --score\n  %[1]s [flags] -                publish the JSON events of standard input, one per line\n  %[1]s [flags] --batch N -      the same, as atomic batches of up to N events\n\nEvents go to leadvibe.events.<ou> with the event id as the message id, so the stream drops a repeat.\n\nFlags:\n", os.Args[0])
		flag.PrintDefaults()
	}
	version.AddFlag(flag.CommandLine)
	flag.Parse()

	stdin := flag.NArg() == 1 && flag.Arg(0) == "-"
	switch {
	case flag.NArg() > 0 && !stdin:
		usageError(fmt.Errorf("unexpected arguments %q: the only argument is -, to read events from standard input", flag.Args()))
	case *batch < 0 || *batch > stream.MaxAtomicBatch:
		usageError(fmt.Errorf("--batch must be in 0..%d", stream.MaxAtomicBatch))
	case *batch > 0 && !stdin:
		usageError(errors.New("--batch applies to events read from standard input: add the argument -"))
	}

	auth, err := readAuth(*token, *tokenFile, *inboxPrefix, *caFile, *certFile, *keyFile)
	if err != nil {
		usageError(err)
	}
	if err := run(*server, *ou, auth, stdin, *batch, event.Event{ID: *id, LeadID: *lead, EventType: *typ, Score: *score}); err != nil {
		fmt.Fprintln(os.Stderr, "publish:", err)
		os.Exit(1)
	}
}

func usageError(err error) {
	fmt.Fprintln(os.Stderr, "publish:", err)
	flag.Usage()
	os.Exit(2)
}

func run(server, ou string, auth auth, stdin bool, batch int, flagEvent event.Event) error {
	nc, err := nats.Connect(server, append(auth.options(ou), nats.Name("milestone-triggers-publish"))...)
	if err != nil {
		return connectError(err, auth)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	if stdin && batch > 0 {
		if auth.token == "" {
			// A publisher may not read the stream's configuration.
			checkAtomic(js)
		}
		return publishBatches(js, ou, os.Stdin, os.Stdout, batch)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	if stdin {
		return eachEvent(os.Stdin, func(_ int, ev event.Event) error {
			return publish(ctx, js, ou, ev)
		})
	}

	ev := flagEvent
	if ev.ID == "" {
		ev.ID = fmt.Sprintf("evt-%d", time.Now().UnixNano())
	}
	ev.CreatedAt = time.Now().UTC()
	// Decode what we built, so the tool refuses what the operator would.
	if _, err := event.DecodeEvent(ev.Encode(), ev.CreatedAt); err != nil {
		return err
	}
	return publish(ctx, js, ou, ev)
}

// eachEvent decodes the JSON events of r, one per line (blank lines
// skipped), as the operator would, and hands each to f with its line.
func eachEvent(r io.Reader, f func(line int, ev event.Event) error) error {
	scanner := bufio.NewScanner(r)
	scanner.Buffer(make([]byte, event.MaxEventBytes), event.MaxEventBytes)
	for line := 1; scanner.Scan(); line++ {
		if len(scanner.Bytes()) == 0 {
			continue
		}
		ev, err := event.DecodeEvent(scanner.Bytes(), time.Now())
		if err != nil {
			return fmt.Errorf("line %d: %w", line, err)
		}
		if err := f(line, ev); err != nil {
			return err
		}
	}
	return scanner.Err()
}

func publish(ctx context.Context, js jetstream.JetStream, ou string, ev event.Event) error {
	subject := stream.LeadSubject(ou, ev.LeadID)
	ack, err := js.Publish(ctx, subject, ev.Encode(), jetstream.WithMsgID(ev.ID))
	if err != nil {
		return fmt.Errorf("event %s: %w", ev.ID, err)
	}
	dup := ""
	if ack.Duplicate {
		dup = " (duplicate, dropped by the stream)"
	}
	fmt.Printf("published %s for lead %s (%s, score %d) to %s, sequence %d%s\n", ev.ID, ev.LeadID, ev.EventType, ev.Score, subject, ack.Sequence, dup)
	return nil
}

// publishBatches publishes the events of r in atomic batches of up to n,
// in order, through a stream writer on js, and prints a line per batch to
// out.
// A batch is sent once its n events are read, or at the end of the input.
// Everything before a failed batch is stored; that batch may be partly
// stored (its events' ids make a retry safe).
func publishBatches(js jetstream.JetStream, ou string, r io.Reader, out io.Writer, n int) error {
	subject := stream.LeadSubjects(ou)
	// One caller that waits for each batch: the writer commits each Write
	// of up to n events as one atomic batch, however small, since that is
	// what --batch asks for (the operator's own writers write groups under
	// stream.DefaultMinBatch one by one, which is cheaper for so few).
	w := stream.NewWriter(js, stream.EventsStream, stream.WriterOptions{MaxBatch: n, MinBatch: 2, Timeout: 30 * time.Second})
	defer w.Close()

	var (
		evs                []event.Event
		firstLine, last    int
		batches            int
		stored, duplicates int
	)
	flush := func() error {
		if len(evs) == 0 {
			return nil
		}
		batches++
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		started := time.Now()
		fallbacks := fallbackCount()
		results, err := stream.Publish(ctx, w, ou, evs...)
		if err != nil {
			return fmt.Errorf("batch %d (lines %d-%d, %d events, %s to %s): %w; the batches before it are stored, this one may be in part (publishing it again is safe)",
				batches, firstLine, last, len(evs), evs[0].ID, evs[len(evs)-1].ID, err)
		}
		dups := 0
		for _, res := range results {
			if res.Duplicate {
				dups++
			}
		}
		how := "in one atomic batch"
		switch {
		case len(evs) == 1:
			how = "on its own"
		case fallbackCount() > fallbacks && dups > 0:
			how = "one at a time, the stream having refused the atomic batch over its duplicates"
		case fallbackCount() > fallbacks:
			how = "one at a time, the stream having refused the atomic batch"
		}
		fmt.Fprintf(out, "batch %d: lines %d-%d, %s (%s .. %s) to %s %s in %s: %d published, %d duplicates (dropped by the stream)\n",
			batches, firstLine, last, plural(len(evs), "event"), evs[0].ID, evs[len(evs)-1].ID, subject, how,
			time.Since(started).Round(time.Microsecond), len(evs)-dups, dups)
		stored += len(evs) - dups
		duplicates += dups
		evs = evs[:0]
		return nil
	}
	err := eachEvent(r, func(line int, ev event.Event) error {
		if len(evs) == 0 {
			firstLine = line
		}
		last = line
		evs = append(evs, ev)
		if len(evs) < n {
			return nil
		}
		return flush()
	})
	if err == nil {
		err = flush()
	}
	fmt.Fprintf(out, "total: %s, %d events published, %d duplicates\n", plural(batches, "batch"), stored, duplicates)
	return err
}

// fallbackCount is how many batches the stream refused whole, so that the
// writer wrote their events one at a time (the writer's own counter).
func fallbackCount() float64 {
	var m dto.Metric
	if err := metrics.StreamBatchFallbacks.WithLabelValues(stream.EventsStream).Write(&m); err != nil {
		return 0
	}
	return m.GetCounter().GetValue()
}

// checkAtomic warns when the events stream does not take atomic batches
// (an older server, or a stream the operator has not set up): the writer
// then writes every batch one event at a time.
func checkAtomic(js jetstream.JetStream) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream.EventsStream)
	if err != nil {
		fmt.Fprintf(os.Stderr, "publish: warning: reading stream %s: %v\n", stream.EventsStream, err)
		return
	}
	if !s.CachedInfo().Config.AllowAtomicPublish {
		fmt.Fprintf(os.Stderr, "publish: warning: stream %s does not allow atomic batch publish (nats-server 2.12 or later, set up by the operator, is needed); the batches are refused and written one event at a time\n", stream.EventsStream)
	}
}

func plural(n int, what string) string {
	switch {
	case n == 1:
		return "1 " + what
	case strings.HasSuffix(what, "ch"):
		return fmt.Sprintf("%d %ses", n, what)
	}
	return fmt.Sprintf("%d %ss", n, what)
}
