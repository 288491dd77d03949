package evaluator

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// reference is a deliberately naive implementation of SPEC section 4, with
// rearmBelow and cooldowns, to check the Index against: it loops over every
// trigger and keeps pending crossings, disarms and last firings in maps
// keyed by lead and trigger name. Unlike the Index, it keeps a disarm for
// every trigger the lead is at or above, with or without a rearm level.
type reference struct {
	leads   map[string]*refLead
	pending map[refKey]Pending
	// disarmed: the lead reached the trigger's threshold and has not
	// dropped below its rearm level since (recorded with the trigger's
	// UID, threshold and epoch then).
	disarmed map[refKey]Disarmed
	// fired: the trigger's last firing for the lead, while its cooldown
	// runs.
	fired map[refKey]Cooldown
}

type refLead struct {
	seen  bool
	score int64
}

type refKey struct {
	lead, trigger string
}

func newReference() *reference {
	return &reference{leads: map[string]*refLead{}, pending: map[refKey]Pending{},
		disarmed: map[refKey]Disarmed{}, fired: map[refKey]Cooldown{}}
}

// refRearm is the score below which a lead re-arms for t.
func refRearm(t Trigger) int64 {
	if t.RearmBelow == nil || *t.RearmBelow >= t.Threshold {
		return t.Threshold
	}
	return *t.RearmBelow
}

// evaluate applies ev with the OU's current triggers and returns the
// firings sorted by threshold, then name.
func (r *reference) evaluate(triggers []Trigger, ev Event) []Firing {
	lead, ok := r.leads[ev.LeadID]
	if !ok {
		lead = &refLead{}
		r.leads[ev.LeadID] = lead
	}
	r.endCooldowns(triggers, ev)
	disarmed := r.disarmedBefore(triggers, ev.LeadID, lead)
	out := r.settlePending(triggers, ev, lead)
	for _, t := range triggers {
		key := refKey{ev.LeadID, t.Name}
		if !t.Active || disarmed[t.Name] || ev.Score < t.Threshold {
			continue
		}
		if _, cooling := r.fired[key]; cooling {
			continue
		}
		if t.EventType == "" || t.EventType == ev.Type {
			out = append(out, r.fire(t, ev, false))
		} else {
			r.pending[key] = Pending{Trigger: t.Name, UID: t.UID, Threshold: t.Threshold, Epoch: t.Epoch}
		}
	}
	// Disarmed after the event: at or above the threshold, or disarmed
	// and not below the rearm level.
	for key := range r.disarmed {
		if key.lead == ev.LeadID {
			delete(r.disarmed, key)
		}
	}
	for _, t := range triggers {
		if t.Active && (ev.Score >= t.Threshold || disarmed[t.Name] && ev.Score >= refRearm(t)) {
			r.disarmed[refKey{ev.LeadID, t.Name}] = Disarmed{Trigger: t.Name, UID: t.UID, Threshold: t.Threshold, Epoch: t.Epoch}
		}
	}
	lead.seen, lead.score = true, ev.Score
	slices.SortFunc(out, compareFirings)
	return out
}

// current returns the active trigger named name.
func current(triggers []Trigger, name string) (Trigger, bool) {
	t, found := findTrigger(triggers, name)
	return t, found && t.Active
}

// endCooldowns forgets the lead's cooldowns that ran out by the event's
// time, or whose trigger changed.
func (r *reference) endCooldowns(triggers []Trigger, ev Event) {
	for key, c := range r.fired {
		if key.lead != ev.LeadID {
			continue
		}
		t, ok := current(triggers, key.trigger)
		if !ok || t.UID != c.UID || t.Epoch != c.Epoch || t.Cooldown <= 0 || ev.At.Sub(c.FiredAt) >= t.Cooldown {
			delete(r.fired, key)
		}
	}
}

// disarmedBefore says, per trigger name, whether the lead is disarmed
// before the event.
func (r *reference) disarmedBefore(triggers []Trigger, leadID string, lead *refLead) map[string]bool {
	disarmed := map[string]bool{}
	for _, t := range triggers {
		if !t.Active || !lead.seen {
			continue
		}
		d, marked := r.disarmed[refKey{leadID, t.Name}]
		marked = marked && d.UID == t.UID && d.Threshold == t.Threshold && d.Epoch == t.Epoch
		disarmed[t.Name] = lead.score >= t.Threshold || marked && lead.score >= refRearm(t)
	}
	return disarmed
}

