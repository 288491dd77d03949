package streamauth

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/nats-io/nats-server/v2/server"

	"github.com/leadvibe/milestone-triggers-operator/internal/ratelimit"
)

// DefaultThrottleInterval is how often the Throttle counts what the
// listener's clients published.
const DefaultThrottleInterval = time.Second

// Throttle holds the stream listener's publishers to their OUs' event
// budget, the one POST /events draws on. NATS has no hook on each message,
// so the Throttle counts after the fact: every Interval it reads, from the
// embedded server, how many messages each admitted connection published
// since the last count, and charges them to the connection's OUs. An OU
// that goes over its budget has its connections closed, and the callout
// refuses its publishers until its bucket is out of debt (they reconnect
// then, as NATS clients do). What was published before the count is
// stored: an OU can exceed its budget by at most one interval's worth.
//
// It is a manager Runnable; the Service tells it whom it admitted.
type Throttle struct {
	// Server is the embedded server whose listener is throttled.
	Server *server.Server
	// Limits are the OUs' budgets, shared with POST /events.
	Limits *ratelimit.OUs
	// Interval: DefaultThrottleInterval when zero.
	Interval time.Duration
	Log      logr.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	mu      sync.Mutex
	clients map[uint64]*counted // by connection id
	blocked map[string]time.Time
}

// counted is an admitted connection: its OUs, and the messages it had
// published at the last count.
type counted struct {
	ous    []string
	inMsgs int64
}

// NeedLeaderElection is false: each replica throttles its own listener.
func (t *Throttle) NeedLeaderElection() bool { return false }

func (t *Throttle) init() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.clients == nil {
		t.clients, t.blocked = map[uint64]*counted{}, map[string]time.Time{}
	}
	if t.Now == nil {
		t.Now = time.Now
	}
}

// admitted records a connection the callout let in for ous.
func (t *Throttle) admitted(cid uint64, ous []string) {
	if t == nil {
		return
	}
	t.init()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.clients[cid] = &counted{ous: ous}
}

// refusal is why a publisher of ous may not connect now, or nil.
func (t *Throttle) refusal(ous []string) error {
	if t == nil {
		return nil
	}
	t.init()
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.Now()
	for _, ou := range ous {
		if until, ok := t.blocked[ou]; ok && now.Before(until) {
			return fmt.Errorf("OU %q is over its event rate limit; retry in %d seconds", ou, int(math.Ceil(until.Sub(now).Seconds())))
		}
	}
	return nil
}

// Start counts every Interval until ctx ends.
func (t *Throttle) Start(ctx context.Context) error {
	t.init()
	if t.Interval <= 0 {
		t.Interval = DefaultThrottleInterval
	}
	tick := time.NewTicker(t.Interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			if err := t.count(); err != nil {
				t.Log.Error(err, "Counting the stream listener's publishes")
			}
		}
	}
}

// count charges each admitted connection's publishes since the last count
// to its OUs, and closes the connections of the OUs over their budget.
func (t *Throttle) count() error {
	published := map[uint64]int64{}
	for offset := 0; ; {
		// Every connection: the admitted ones are picked out below. (The
		// server's filter by account reads its clients unlocked: a data
		// race under -race.)
		page, err := t.Server.Connz(&server.ConnzOptions{Offset: offset, Limit: 1024})
		if err != nil {
			return err
		}
		for _, c := range page.Conns {
			published[c.Cid] = c.InMsgs
		}
		offset += len(page.Conns)
		if len(page.Conns) == 0 || offset >= page.Total {
			break
		}
	}

	t.mu.Lock()
	now := t.Now()
	charges := map[string]int64{}
	for cid, c := range t.clients {
		in, open := published[cid]
		if !open {
			delete(t.clients, cid)
			continue
		}
		for _, ou := range c.ous {
			charges[ou] += in - c.inMsgs
		}
		c.inMsgs = in
	}
	for ou, until := range t.blocked {
		if !now.Before(until) {
			delete(t.blocked, ou)
		}
	}
	for ou, n := range charges {
		if over := t.Limits.Charge(ou, int(n)); over > 0 {
			t.blocked[ou] = now.Add(over)
		}
	}
	var closing []uint64
	for cid, c := range t.clients {
		for _, ou := range c.ous {
			if _, over := t.blocked[ou]; over {
				closing = append(closing, cid)
				delete(t.clients, cid)
				break
			}
		}
	}
	t.mu.Unlock()

	for _, cid := range closing {
		t.Log.Info("Closing a stream publisher over its OU's event rate limit", "cid", cid)
		if err := t.Server.DisconnectClientByID(cid); err != nil {
			t.Log.V(1).Info("Closing a stream publisher", "cid", cid, "error", err.Error())
		}
	}
	return nil
}
