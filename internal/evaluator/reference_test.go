package evaluator

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
)

// reference is a deliberately naive implementation of SPEC section 4 to
// check the Index against: it loops over every trigger and keeps pending
// crossings in a map keyed by lead and trigger name.
type reference struct {
	leads   map[string]*refLead
	pending map[refKey]Pending
}

type refLead struct {
	seen  bool
	score int64
}

type refKey struct {
	lead, trigger string
}

func newReference() *reference {
	return &reference{leads: map[string]*refLead{}, pending: map[refKey]Pending{}}
}

// evaluate applies ev with the OU's current triggers and returns the
// firings sorted by threshold, then name.
func (r *reference) evaluate(triggers []Trigger, ev Event) []Firing {
	lead, ok := r.leads[ev.LeadID]
	if !ok {
		lead = &refLead{}
		r.leads[ev.LeadID] = lead
	}
	var out []Firing
	for key, p := range r.pending {
		if key.lead != ev.LeadID {
			continue
		}
		t, found := findTrigger(triggers, key.trigger)
		if !found || !t.Active || t.UID != p.UID || t.Threshold != p.Threshold || ev.Score < p.Threshold {
			delete(r.pending, key)
			continue
		}
		if t.EventType == "" || t.EventType == ev.Type {
			out = append(out, Firing{Trigger: t.Name, UID: t.UID, Threshold: t.Threshold, FromPending: true})
			delete(r.pending, key)
		}
	}
	for _, t := range triggers {
		wasBelow := !lead.seen || lead.score < t.Threshold
		if !t.Active || !wasBelow || ev.Score < t.Threshold {
			continue
		}
		if t.EventType == "" || t.EventType == ev.Type {
			out = append(out, Firing{Trigger: t.Name, UID: t.UID, Threshold: t.Threshold})
		} else {
			r.pending[refKey{ev.LeadID, t.Name}] = Pending{Trigger: t.Name, UID: t.UID, Threshold: t.Threshold}
		}
	}
	lead.seen, lead.score = true, ev.Score
	slices.SortFunc(out, compareFirings)
	return out
}

