package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	dto "github.com/prometheus/client_model/go"

	"github.com/leadvibe/milestone-triggers-operator/internal/metrics"
	"github.com/leadvibe/milestone-triggers-operator/internal/stream"
)

// rawResult is the raw stream's rates on the same server, in the same run:
// streambench's "raw" measured over the network, as an outside client,
// on scratch streams configured like the events stream. The server's
// fsync policy (the operator's --stream-sync) applies to them as to the
// events stream.
type rawResult struct {
	stream           string // the scratch streams' name, before the suffix of each measurement
	events           int
	bytes            int64
	inflight         int
	publish, consume time.Duration // async publish, then ordered consume

	syncEvents  int           // published one at a time (0: not measured)
	syncPublish time.Duration // each waiting for its acknowledgement

	batch          int           // events per atomic batch
	batchPublish   time.Duration // atomic batches through stream.Writer
	batchFallbacks int           // batches the stream refused whole
}

func (r rawResult) publishRate() float64 { return float64(r.events) / r.publish.Seconds() }
func (r rawResult) consumeRate() float64 { return float64(r.events) / r.consume.Seconds() }
func (r rawResult) syncRate() float64 {
	if r.syncEvents == 0 {
		return 0
	}
	return float64(r.syncEvents) / r.syncPublish.Seconds()
}
func (r rawResult) batchRate() float64 { return float64(r.events) / r.batchPublish.Seconds() }

// bothRate is the events carried through the stream per second of
// publishing and consuming them one after the other.
func (r rawResult) bothRate() float64 {
	return float64(r.events) / (r.publish + r.consume).Seconds()
}

// rawOptions say what to measure.
type rawOptions struct {
	events     int // events of the async and atomic-batch publishes
	inflight   int // bound on unacknowledged async publishes
	syncEvents int // events published one at a time (0: none)
	batch      int // events per atomic batch
}

