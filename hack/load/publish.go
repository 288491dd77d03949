package main

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/leadvibe/milestone-triggers-operator/internal/event"
	"github.com/leadvibe/milestone-triggers-operator/internal/stream"
)

// asyncPublisher publishes with JetStream async publish, the message id
// being the event id, with a bounded number of publishes in flight, and
// collects the acknowledgements.
type asyncPublisher struct {
	js      jetstream.JetStream
	futures chan jetstream.PubAckFuture
	done    chan struct{}

	acked, duplicates, failed atomic.Int64
	firstErr                  atomic.Pointer[error]
	lastAck                   atomic.Int64 // unix nanoseconds
	stalls                    atomic.Int64
}

func newAsyncPublisher(js jetstream.JetStream, inflight int) *asyncPublisher {
	p := &asyncPublisher{js: js, futures: make(chan jetstream.PubAckFuture, inflight+1), done: make(chan struct{})}
	go p.collect()
	return p
}

// publish sends one message, waiting while the number in flight is at its
// bound.
func (p *asyncPublisher) publish(subject string, data []byte, id string) error {
	for {
		f, err := p.js.PublishAsync(subject, data, jetstream.WithMsgID(id))
		if err == nil {
			p.futures <- f
			return nil
		}
		if !errors.Is(err, jetstream.ErrTooManyStalledMsgs) {
			return fmt.Errorf("publishing %s: %w", id, err)
		}
		p.stalls.Add(1) // the stream is behind: wait for acknowledgements
	}
}

// collect reads the acknowledgements in publish order.
func (p *asyncPublisher) collect() {
	defer close(p.done)
	for f := range p.futures {
		select {
		case ack := <-f.Ok():
			p.acked.Add(1)
			if ack.Duplicate {
				p.duplicates.Add(1)
			}
		case err := <-f.Err():
			if p.failed.Add(1) == 1 {
				p.firstErr.Store(&err)
			}
		}
		p.lastAck.Store(time.Now().UnixNano())
	}
}

// finish waits for every acknowledgement and returns when the last one
// came.
func (p *asyncPublisher) finish() time.Time {
	close(p.futures)
	<-p.done
	return time.Unix(0, p.lastAck.Load())
}

func (p *asyncPublisher) err() error {
	if e := p.firstErr.Load(); e != nil {
		return fmt.Errorf("%d publishes failed, the first with: %w", p.failed.Load(), *e)
	}
	return nil
}

// eventSink takes the run's events, in order, and publishes them: over
// NATS (natsSink) or through the REST API (restPublisher).
type eventSink interface {
	// send publishes ev, an event of OU ou made at ev.CreatedAt, whose
	// deliveries the oracle predicted as ids (reused by the caller once
	// send returns). The sink registers them with the receiver before the
	// event can reach the operator.
	send(ou int, ev event.Event, ids []string) error
	// finish publishes what is left, waits for every acknowledgement and
	// returns the time of the last.
	finish() time.Time
	stats() sinkStats
	err() error
}

// sinkStats is what a sink did.
type sinkStats struct {
	acks, duplicates int64
	stalls           int64     // times the tool waited for the sink (the in-flight bound, or busy REST callers)
	bytes            int64     // encoded events
	lastSent         time.Time // the last event handed to the network
}

// natsSink publishes to the leads' subjects with JetStream async publish.
type natsSink struct {
	p        *asyncPublisher
	rcv      *receiver
	ous      []string
	bytes    int64
	lastSent time.Time
}

func newNATSSink(p *asyncPublisher, rcv *receiver, ous []ouTriggers) *natsSink {
	s := &natsSink{p: p, rcv: rcv}
	for _, ou := range ous {
		s.ous = append(s.ous, ou.namespace)
	}
	return s
}

// send publishes the event at once: its publish time is its created_at.
func (s *natsSink) send(ou int, ev event.Event, ids []string) error {
	s.rcv.expect(ids, expectation{eventID: ev.ID, published: ev.CreatedAt, due: ev.CreatedAt})
	data := ev.Encode()
	s.bytes += int64(len(data))
	s.lastSent = ev.CreatedAt
	return s.p.publish(stream.LeadSubject(s.ous[ou], ev.LeadID), data, ev.ID)
}

