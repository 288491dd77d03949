package notify

import "sync"

// limiter bounds the attempts to one destination at once, so a slow
// receiver cannot take every delivery slot.
type limiter struct {
	per   int
	mu    sync.Mutex
	slots map[string]chan struct{}
}

func newLimiter(per int) *limiter { return &limiter{per: per, slots: map[string]chan struct{}{}} }

func (l *limiter) acquire(key string) (release func()) {
	l.mu.Lock()
	ch := l.slots[key]
	if ch == nil {
		ch = make(chan struct{}, l.per)
		l.slots[key] = ch
	}
	l.mu.Unlock()
	ch <- struct{}{}
	return func() { <-ch }
}