// measureRaw publishes events of the workload (a new generator from the
// same seed for each measurement, so the same events and sizes) to
// scratch streams configured like the events stream (storage, duplicate
// window, limits, atomic batches allowed), one stream per measurement,
// each deleted afterwards:
//
//   - async: n events as fast as the same bound on publishes in flight
//     allows, until all are acknowledged; then read back with an ordered
//     consumer, as streambench does;
//   - atomic batches: n events in atomic batches of o.batch through the
//     operator's stream writer (internal/stream.Writer) on this
//     connection, a few batches handed to it ahead;
//   - one at a time: o.syncEvents events, each waiting for its
//     acknowledgement before the next.
func measureRaw(ctx context.Context, js jetstream.JetStream, run string, newW func() *workload, o rawOptions) (res rawResult, err error) {
	events, err := js.Stream(ctx, stream.EventsStream)
	if err != nil {
		return res, fmt.Errorf("reading the events stream's configuration: %w", err)
	}
	base := events.CachedInfo().Config
	res.stream = "LOADBENCH_RAW_" + strings.ToUpper(run)
	res.events, res.inflight, res.batch = o.events, o.inflight, o.batch

	// scratch creates the stream of one measurement and returns its
	// subject and the deletion.
	scratch := func(suffix string) (string, string, func() error, error) {
		cfg := base
		cfg.Name = res.stream + "_" + strings.ToUpper(suffix)
		cfg.Description = "Scratch stream of hack/load, deleted after the measurement"
		subject := "loadbench.raw." + run + "." + suffix
		cfg.Subjects = []string{subject}
		cfg.MaxAge = time.Hour
		if _, err := js.CreateStream(ctx, cfg); err != nil {
			return "", "", nil, fmt.Errorf("creating the scratch stream %s: %w", cfg.Name, err)
		}
		return cfg.Name, subject, func() error {
			dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := js.DeleteStream(dctx, cfg.Name); err != nil {
				return fmt.Errorf("deleting the scratch stream %s: %w", cfg.Name, err)
			}
			return nil
		}, nil
	}
	measure := func(suffix string, f func(name, subject string) error) error {
		name, subject, drop, err := scratch(suffix)
		if err != nil {
			return err
		}
		err = f(name, subject)
		if derr := drop(); err == nil {
			err = derr
		}
		return err
	}
	stored := func(name string, n int) error {
		s, err := js.Stream(ctx, name)
		if err != nil {
			return err
		}
		if got := s.CachedInfo().State.Msgs; got != uint64(n) {
			return fmt.Errorf("the scratch stream %s stored %d of %d events", name, got, n)
		}
		return nil
	}

	if err := measure("async", func(name, subject string) error {
		w := newW()
		p := newAsyncPublisher(js, o.inflight)
		start := time.Now()
		for range o.events {
			_, _, ev := w.next()
			ev.CreatedAt = time.Now().UTC()
			data := ev.Encode()
			res.bytes += int64(len(data))
			if err := p.publish(subject, data, ev.ID); err != nil {
				p.finish()
				return err
			}
		}
		p.finish()
		res.publish = time.Since(start)
		if err := p.err(); err != nil {
			return err
		}
		if got := p.acked.Load() - p.duplicates.Load(); got != int64(o.events) {
			return fmt.Errorf("the scratch stream stored %d of %d events", got, o.events)
		}
		c, err := js.OrderedConsumer(ctx, name, jetstream.OrderedConsumerConfig{})
		if err != nil {
			return err
		}
		start = time.Now()
		msgs, err := c.Messages()
		if err != nil {
			return err
		}
		defer msgs.Stop()
		for range o.events {
			if _, err := msgs.Next(); err != nil {
				return fmt.Errorf("consuming the scratch stream: %w", err)
			}
		}
		res.consume = time.Since(start)
		return nil
	}); err != nil {
		return res, err
	}

	if err := measure("batch", func(name, subject string) error {
		w := newW()
		writer := stream.NewWriter(js, name, stream.WriterOptions{MaxBatch: o.batch})
		defer writer.Close()
		fallbacks0 := fallbackCount(name)
		var waits []func(context.Context) ([]stream.Result, error)
		wait := func() error {
			_, err := waits[0](ctx)
			waits = waits[1:]
			return err
		}
		start := time.Now()
		for done := 0; done < o.events; {
			msgs := make([]stream.Msg, min(o.batch, o.events-done))
			for i := range msgs {
				_, _, ev := w.next()
				ev.CreatedAt = time.Now().UTC()
				msgs[i] = stream.Msg{Subject: subject, Data: ev.Encode(), ID: ev.ID}
			}
			done += len(msgs)
			if len(waits) == batchesAhead {
				if err := wait(); err != nil {
					return err
				}
			}
			waits = append(waits, writer.Start(msgs...))
		}
		for len(waits) > 0 {
			if err := wait(); err != nil {
				return err
			}
		}
		res.batchPublish = time.Since(start)
		res.batchFallbacks = int(fallbackCount(name) - fallbacks0)
		return stored(name, o.events)
	}); err != nil {
		return res, err
	}

	if o.syncEvents > 0 {
		if err := measure("sync", func(name, subject string) error {
			w := newW()
			start := time.Now()
			for range o.syncEvents {
				_, _, ev := w.next()
				ev.CreatedAt = time.Now().UTC()
				if _, err := js.Publish(ctx, subject, ev.Encode(), jetstream.WithMsgID(ev.ID)); err != nil {
					return fmt.Errorf("publishing %s: %w", ev.ID, err)
				}
			}
			res.syncPublish = time.Since(start)
			res.syncEvents = o.syncEvents
			return stored(name, o.syncEvents)
		}); err != nil {
			return res, err
		}
	}
	return res, nil
}

// batchesAhead is how many atomic batches the raw measurement hands the
// writer before it waits for the oldest: the writer commits one at a
// time, and always has the next one ready.
const batchesAhead = 4

// fallbackCount is how many batches of a stream the stream refused whole,
// so that they were written one message at a time (the writers' own
// counter, in this process).
func fallbackCount(streamName string) float64 {
	var m dto.Metric
	if err := metrics.StreamBatchFallbacks.WithLabelValues(streamName).Write(&m); err != nil {
		return 0
	}
	return m.GetCounter().GetValue()
}