func (s *natsSink) finish() time.Time { return s.p.finish() }
func (s *natsSink) err() error        { return s.p.err() }
func (s *natsSink) stats() sinkStats {
	return sinkStats{
		acks: s.p.acked.Load(), duplicates: s.p.duplicates.Load(), stalls: s.p.stalls.Load(),
		bytes: s.bytes, lastSent: s.lastSent,
	}
}

// loadOptions say how much to publish and how fast.
type loadOptions struct {
	rate     float64       // events/s; 0 is as fast as possible
	duration time.Duration // used when events is 0
	events   int
	interval time.Duration // pacing tick
}

// loadResult is what the publishing phase did.
type loadResult struct {
	events      int // including the sentinels
	bytes       int64
	start       time.Time // first event made
	sent        time.Time // last event handed to the network
	acked       time.Time // last acknowledgement
	maxBehind   int       // most events behind the target rate at a tick
	acks        int64
	duplicates  int64
	stalls      int64
	typeCounts  map[string]int
	expectedIDs int
	perSecond   []int      // events made in each second of the run
	rest        *restStats // with --via rest
}

// publishLoad publishes the workload through the sink, paced at the target
// rate in small batches (one per tick) or as fast as the sink takes them,
// then one sentinel per OU. Each event's created_at is first the time it
// is made; the oracle's firings for it go to the sink with it, which
// registers them with the receiver with the publish time (a REST caller
// sets created_at to the time its request is sent).
func publishLoad(ctx context.Context, sink eventSink, w *workload, orc *oracle, rcv *receiver, ous []ouTriggers, o loadOptions) (loadResult, error) {
	res := loadResult{typeCounts: map[string]int{}}
	var ids []string
	one := func(ou int, ev event.Event) error {
		ev.CreatedAt = time.Now().UTC()
		ids = orc.apply(ou, ev, ids[:0])
		res.expectedIDs += len(ids)
		res.events++
		res.typeCounts[ev.EventType]++
		sec := int(ev.CreatedAt.Sub(res.start) / time.Second)
		for len(res.perSecond) <= sec {
			res.perSecond = append(res.perSecond, 0)
		}
		res.perSecond[sec]++
		return sink.send(ou, ev, ids)
	}
	next := func() error {
		ou, _, ev := w.next()
		return one(ou, ev)
	}
	res.start = time.Now()
	done := func() bool {
		if o.events > 0 {
			return res.events >= o.events
		}
		return time.Since(res.start) >= o.duration
	}
	if o.rate > 0 {
		tick := time.NewTicker(o.interval)
		defer tick.Stop()
		due := func() int {
			n := int(o.rate*time.Since(res.start).Seconds()) + 1
			if o.events > 0 {
				n = min(n, o.events)
			}
			res.maxBehind = max(res.maxBehind, n-res.events)
			return n
		}
		for !done() {
			// A batch that falls behind (the stream holds the publisher at
			// the in-flight bound) still stops at the end of --duration.
			for n := due(); res.events < n && (res.events%64 != 0 || !done()); {
				if err := next(); err != nil {
					return res, err
				}
			}
			due() // how far behind the batch left the publisher
			select {
			case <-ctx.Done():
				return res, ctx.Err()
			case <-tick.C:
			}
		}
	} else {
		for !done() {
			if err := next(); err != nil {
				return res, err
			}
			if res.events%1024 == 0 && ctx.Err() != nil {
				return res, ctx.Err()
			}
		}
	}
	for i, ou := range ous {
		if err := one(i, w.sentinel(i, ou.triggers[0].threshold)); err != nil {
			return res, err
		}
	}
	res.acked = sink.finish()
	st := sink.stats()
	res.sent, res.bytes = st.lastSent, st.bytes
	res.acks, res.duplicates, res.stalls = st.acks, st.duplicates, st.stalls
	// Every expectation is registered once the sink is done (a REST caller
	// registers its events' just before it sends them).
	rcv.expectNoMore()
	return res, sink.err()
}

// eventsPerSecond is n events over the time from start to end.
func eventsPerSecond(n int, start, end time.Time) float64 {
	d := end.Sub(start).Seconds()
	if d <= 0 {
		return 0
	}
	return float64(n) / d
}
