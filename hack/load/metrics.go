package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// consumedMetric is the operator's counter of events its evaluator has
// consumed. It is optional: without it (or without --metrics-url) the tool
// measures the end-to-end rate from the deliveries alone.
const consumedMetric = "milestone_triggers_events_consumed_total"

// scrapeConsumed returns the sum of consumedMetric over its label sets, and
// false when the endpoint does not expose it.
func scrapeConsumed(ctx context.Context, url string) (float64, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, false, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, false, fmt.Errorf("%s answered %s", url, resp.Status)
	}
	var sum float64
	found := false
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, consumedMetric)
		if !ok || rest == "" || (rest[0] != ' ' && rest[0] != '{') {
			continue
		}
		if i := strings.LastIndexByte(rest, '}'); i >= 0 {
			rest = rest[i+1:]
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			continue
		}
		sum += v
		found = true
	}
	return sum, found, sc.Err()
}

// consumedWatch polls the counter until it has grown by want, and records
// when it did (to the polling interval).
type consumedWatch struct {
	url     string
	base    float64
	reached chan time.Time
}

// watchConsumed reads the counter's value now; ok is false when there is
// nothing to watch.
func watchConsumed(ctx context.Context, url string) (*consumedWatch, bool, error) {
	if url == "" {
		return nil, false, nil
	}
	base, found, err := scrapeConsumed(ctx, url)
	if err != nil || !found {
		return nil, false, err
	}
	return &consumedWatch{url: url, base: base, reached: make(chan time.Time, 1)}, true, nil
}

// run polls every 50ms until the counter is base+want() or ctx ends; want
// returns 0 while the total is not known yet.
func (w *consumedWatch) run(ctx context.Context, want func() int) {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		n := want()
		if n == 0 {
			continue
		}
		v, _, err := scrapeConsumed(ctx, w.url)
		if err == nil && v-w.base >= float64(n) {
			w.reached <- time.Now()
			return
		}
	}
}
