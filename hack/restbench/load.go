package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime/pprof"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/rest"

	triggersv1alpha1 "github.com/leadvibe/milestone-triggers-operator/api/v1alpha1"
	"github.com/leadvibe/milestone-triggers-operator/internal/restapi"
)

// target is one way of listing the OU's triggers over HTTP.
type target struct {
	name   string
	client *http.Client
	// request makes one call.
	request func(ctx context.Context) (*http.Request, error)
	// count returns how many triggers a response body holds.
	count func(body []byte) (int, error)
}

// shimTarget is GET /triggers on the shim, in the OU given by header, as the
// product's clients call it.
func shimTarget(base, token, ou string) *target {
	return &target{
		name:   "shim GET /triggers",
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}},
		request: func(ctx context.Context) (*http.Request, error) {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/triggers", nil)
			if err != nil {
				return nil, err
			}
			req.Header.Set("Authorization", "Bearer "+token)
			req.Header.Set(restapi.OUHeader, ou)
			req.Header.Set("Accept", "application/json")
			return req, nil
		},
		count: func(body []byte) (int, error) {
			var out struct {
				Triggers []json.RawMessage `json:"triggers"`
			}
			err := json.Unmarshal(body, &out)
			return len(out.Triggers), err
		},
	}
}

// apiServerTarget is the LIST of the OU's MilestoneTriggers from the API
// server, with the same token, over client-go's HTTP client for a
// rest.Config (TLS, HTTP/2, and gzip unless disabled, as client-go does).
// It is a plain GET, so no client-side rate limiter is involved.
func apiServerTarget(admin *rest.Config, token, ou string, gzip bool) (*target, error) {
	cfg := &rest.Config{
		Host:               admin.Host,
		TLSClientConfig:    rest.TLSClientConfig{CAData: admin.CAData, CAFile: admin.CAFile, ServerName: admin.ServerName},
		BearerToken:        token,
		DisableCompression: !gzip,
		UserAgent:          "restbench",
	}
	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("the API server's HTTP client: %w", err)
	}
	host := strings.TrimSuffix(admin.Host, "/")
	if !strings.Contains(host, "://") {
		host = "https://" + host
	}
	url := host + "/apis/" + triggersv1alpha1.GroupVersion.String() + "/namespaces/" + ou + "/milestonetriggers"
	return &target{
		name:   "API server LIST",
		client: httpClient,
		request: func(ctx context.Context) (*http.Request, error) {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err != nil {
				return nil, err
			}
			req.Header.Set("Accept", "application/json")
			return req, nil
		},
		count: func(body []byte) (int, error) {
			var out struct {
				Items []json.RawMessage `json:"items"`
			}
			err := json.Unmarshal(body, &out)
			return len(out.Items), err
		},
	}, nil
}

// call makes one request and reads the whole body; it returns the body's
// size, and the body itself when keep is set.
func (t *target) call(ctx context.Context, keep bool) (int64, []byte, error) {
	req, err := t.request(ctx)
	if err != nil {
		return 0, nil, err
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return 0, nil, fmt.Errorf("%s answered %s: %s", t.name, resp.Status, strings.TrimSpace(string(msg)))
	}
	if keep {
		body, err := io.ReadAll(resp.Body)
		return int64(len(body)), body, err
	}
	n, err := io.Copy(io.Discard, resp.Body)
	return n, nil, err
}

// check makes one call and verifies that it answers 200 with want triggers.
func (t *target) check(ctx context.Context, want int) error {
	_, body, err := t.call(ctx, true)
	if err != nil {
		return err
	}
	got, err := t.count(body)
	if err != nil {
		return fmt.Errorf("%s: decoding the answer: %w", t.name, err)
	}
	if got != want {
		return fmt.Errorf("%s returned %d triggers, want %d", t.name, got, want)
	}
	progress("%s: 200, %d triggers, %d bytes", t.name, got, len(body))
	return nil
}

// sample is what one slice of load on one target measured.
type sample struct {
	requests  int
	errors    int
	firstErr  error
	bytes     int64
	elapsed   time.Duration
	latencies []time.Duration
}

// load calls t from c goroutines, each making one call after the other,
// for d. Calls in flight at the deadline finish and count; the elapsed
// time runs until the last of them.
func load(ctx context.Context, t *target, c int, d time.Duration) sample {
	var (
		mu  sync.Mutex
		out sample
		wg  sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(d)
	for range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine sample
			mine.latencies = make([]time.Duration, 0, 1024)
			for ctx.Err() == nil && time.Now().Before(deadline) {
				t0 := time.Now()
				n, _, err := t.call(ctx, false)
				lat := time.Since(t0)
				if ctx.Err() != nil {
					break
				}
				if err != nil {
					mine.errors++
					if mine.firstErr == nil {
						mine.firstErr = err
					}
					continue
				}
				mine.requests++
				mine.bytes += n
				mine.latencies = append(mine.latencies, lat)
			}
			mu.Lock()
			defer mu.Unlock()
			out.requests += mine.requests
			out.errors += mine.errors
			out.bytes += mine.bytes
			out.latencies = append(out.latencies, mine.latencies...)
			if out.firstErr == nil {
				out.firstErr = mine.firstErr
			}
		}()
	}
	wg.Wait()
	out.elapsed = time.Since(start)
	return out
}

// result is one target's figures at one concurrency, over all its slices.
type result struct {
	target      string
	concurrency int
	total       sample
	// perRound is the rate of each slice, in calls per second.
	perRound []float64
}

func (r result) rate() float64 { return float64(r.total.requests) / r.total.elapsed.Seconds() }

// measure loads every target for d at concurrency c, in rounds slices of
// d/rounds each, alternating the targets (in the given order in even
// rounds, reversed in odd ones), after a short warm-up of each.
func measure(ctx context.Context, targets []*target, c int, d time.Duration, rounds int) ([]result, error) {
	slice := d / time.Duration(rounds)
	for _, t := range targets {
		load(ctx, t, c, min(slice, time.Second))
	}
	results := make([]result, len(targets))
	for i, t := range targets {
		results[i] = result{target: t.name, concurrency: c}
	}
	for r := range rounds {
		for k := range targets {
			i := k
			if r%2 == 1 {
				i = len(targets) - 1 - k
			}
			s := load(ctx, targets[i], c, slice)
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			if s.errors > 0 {
				return nil, fmt.Errorf("%s: %d of %d calls failed at concurrency %d; first: %w",
					targets[i].name, s.errors, s.errors+s.requests, c, s.firstErr)
			}
			res := &results[i]
			res.total.requests += s.requests
			res.total.bytes += s.bytes
			res.total.elapsed += s.elapsed
			res.total.latencies = append(res.total.latencies, s.latencies...)
			res.perRound = append(res.perRound, float64(s.requests)/s.elapsed.Seconds())
		}
	}
	return results, nil
}

// profile writes a CPU profile of this process while t alone is loaded.
func profile(ctx context.Context, path string, t *target, c int, d time.Duration) (retErr error) {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer func() { retErr = errors.Join(retErr, f.Close()) }()
	if err := pprof.StartCPUProfile(f); err != nil {
		return err
	}
	s := load(ctx, t, c, d)
	pprof.StopCPUProfile()
	if s.errors > 0 {
		return fmt.Errorf("%s: %d calls failed while profiling; first: %w", t.name, s.errors, s.firstErr)
	}
	progress("Profiled %d calls (%.0f/s)", s.requests, float64(s.requests)/s.elapsed.Seconds())
	return ctx.Err()
}