// settlePending drops the lead's pending crossings that are invalid or
// re-armed, and fires those the event matches at or above the threshold.
func (r *reference) settlePending(triggers []Trigger, ev Event, lead *refLead) []Firing {
	var out []Firing
	for key, p := range r.pending {
		if key.lead != ev.LeadID {
			continue
		}
		t, ok := current(triggers, key.trigger)
		if !ok || t.UID != p.UID || t.Threshold != p.Threshold || t.Epoch != p.Epoch || lead.score < refRearm(t) || ev.Score < refRearm(t) {
			delete(r.pending, key)
			continue
		}
		if ev.Score >= t.Threshold && (t.EventType == "" || t.EventType == ev.Type) {
			out = append(out, r.fire(t, ev, true))
			delete(r.pending, key)
		}
	}
	return out
}

// fire records t's firing for the event's lead, and its cooldown.
func (r *reference) fire(t Trigger, ev Event, fromPending bool) Firing {
	if t.Cooldown > 0 {
		r.fired[refKey{ev.LeadID, t.Name}] = Cooldown{Trigger: t.Name, UID: t.UID, Epoch: t.Epoch, FiredAt: ev.At}
	}
	return Firing{Trigger: t.Name, UID: t.UID, Threshold: t.Threshold, FromPending: fromPending}
}

// disarmedOf returns the reference's disarms of lead that the Index keeps:
// those of triggers with a rearm level below the threshold, while the
// lead's score is between the two. Sorted by trigger name.
func (r *reference) disarmedOf(lead string, triggers []Trigger) []Disarmed {
	var out []Disarmed
	score := r.leads[lead].score
	for key, d := range r.disarmed {
		t, _ := findTrigger(triggers, key.trigger)
		if key.lead == lead && refRearm(t) <= score && score < t.Threshold {
			out = append(out, d)
		}
	}
	slices.SortFunc(out, func(a, b Disarmed) int { return strings.Compare(a.Trigger, b.Trigger) })
	return out
}

// cooldownsOf returns the reference's running cooldowns of lead, sorted by
// trigger name.
func (r *reference) cooldownsOf(lead string) []Cooldown {
	var out []Cooldown
	for key, c := range r.fired {
		if key.lead == lead {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b Cooldown) int { return strings.Compare(a.Trigger, b.Trigger) })
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
	now      time.Time // the time of the last event
	// plain worlds' triggers have neither rearm levels nor cooldowns, so
	// that every event takes Evaluate's plain path.
	plain bool
}

func newWorld(c chooser) *world { return newWorldOf(c, false) }

func newWorldOf(c chooser, plain bool) *world {
	w := &world{c: c, ref: newReference(), states: map[string]LeadState{}, now: time.Date(2025, 1, 15, 10, 0, 0, 0, time.UTC), plain: plain}
	for n := 1 + c.intn(6); n > 0; n-- {
		w.triggers = append(w.triggers, w.newTrigger(fmt.Sprintf("t%d", w.next)))
	}
	w.ix = NewIndex(w.triggers)
	return w
}

func (w *world) newTrigger(name string) Trigger {
	w.next++
	t := Trigger{
		Name:      name,
		UID:       fmt.Sprintf("%s#%d", name, w.next),
		EventType: triggerTypes[w.c.intn(len(triggerTypes))],
		Threshold: w.threshold(),
		Active:    w.c.intn(4) != 0,
	}
	t.RearmBelow = w.rearm(t.Threshold)
	t.Cooldown = w.cooldown()
	return t
}

func (w *world) threshold() int64 { return int64(w.c.intn(21) - 10) }

// rearm is none a third of the time, else a little below threshold, and
// now and then at or above it (which counts as none).
func (w *world) rearm(threshold int64) *int64 {
	if w.plain || w.c.intn(3) == 0 {
		return nil
	}
	r := threshold - int64(w.c.intn(8)) + 1
	return &r
}

