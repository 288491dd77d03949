package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"
)

// expectation is a delivery the oracle predicted: the firing's event, when
// it was published (its created_at: handed to the NATS client, or the
// time its POST /events request was sent) and when it was due (the time
// the tool made it, the same as published over NATS; with --via rest it
// may wait in its caller's queue before its request is sent).
type expectation struct {
	eventID   string
	published time.Time
	due       time.Time
}

// receiver is the tool's webhook receiver: loopback HTTP servers (the
// operator limits the attempts to one destination at once, so each OU gets
// its own, as each customer would have its own endpoint) that count the
// deliveries, drop repeats of a webhook-id, and measure each delivery's
// latency from its event's publication.
type receiver struct {
	servers []*http.Server
	urls    []string

	mu          sync.Mutex
	expected    map[string]expectation // by webhook-id
	seen        map[string]struct{}
	want        int // expected deliveries, once known; -1 while publishing
	got         int // distinct expected deliveries received
	deliveries  int // every request, repeats included
	duplicates  int
	unexpected  int
	malformed   int
	createdAtOK int // payloads whose created_at equals the publish time to the nanosecond
	samples     []sample
	first, last time.Time // arrivals of the first and the last expected delivery
	complete    chan struct{}
}

// startReceiver listens on n loopback ports.
func startReceiver(n int) (*receiver, error) {
	r := &receiver{
		expected: map[string]expectation{},
		seen:     map[string]struct{}{},
		want:     -1,
		complete: make(chan struct{}),
	}
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			r.stop()
			return nil, err
		}
		srv := &http.Server{
			Handler:           http.HandlerFunc(r.serve),
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       30 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       2 * time.Minute,
		}
		r.servers = append(r.servers, srv)
		r.urls = append(r.urls, "http://"+l.Addr().String())
		go func() { _ = srv.Serve(l) }()
	}
	return r, nil
}

// url is the webhook URL of a trigger of OU ou.
func (r *receiver) url(ou int, ns, name string) string {
	return fmt.Sprintf("%s/hooks/%s/%s", r.urls[ou%len(r.urls)], ns, name)
}

// expect registers the deliveries of one event, before it is published.
func (r *receiver) expect(ids []string, e expectation) {
	if len(ids) == 0 {
		return
	}
	r.mu.Lock()
	for _, id := range ids {
		r.expected[id] = e
	}
	r.mu.Unlock()
}

// expectNoMore says that every expected delivery is registered.
func (r *receiver) expectNoMore() {
	r.mu.Lock()
	r.want = len(r.expected)
	r.checkComplete()
	r.mu.Unlock()
}

func (r *receiver) checkComplete() {
	if r.want >= 0 && r.got == r.want {
		select {
		case <-r.complete:
		default:
			close(r.complete)
		}
	}
}

type webhookBody struct {
	Event struct {
		ID        string `json:"id"`
		CreatedAt string `json:"created_at"`
	} `json:"event"`
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	arrived := time.Now()
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, 1<<20))
	var b webhookBody
	if err == nil {
		err = json.Unmarshal(body, &b)
	}
	id := req.Header.Get("webhook-id")
	if err != nil || id == "" || req.Method != http.MethodPost {
		r.mu.Lock()
		r.malformed++
		r.mu.Unlock()
		http.Error(w, "not a webhook delivery", http.StatusBadRequest)
		return
	}
	createdAt, _ := time.Parse(time.RFC3339Nano, b.Event.CreatedAt)

	r.mu.Lock()
	r.deliveries++
	_, dup := r.seen[id]
	e, ok := r.expected[id]
	switch {
	case dup:
		r.duplicates++
	case !ok:
		r.seen[id] = struct{}{}
		r.unexpected++
	default:
		r.seen[id] = struct{}{}
		r.got++
		r.samples = append(r.samples, sample{published: e.published, latency: arrived.Sub(e.published), due: e.due, fromDue: arrived.Sub(e.due)})
		if createdAt.Equal(e.published) && b.Event.ID == e.eventID {
			r.createdAtOK++
		}
		if r.first.IsZero() {
			r.first = arrived
		}
		if arrived.After(r.last) {
			r.last = arrived
		}
		r.checkComplete()
	}
	r.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// progress returns the distinct expected deliveries received so far and
// how many are expected (-1 while publishing).
func (r *receiver) progress() (got, want int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.got, r.want
}

// wait waits until every expected delivery has arrived, the timeout passes
// or ctx ends, printing progress every few seconds.
func (r *receiver) wait(ctx context.Context, timeout time.Duration) error {
	deadline := time.After(timeout)
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-r.complete:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline:
			got, want := r.progress()
			return fmt.Errorf("%d of %d expected deliveries arrived within %s", got, want, timeout)
		case <-tick.C:
			got, want := r.progress()
			fmt.Printf("   ... %d of %d deliveries\n", got, want)
		}
	}
}

// sample is one expected delivery: when its event was published and how
// long after that it arrived; when it was due, and how long after that.
type sample struct {
	published time.Time
	latency   time.Duration
	due       time.Time
	fromDue   time.Duration
}

// receiverStats is what the receiver saw.
type receiverStats struct {
	expected, got, deliveries, duplicates, unexpected, malformed, createdAtOK int
	samples                                                                   []sample
	first, last                                                               time.Time
}

func (r *receiver) stats() receiverStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return receiverStats{
		expected: len(r.expected), got: r.got, deliveries: r.deliveries, duplicates: r.duplicates,
		unexpected: r.unexpected, malformed: r.malformed, createdAtOK: r.createdAtOK,
		samples: slices.Clone(r.samples), first: r.first, last: r.last,
	}
}

func (r *receiver) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, s := range r.servers {
		if err := s.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
			_ = s.Close()
		}
	}
}