// pendingOf returns the reference's pending crossings of lead, sorted.
func (r *reference) pendingOf(lead string) []Pending {
	var out []Pending
	for key, p := range r.pending {
		if key.lead == lead {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, comparePending)
	return out
}

func findTrigger(triggers []Trigger, name string) (Trigger, bool) {
	for _, t := range triggers {
		if t.Name == name {
			return t, true
		}
	}
	return Trigger{}, false
}

func comparePending(a, b Pending) int {
	return compareFirings(Firing{Trigger: a.Trigger, Threshold: a.Threshold}, Firing{Trigger: b.Trigger, Threshold: b.Threshold})
}

// chooser is a source of choices for a generated sequence.
type chooser interface {
	// intn returns a choice in [0, n), n > 0.
	intn(n int) int
	// done reports whether the sequence should end.
	done() bool
}

// randChooser draws choices from a seeded generator for a fixed number of
// choices.
type randChooser struct {
	r    *rand.Rand
	left int
}

func (c *randChooser) intn(n int) int { c.left--; return c.r.IntN(n) }
func (c *randChooser) done() bool     { return c.left <= 0 }

// byteChooser draws choices from fuzz input bytes.
type byteChooser struct {
	data []byte
}

func (c *byteChooser) intn(n int) int {
	if len(c.data) == 0 {
		return 0
	}
	b := c.data[0]
	c.data = c.data[1:]
	return int(b) % n
}

func (c *byteChooser) done() bool { return len(c.data) == 0 }

// Bounds that keep one generated sequence quick to check.
const (
	maxTriggers  = 16
	maxFuzzBytes = 4096
)

var (
	triggerTypes = []string{"", "", "click", "open"}
	eventTypes   = []string{"click", "open", "view", ""}
	leadIDs      = []string{"lead-a", "lead-b", "lead-c"}
)

// world is a generated OU: its triggers and the lead states on both sides.
type world struct {
	c        chooser
	triggers []Trigger
	ix       *Index
	ref      *reference
	states   map[string]LeadState
	next     int // next trigger name or UID number
	events   int
}

func newWorld(c chooser) *world {
	w := &world{c: c, ref: newReference(), states: map[string]LeadState{}}
	for n := 1 + c.intn(6); n > 0; n-- {
		w.triggers = append(w.triggers, w.newTrigger(fmt.Sprintf("t%d", w.next)))
	}
	w.ix = NewIndex(w.triggers)
	return w
}

func (w *world) newTrigger(name string) Trigger {
	w.next++
	return Trigger{
		Name:      name,
		UID:       fmt.Sprintf("%s#%d", name, w.next),
		EventType: triggerTypes[w.c.intn(len(triggerTypes))],
		Threshold: w.threshold(),
		Active:    w.c.intn(4) != 0,
	}
}

func (w *world) threshold() int64 { return int64(w.c.intn(21) - 10) }

// change alters the trigger set: re-threshold, deactivate, reactivate,
// delete, re-create with a new UID, retype, or add (replacing one when the
// set is full).
func (w *world) change() {
	op := w.c.intn(7)
	if op == 6 && len(w.triggers) < maxTriggers || len(w.triggers) == 0 {
		w.triggers = append(w.triggers, w.newTrigger(fmt.Sprintf("t%d", w.next)))
		w.ix = NewIndex(w.triggers)
		return
	}
	i := w.c.intn(len(w.triggers))
	t := &w.triggers[i]
	switch op {
	case 0:
		t.Threshold = w.threshold()
	case 1:
		t.Active = false
	case 2:
		t.Active = true
	case 3:
		w.triggers = slices.Delete(w.triggers, i, i+1)
	case 4:
		*t = w.newTrigger(t.Name)
	case 5:
		t.EventType = triggerTypes[w.c.intn(len(triggerTypes))]
	case 6:
		*t = w.newTrigger(fmt.Sprintf("t%d", w.next))
	}
	w.ix = NewIndex(w.triggers)
}

// event generates an event: mostly a small move of the lead's score,
// sometimes a jump.
func (w *world) event() Event {
	lead := leadIDs[w.c.intn(len(leadIDs))]
	score := w.states[lead].Score
	if w.c.intn(4) == 0 {
		score = int64(w.c.intn(31) - 15)
	} else {
		score += int64(w.c.intn(9) - 4)
	}
	w.events++
	return Event{ID: fmt.Sprint(w.events), LeadID: lead, Type: eventTypes[w.c.intn(len(eventTypes))], Score: score}
}

// step plays one change or event and reports a mismatch with the reference.
func (w *world) step() error {
	if w.c.intn(8) == 0 {
		w.change()
		return nil
	}
	ev := w.event()
	want := w.ref.evaluate(w.triggers, ev)
	st, got := w.ix.Evaluate(w.states[ev.LeadID], ev, nil)
	w.states[ev.LeadID] = st
	if !slices.IsSortedFunc(got, compareFirings) {
		return fmt.Errorf("event %+v: firings not ordered: %+v", ev, got)
	}
	if !sameFirings(got, want) {
		return fmt.Errorf("event %+v with triggers %+v: firings = %+v, want %+v", ev, w.triggers, got, want)
	}
	pending := slices.SortedFunc(slices.Values(st.Pending), comparePending)
	if wantPending := w.ref.pendingOf(ev.LeadID); !samePending(pending, wantPending) {
		return fmt.Errorf("event %+v with triggers %+v: pending = %+v, want %+v", ev, w.triggers, pending, wantPending)
	}
	if !st.Seen || st.Score != ev.Score {
		return fmt.Errorf("event %+v: state seen %v score %d", ev, st.Seen, st.Score)
	}
	return nil
}

// play runs the generated sequence to its end.
func play(c chooser) error {
	w := newWorld(c)
	for !c.done() {
		if err := w.step(); err != nil {
			return err
		}
	}
	return nil
}

func TestEvaluateMatchesReference(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			c := &randChooser{r: rand.New(rand.NewPCG(seed, 0x6d696c6573746f6e)), left: 40000}
			if err := play(c); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func FuzzEvaluateMatchesReference(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{3, 0, 2, 10, 1, 1, 0, 5, 1, 3, 1, 1, 1, 0, 2, 9, 1, 2, 1, 0})
	f.Add([]byte("a longer seed that exercises changes and events alike"))
	seed := rand.New(rand.NewPCG(7, 7))
	for range 4 {
		b := make([]byte, 512)
		for i := range b {
			b[i] = byte(seed.UintN(256))
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		data = data[:min(len(data), maxFuzzBytes)]
		if err := play(&byteChooser{data: data}); err != nil {
			t.Fatal(err)
		}
	})
}

// TestReferenceSanity guards the reference against drifting with the code
// under test: a few hand-checked facts.
func TestReferenceSanity(t *testing.T) {
	r := newReference()
	triggers := []Trigger{click10, any20}
	got := [][]Firing{
		r.evaluate(triggers, Event{LeadID: "L", Type: "open", Score: 25}),
		r.evaluate(triggers, Event{LeadID: "L", Type: "click", Score: 25}),
		r.evaluate(triggers, Event{LeadID: "L", Type: "click", Score: 26}),
	}
	want := [][]Firing{{fire(any20)}, {firePending(click10)}, nil}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("reference firings = %+v, want %+v", got, want)
	}
}