// cooldown is none half of the time, else a few minutes (events are
// minutes apart), now and then negative (which counts as none).
func (w *world) cooldown() time.Duration {
	if w.plain || w.c.intn(2) == 0 {
		return 0
	}
	return time.Duration(w.c.intn(12)-1) * time.Minute
}

// change alters the trigger set: re-threshold, deactivate, reactivate,
// delete, re-create with a new UID, retype, add (replacing one when the set
// is full), change the rearm level or the cooldown, or move to a new epoch.
func (w *world) change() {
	op := w.c.intn(10)
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
	case 7:
		t.RearmBelow = w.rearm(t.Threshold)
	case 8:
		t.Cooldown = w.cooldown()
	case 9:
		t.Epoch++
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
	// Mostly forward by 0 to 3 minutes; now and then back by 2, as a
	// client's created_at may be.
	if w.c.intn(8) == 0 {
		w.now = w.now.Add(-2 * time.Minute)
	} else {
		w.now = w.now.Add(time.Duration(w.c.intn(4)) * time.Minute)
	}
	return Event{ID: fmt.Sprint(w.events), LeadID: lead, Type: eventTypes[w.c.intn(len(eventTypes))], Score: score, At: w.now}
}

// step plays one change or event and reports a mismatch with the reference.
func (w *world) step() error {
	if w.c.intn(8) == 0 {
		w.change()
		return nil
	}
	ev := w.event()
	want := w.ref.evaluate(w.triggers, ev)
	if w.plain {
		if err := w.checkPlain(ev); err != nil {
			return err
		}
	}
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
	if !slices.IsSortedFunc(disarmedIn(st), disarmedOrder) || !slices.IsSortedFunc(cooldownsIn(st), cooldownOrder) {
		return fmt.Errorf("event %+v: disarmed %+v or cooldowns %+v out of order", ev, disarmedIn(st), cooldownsIn(st))
	}
	if want := w.ref.disarmedOf(ev.LeadID, w.triggers); !sameDisarmed(disarmedIn(st), want) {
		return fmt.Errorf("event %+v with triggers %+v: disarmed = %+v, want %+v", ev, w.triggers, disarmedIn(st), want)
	}
	if want := w.ref.cooldownsOf(ev.LeadID); !sameCooldowns(cooldownsIn(st), want) {
		return fmt.Errorf("event %+v with triggers %+v: cooldowns = %+v, want %+v", ev, w.triggers, cooldownsIn(st), want)
	}
	if !st.Seen || st.Score != ev.Score {
		return fmt.Errorf("event %+v: state seen %v score %d", ev, st.Seen, st.Score)
	}
	return nil
}

// checkPlain reports an error unless ev takes Evaluate's plain path in a
// plain world and the general path decides it alike.
func (w *world) checkPlain(ev Event) error {
	st := w.states[ev.LeadID]
	if !w.ix.plain(st.Holds) {
		return fmt.Errorf("event %+v with triggers %+v: not on the plain path", ev, w.triggers)
	}
	plainState, plainFired := w.ix.evaluatePlain(st.Clone(), ev, nil)
	state, fired := w.ix.evaluate(st.Clone(), ev, nil)
	if !reflect.DeepEqual(plainFired, fired) {
		return fmt.Errorf("event %+v with triggers %+v: plain path fired %+v, general %+v", ev, w.triggers, plainFired, fired)
	}
	if plainState.Seen != state.Seen || plainState.Score != state.Score || !samePending(plainState.Pending, state.Pending) || !state.Holds.IsZero() {
		return fmt.Errorf("event %+v with triggers %+v: plain path left %+v, general %+v", ev, w.triggers, plainState, state)
	}
	return nil
}

// play runs the generated sequence to its end.
func play(c chooser) error { return playWorld(newWorld(c)) }

// playWorld runs w's generated sequence to its end.
func playWorld(w *world) error {
	c := w.c
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

// TestPlainPathMatchesReference plays worlds whose triggers use neither
// setting, where every event takes the plain path, against the reference
// and the general path.
func TestPlainPathMatchesReference(t *testing.T) {
	for seed := uint64(1); seed <= 10; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			c := &randChooser{r: rand.New(rand.NewPCG(seed, 0x706c61696e)), left: 40000}
			if err := playWorld(newWorldOf(c, true)); err != nil {
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
