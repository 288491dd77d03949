package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"

	"github.com/leadvibe/milestone-triggers-operator/internal/event"
)

// eventKind is one kind of engagement event: how often it happens and how
// the scoring engine moves a lead's score for it, by lo..hi points (a
// negative span lowers the score), or, for decay, by lo..hi percent of the
// score.
type eventKind struct {
	name     string
	weight   int
	lo, hi   int64
	decay    bool
	metadata json.RawMessage
}

// kinds is the mix of events: mostly page views and email activity that
// add a little, a few strong signals (forms, webinars, demo requests) that
// add a lot, and the scoring engine's own decay and the unsubscribes that
// take score away (decay in proportion to the score, so that busy leads
// hover around the middle of the range instead of sticking at the top), so
// that scores walk up and down and leads cross, go pending and re-arm.
var kinds = []eventKind{
	{name: "page_view", weight: 46, lo: 1, hi: 3, metadata: metadataOf("website", "/pricing", "organic")},
	{name: "email_open", weight: 18, lo: 1, hi: 2, metadata: metadataOf("email", "/newsletter/2026-11", "email")},
	{name: "email_click", weight: 9, lo: 2, hi: 5, metadata: metadataOf("email", "/blog/lead-scoring", "email")},
	{name: "content_download", weight: 5, lo: 4, hi: 8, metadata: metadataOf("website", "/whitepapers/scoring", "paid")},
	{name: "form_submit", weight: 5, lo: 6, hi: 12, metadata: metadataOf("website", "/contact", "organic")},
	{name: "webinar_attend", weight: 2, lo: 8, hi: 15, metadata: metadataOf("webinar", "/webinars/q4-launch", "email")},
	{name: "demo_request", weight: 2, lo: 15, hi: 25, metadata: metadataOf("website", "/demo", "paid")},
	{name: "score_decay", weight: 11, lo: 10, hi: 30, decay: true, metadata: metadataOf("scoring-engine", "/", "none")},
	{name: "email_unsubscribe", weight: 2, lo: -30, hi: -15, metadata: metadataOf("email", "/unsubscribe", "email")},
}

// typedKinds are the event types some triggers wait for.
var typedKinds = []string{"demo_request", "form_submit", "email_click", "webinar_attend"}

func metadataOf(source, page, medium string) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"source":%q,"page":%q,"campaign":"spring-launch","utm_medium":%q,"referrer":"https://www.example.com/blog/scoring"}`, source, page, medium))
}

// workload generates the events: a random walk of each lead's score, with
// leads picked from a Zipf distribution, P(rank k) proportional to
// (v+k)^-s (a few leads are very active, most are seen a few times; v
// flattens the head so that no single lead dominates) and kinds picked by weight. It is deterministic for
// a seed, so the raw stream's measurement can publish the same events again.
type workload struct {
	run      string
	ous      int
	maxScore int64
	rng      *rand.Rand
	zipf     *rand.Zipf
	kindSum  int
	scores   []int64
	seq      int
}

// newWorkload makes the generator. Lead l belongs to OU l % ous, so the
// busiest leads are spread over the OUs.
func newWorkload(run string, seed uint64, leads, ous int, zipfS, zipfV float64, maxScore int64) *workload {
	rng := rand.New(rand.NewPCG(seed, 0x10ad))
	w := &workload{
		run:      run,
		ous:      ous,
		maxScore: maxScore,
		rng:      rng,
		zipf:     rand.NewZipf(rng, zipfS, zipfV, uint64(leads-1)),
		scores:   make([]int64, leads),
	}
	for _, k := range kinds {
		w.kindSum += k.weight
	}
	return w
}

// next returns the next event, its OU's index and its lead's index. The
// caller sets CreatedAt.
func (w *workload) next() (ou, lead int, ev event.Event) {
	lead = int(w.zipf.Uint64())
	k := w.kind()
	delta := k.lo + w.rng.Int64N(k.hi-k.lo+1)
	if k.decay {
		delta = -1 - w.scores[lead]*delta/100
	}
	score := min(w.maxScore, max(0, w.scores[lead]+delta))
	w.scores[lead] = score
	ev = event.Event{
		ID:        fmt.Sprintf("evt-%s-%09d", w.run, w.seq),
		LeadID:    leadID(w.run, lead),
		EventType: k.name,
		Score:     score,
		Metadata:  k.metadata,
	}
	w.seq++
	return lead % w.ous, lead, ev
}

func (w *workload) kind() *eventKind {
	n := w.rng.IntN(w.kindSum)
	for i := range kinds {
		if n < kinds[i].weight {
			return &kinds[i]
		}
		n -= kinds[i].weight
	}
	return &kinds[len(kinds)-1]
}

// sentinel is the last event of an OU: a lead never seen before reaching
// the OU's lowest threshold, which fires that OU's first trigger (untyped).
// The stream is evaluated in order, so its delivery comes after every
// other event of the run has been evaluated.
func (w *workload) sentinel(ou int, threshold int64) event.Event {
	ev := event.Event{
		ID:        fmt.Sprintf("evt-%s-end-%d", w.run, ou),
		LeadID:    fmt.Sprintf("ld-%s-end-%d", w.run, ou),
		EventType: "page_view",
		Score:     threshold,
		Metadata:  kinds[0].metadata,
	}
	return ev
}

func leadID(run string, lead int) string { return fmt.Sprintf("ld-%s-%d", run, lead) }
