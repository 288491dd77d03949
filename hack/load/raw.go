package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/leadvibe/milestone-triggers-operator/internal/stream"
)

// rawResult is the raw stream's rate on the same server, in the same run:
// streambench's "raw" measured over the network, as an outside client.
type rawResult struct {
	stream           string
	events           int
	bytes            int64
	publish, consume time.Duration
}

func (r rawResult) publishRate() float64 { return float64(r.events) / r.publish.Seconds() }
func (r rawResult) consumeRate() float64 { return float64(r.events) / r.consume.Seconds() }

// bothRate is the events carried through the stream per second of
// publishing and consuming them one after the other.
func (r rawResult) bothRate() float64 {
	return float64(r.events) / (r.publish + r.consume).Seconds()
}

// measureRaw publishes n events of the workload (the same generator and
// seed, so the same events and sizes) to a scratch stream configured like
// the events stream (storage, duplicate window, limits; the server's fsync
// policy applies to both), as fast as the same bound on publishes in
// flight allows, until all are acknowledged; then reads them back with an
// ordered consumer, as streambench does; then deletes the stream.
func measureRaw(ctx context.Context, js jetstream.JetStream, run string, w *workload, n, inflight int) (res rawResult, err error) {
	events, err := js.Stream(ctx, stream.EventsStream)
	if err != nil {
		return res, fmt.Errorf("reading the events stream's configuration: %w", err)
	}
	cfg := events.CachedInfo().Config
	cfg.Name = "LOADBENCH_RAW_" + strings.ToUpper(run)
	cfg.Description = "Scratch stream of hack/load, deleted after the measurement"
	subject := "loadbench.raw." + run
	cfg.Subjects = []string{subject}
	cfg.MaxAge = time.Hour
	res.stream = cfg.Name
	if _, err := js.CreateStream(ctx, cfg); err != nil {
		return res, fmt.Errorf("creating the scratch stream %s: %w", cfg.Name, err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if derr := js.DeleteStream(dctx, cfg.Name); derr != nil && err == nil {
			err = fmt.Errorf("deleting the scratch stream %s: %w", cfg.Name, derr)
		}
	}()

	p := newAsyncPublisher(js, inflight)
	start := time.Now()
	for range n {
		_, _, ev := w.next()
		ev.CreatedAt = time.Now().UTC()
		data := ev.Encode()
		res.bytes += int64(len(data))
		if err := p.publish(subject, data, ev.ID); err != nil {
			p.finish()
			return res, err
		}
	}
	p.finish()
	res.publish = time.Since(start)
	res.events = n
	if err := p.err(); err != nil {
		return res, err
	}
	if got := p.acked.Load() - p.duplicates.Load(); got != int64(n) {
		return res, fmt.Errorf("the scratch stream stored %d of %d events", got, n)
	}

	c, err := js.OrderedConsumer(ctx, cfg.Name, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return res, err
	}
	start = time.Now()
	msgs, err := c.Messages()
	if err != nil {
		return res, err
	}
	defer msgs.Stop()
	for range n {
		if _, err := msgs.Next(); err != nil {
			return res, fmt.Errorf("consuming the scratch stream: %w", err)
		}
	}
	res.consume = time.Since(start)
	return res, nil
}
