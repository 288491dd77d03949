package notify

import "sync"

// turns makes the handlings of one firing take turns: its outbox message
// and a re-send command may be offered at once, and two handlings of one
// delivery state at once would make the same attempt twice (the
// compare-and-swap refuses the second state, but cannot take back its
// attempt). A turn lasts from reading the state to saving it.
type turns struct {
	mu    sync.Mutex
	turns map[string]*turn
}

// turn is one firing's lock, and how many handlings hold or wait for it.
type turn struct {
	lock  chan struct{}
	users int
}

func newTurns() *turns { return &turns{turns: map[string]*turn{}} }

// take waits for the firing's turn and returns the function that ends it.
func (t *turns) take(firingID string) (done func()) {
	t.mu.Lock()
	tn := t.turns[firingID]
	if tn == nil {
		tn = &turn{lock: make(chan struct{}, 1)}
		t.turns[firingID] = tn
	}
	tn.users++
	t.mu.Unlock()
	tn.lock <- struct{}{}
	var once sync.Once
	return func() {
		once.Do(func() {
			<-tn.lock
			t.mu.Lock()
			if tn.users--; tn.users == 0 {
				delete(t.turns, firingID)
			}
			t.mu.Unlock()
		})
	}
}
