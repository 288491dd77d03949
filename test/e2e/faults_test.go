package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/leadvibe/milestone-triggers-operator/internal/localsystem"
	"github.com/leadvibe/milestone-triggers-operator/internal/stream"
)

var _ = Describe("Faults", Ordered, func() {
	// Whatever happens in a spec, the operator runs again after it.
	AfterEach(func() {
		select {
		case <-operator.Exited():
			Expect(operator.Start(suiteCtx)).To(Succeed())
		default:
		}
	})

	It("skips a poison event with its reason and evaluates everything after it", func() {
		const ou = "e2e-poison"
		newOU(ou)
		apply(ou, trigger{Name: "any", Threshold: 50, Webhook: true})
		pub := connectNATS()
		defer pub.close()

		poison := []struct{ id, data, reason string }{
			{"poison-json", `{"id":"poison-json","lead_id":"ld-a","event_type":"page_view","score":`, "invalid JSON"},
			{"poison-field", `{"id":"poison-field","lead_id":"ld-a","event_type":"page_view","score":"high"}`, "score: must be an integer"},
		}
		pub.mustPublish(ou, event{ID: "ok-1", LeadID: "ld-a", EventType: "page_view", Score: 10})
		ctx, cancel := context.WithTimeout(suiteCtx, time.Minute)
		defer cancel()
		for _, p := range poison {
			_, err := pub.publish(ctx, ou, p.id, []byte(p.data))
			Expect(err).NotTo(HaveOccurred())
		}
		pub.mustPublish(ou,
			event{ID: "ok-2", LeadID: "ld-a", EventType: "page_view", Score: 60},
			event{ID: "ok-3", LeadID: "ld-b", EventType: "form_submit", Score: 70},
		)

		want := []crossing{{"any", "ld-a", "ok-2"}, {"any", "ld-b", "ok-3"}}
		Eventually(func(g Gomega) {
			rep := report(receiver.received(ou), want)
			g.Expect(rep.exactlyOnce()).To(BeTrue(), rep.String())
		}).Should(Succeed())
		Eventually(func(g Gomega) {
			got := rejectedEvents(ou)
			g.Expect(got).To(HaveLen(len(poison)))
			for i, p := range poison {
				g.Expect(got[i].data).To(Equal(p.data))
				g.Expect(got[i].reason).To(ContainSubstring(p.reason))
			}
		}).Should(Succeed())
	})

	It("delivers everything once the receiver is back after being down", func() {
		const ou = "e2e-down"
		newOU(ou)
		apply(ou, trigger{Name: "any", Threshold: 10, Webhook: true})
		pub := connectNATS()
		defer pub.close()

		receiver.setDown(ou, true)
		var want []crossing
		var events []event
		for i := range 20 {
			ev := event{ID: fmt.Sprintf("down-%02d", i), LeadID: fmt.Sprintf("ld-down-%02d", i), EventType: "page_view", Score: 20}
			events = append(events, ev)
			want = append(want, crossing{"any", ev.LeadID, ev.ID})
		}
		pub.mustPublish(ou, events...)
		// The first failed attempt is retried 5 s later (±10%), the next
		// one 5 minutes later: the receiver stays down 3 s from the first
		// refusal, so every second attempt finds it up.
		Eventually(func() []webhookRequest { return receiver.received(ou) }, 30*time.Second, 20*time.Millisecond).ShouldNot(BeEmpty())
		downSince := receiver.received(ou)[0].At
		time.Sleep(time.Until(downSince.Add(3 * time.Second)))
		receiver.setDown(ou, false)
		refused := 0
		for _, r := range receiver.received(ou) {
			if r.Status == http.StatusServiceUnavailable {
				refused++
			}
		}

		var rep deliveryReport
		Eventually(func(g Gomega) {
			rep = report(receiver.received(ou), want)
			g.Expect(rep.exactlyOnce()).To(BeTrue(), rep.String())
		}).Should(Succeed())
		summary := fmt.Sprintf("receiver down 3s: %d requests refused with 503; %s", refused, rep)
		AddReportEntry("receiver-down counts", summary)
		Expect(refused).To(BeNumerically(">", 0))
		Expect(rep.DuplicateAttempts).To(BeNumerically(">=", refused), "every refused firing was attempted again under the same webhook-id")
	})

	It("neither loses nor repeats a firing when the operator is killed with SIGKILL again and again", func() {
		const (
			ou         = "e2e-kill"
			leads      = 200
			perLead    = 15
			publishers = 4
			// rate paces the publishers (events per second in all), so that
			// the events flow for a while.
			rate = 200
			// kills are made while events flow, at least lateKills more
			// after, while the firings are delivered, and at least
			// minKills in all.
			kills     = 12
			lateKills = 2
			minKills  = 12
		)
		seed := uint64(time.Now().UnixNano())
		if s := os.Getenv("E2E_SEED"); s != "" {
			var err error
			seed, err = strconv.ParseUint(s, 10, 64)
			Expect(err).NotTo(HaveOccurred(), "E2E_SEED")
		}
		rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
		triggers := []refTrigger{
			{ID: "any-50", Threshold: 50},
			{ID: "demo-75", Threshold: 75, EventType: "demo_request"},
			{ID: "form-100", Threshold: 100, EventType: "form_submit"},
		}
		events := generateEvents(rng, "k", leads, perLead)
		want := expectedCrossings(triggers, events)
		perTrigger := map[string]int{}
		for _, c := range want {
			perTrigger[c.Trigger]++
		}

		o := newOU(ou)
		for _, t := range triggers {
			apply(ou, trigger{Name: t.ID, EventType: t.EventType, Threshold: t.Threshold, Webhook: true})
		}

		// Each publisher owns some leads, so each lead's events are
		// published in order; two poison messages go in the middle.
		type message struct {
			id   string
			data []byte
		}
		parts := make([][]message, publishers)
		for _, ev := range events {
			n, err := strconv.Atoi(ev.LeadID[strings.LastIndex(ev.LeadID, "-")+1:])
			Expect(err).NotTo(HaveOccurred())
			parts[n%publishers] = append(parts[n%publishers], message{ev.ID, ev.json()})
		}
		poison := []message{
			{"k-poison-1", []byte(`{"id":"k-poison-1","lead_id":"k-lead-000",`)},
			{"k-poison-2", []byte(`{"id":"k-poison-2","lead_id":"k-lead-000","event_type":"page_view","score":1.5}`)},
		}
		third := len(parts[0]) / 3
		parts[0] = slices.Insert(parts[0], 2*third, poison[1])
		parts[0] = slices.Insert(parts[0], third, poison[0])
		total := len(events) + len(poison)

		var (
			published, retries atomic.Int64
			killed, killedLate int
			restarts           time.Duration
			rep                deliveryReport
			rejected           = "not checked"
			start              = time.Now()
		)
		defer func() {
			mean := time.Duration(0)
			if killed > 0 {
				mean = restarts / time.Duration(killed)
			}
			summary := fmt.Sprintf("kill -9 test (seed %d): %d events (+%d poison) over %d leads, %d published, %d publish retries; "+
				"%d kills (%d while events flowed, %d after; mean restart %s); expected firings %d %v; poison events rejected: %s; %s; %s in all",
				seed, len(events), len(poison), leads, published.Load(), retries.Load(),
				killed, killed-killedLate, killedLate, mean.Round(time.Millisecond), len(want), perTrigger, rejected, rep, time.Since(start).Round(time.Second))
			AddReportEntry("kill -9 counts", summary)
		}()

		pub := connectNATS()
		defer pub.close()
		ctx, cancel := context.WithTimeout(suiteCtx, 5*time.Minute)
		defer cancel()
		var wg sync.WaitGroup
		failures := make(chan error, publishers)
		began := time.Now()
		for _, part := range parts {
			wg.Go(func() {
				for _, m := range part {
					if ahead := time.Duration(published.Load())*time.Second/rate - time.Since(began); ahead > 0 {
						time.Sleep(ahead)
					}
					n, err := pub.publish(ctx, ou, m.id, m.data)
					retries.Add(int64(n))
					if err != nil {
						failures <- err
						return
					}
					published.Add(1)
				}
			})
		}
		publishing := make(chan struct{})
		go func() { wg.Wait(); close(publishing) }()

		kill := func() {
			GinkgoHelper()
			Expect(operator.Kill()).To(Succeed())
			killed++
			time.Sleep(time.Duration(rng.Int64N(int64(500 * time.Millisecond))))
			restarted := time.Now()
			Expect(operator.Start(suiteCtx)).To(Succeed())
			restarts += time.Since(restarted)
		}
		// Kill at random points of the flow of events, a random moment
		// after the count of published events passes each.
		points := make([]int64, kills)
		for i := range points {
			points[i] = int64(total/20) + rng.Int64N(int64(total*18/20))
		}
		slices.Sort(points)
		for _, at := range points {
			for published.Load() < at && !isClosed(publishing) {
				time.Sleep(5 * time.Millisecond)
			}
			if isClosed(publishing) {
				break
			}
			time.Sleep(time.Duration(rng.Int64N(int64(500 * time.Millisecond))))
			kill()
		}
		Eventually(publishing, 4*time.Minute).Should(BeClosed())
		Expect(failures).NotTo(Receive())
		for killedLate < lateKills || killed < minKills {
			time.Sleep(300*time.Millisecond + time.Duration(rng.Int64N(int64(2*time.Second))))
			kill()
			killedLate++
		}

		// Every crossing delivered; a redelivery after a kill (the receiver
		// may get one firing twice) keeps the firing's webhook-id.
		for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(time.Second) {
			rep = report(receiver.received(ou), want)
			if len(rep.Missing) == 0 || time.Now().After(deadline) {
				break
			}
		}
		Expect(rep.Missing).To(BeEmpty(), "%s\nWhat the history says of some of the missing:\n%s", rep, explainMissing(o.api, rep.Missing))
		Expect(rep.exactlyOnce()).To(BeTrue(), rep.String())
		Consistently(func(g Gomega) {
			rep = report(receiver.received(ou), want)
			g.Expect(rep.exactlyOnce()).To(BeTrue(), rep.String())
		}, 3*time.Second, 500*time.Millisecond).Should(Succeed())

		Eventually(func(g Gomega) {
			got := rejectedEvents(ou)
			rejected = strconv.Itoa(len(got))
			g.Expect(got).To(HaveLen(len(poison)))
			for i, p := range poison {
				g.Expect(got[i].data).To(Equal(string(p.data)))
				g.Expect(got[i].reason).NotTo(BeEmpty())
			}
		}).Should(Succeed())
		expectFiredCounts(ou, triggers, perTrigger)
	})

	// The crash-point specs start the operator with
	// MILESTONE_TRIGGERS_CRASH_IN_BATCH=<stream>:<n>, which makes it kill
	// itself with SIGKILL half-way through staging the nth atomic batch it
	// writes to that stream, before the batch's commit: a kill -9 at the one
	// moment a kill from outside hardly ever hits. They wait for it to die
	// on its own, restart it without the variable and check that nothing
	// was lost or repeated.

	It("neither loses nor repeats a firing when the operator kills itself half-way through staging an atomic batch of firings", func() {
		const (
			ou      = "e2e-crash-firings"
			leads   = 400
			perLead = 8
			// The operator dies in the second atomic batch of firings it
			// writes: the evaluator's firings of up to 512 events, about a
			// hundred here.
			crashAt = 2
		)
		seed, rng := faultRand()
		triggers := []refTrigger{
			{ID: "any-50", Threshold: 50},
			{ID: "demo-75", Threshold: 75, EventType: "demo_request"},
			{ID: "form-100", Threshold: 100, EventType: "form_submit"},
		}
		events := generateEvents(rng, "cf", leads, perLead)
		want := expectedCrossings(triggers, events)
		Expect(want).NotTo(BeEmpty())
		perTrigger := crossingsPerTrigger(want)
		o := newOU(ou)
		applyRefTriggers(ou, triggers)
		requests := chunkEvents(events, maxIngestBatch)

		var (
			run                          *crashRun
			atCrash, rep                 deliveryReport
			inFlight                     = -1
			postErr                      error
			reposted, accepted, repeated int
			batches, written, fallbacks  float64
			start                        = time.Now()
		)
		defer func() {
			summary := fmt.Sprintf("crash-in-batch test (seed %d): %d events over %d leads in %d POST /events requests; expected firings %d %v (about %d per evaluator batch of 512 events); %s; "+
				"at the crash %s; after the restart %d requests posted again (%d events accepted, %d reported duplicate), and the restarted operator wrote %.0f firings to the outbox in %.0f atomic batches and %.0f batches refused whole (firings already there) and written one at a time; %s; %s in all",
				seed, len(events), leads, len(requests), len(want), perTrigger, len(want)*512/len(events), run.describe(inFlight, postErr),
				atCrash.brief(), reposted, accepted, repeated, written, batches, fallbacks, rep, time.Since(start).Round(time.Second))
			AddReportEntry("crash in a batch of firings", summary)
			GinkgoWriter.Println(summary)
		}()

		run = startArmed("LEADVIBE_FIRINGS", strconv.Itoa(crashAt))
		// Post the requests in order until the operator dies under one.
		for i, r := range requests {
			if _, err := o.api.tryPostEvents(r); err != nil {
				inFlight, postErr = i, err
				break
			}
		}
		run.expectKilledItself(time.Minute)
		atCrash = report(receiver.received(ou), want)
		Expect(atCrash.Missing).NotTo(BeEmpty(), "the firings of the batch the operator died in could not have been delivered before it died")
		run.restart()

		// The request the operator died under, and those after it, again.
		if inFlight >= 0 {
			for _, r := range requests[inFlight:] {
				ans := o.api.mustPostEvents(r)
				reposted++
				accepted += ans.Accepted
				repeated += ans.duplicates()
			}
		}
		rep = waitDelivered(ou, want, o.api)
		batches, _ = operatorMetric("milestone_triggers_stream_batches_total", `stream="LEADVIBE_FIRINGS"`)
		written, _ = operatorMetric("milestone_triggers_stream_batch_messages_total", `stream="LEADVIBE_FIRINGS"`)
		fallbacks, _ = operatorMetric("milestone_triggers_stream_batch_fallbacks_total", `stream="LEADVIBE_FIRINGS"`)
		expectFiredCounts(ou, triggers, perTrigger)
	})

	It("evaluates from the right lead states when the operator kills itself half-way through a snapshot of thousands of leads", func() {
		const (
			ou = "e2e-crash-snapshot"
			// The primer's leads cross first, on their own: the first
			// snapshots hold them, a few leads in each partition's batch,
			// too few for the crash point to count (crashMin).
			primerLeads = 20
			// The bulk's leads then change within one snapshot interval:
			// the next snapshots write 4,000 lead states, about 250 in
			// each partition's atomic batch, each with its checkpoint.
			bulkLeads = 4000
			// The operator dies in the second of those batches, half of it
			// staged: the first partition's committed, the checkpoints of
			// that one's and any committed before the crash moved, the
			// others' not.
			crashAt  = 2
			crashMin = 100
		)
		triggers := []refTrigger{
			{ID: "any-50", Threshold: 50},
			{ID: "demo-75", Threshold: 75, EventType: "demo_request"},
		}
		ev := func(lead, suffix, typ string, score int64) event {
			return event{ID: lead + "-" + suffix, LeadID: lead, EventType: typ, Score: score}
		}
		primerLead := func(i int) string { return fmt.Sprintf("cs-pre-%02d", i) }
		bulkLead := func(i int) string { return fmt.Sprintf("cs-bulk-%04d", i) }

		// Before the crash: every primer lead crosses, one bulk lead in
		// four too (any-50 fires; at 80 on a page view demo-75's crossing
		// is pending), the rest stay below every threshold.
		var primer, bulk, after []event
		for i := range primerLeads {
			if i%2 == 0 {
				primer = append(primer, ev(primerLead(i), "a", "page_view", 80)) // any-50; demo-75 pending
			} else {
				primer = append(primer, ev(primerLead(i), "a", "demo_request", 90)) // any-50 and demo-75
			}
		}
		for i := range bulkLeads {
			switch i % 8 {
			case 0:
				bulk = append(bulk, ev(bulkLead(i), "a", "page_view", 80)) // any-50; demo-75 pending
			case 1:
				bulk = append(bulk, ev(bulkLead(i), "a", "page_view", 60)) // any-50
			default:
				bulk = append(bulk, ev(bulkLead(i), "a", "page_view", 10)) // nothing
			}
		}
		// After the restart, what fires depends on each lead's state as
		// the crash left it.
		var pendingFires, rearmFires, firstFires int
		for i := range primerLeads {
			if i%2 == 0 {
				after = append(after, ev(primerLead(i), "b", "demo_request", 85)) // demo-75, pending; not any-50 again
				pendingFires++
			} else {
				after = append(after, ev(primerLead(i), "b", "demo_request", 95)) // nothing: both fired
			}
		}
		for i := range bulkLeads {
			l := bulkLead(i)
			switch {
			case i%8 == 0:
				after = append(after, ev(l, "b", "demo_request", 85)) // demo-75, pending; not any-50 again
				pendingFires++
			case i%8 == 1:
				after = append(after, ev(l, "b", "page_view", 70)) // nothing: still above 50
				if i%16 == 1 {
					// A drop below re-arms, a new crossing fires.
					after = append(after, ev(l, "c", "page_view", 20), ev(l, "d", "page_view", 55))
					rearmFires++
				}
			case i%16 == 2:
				after = append(after, ev(l, "b", "page_view", 55)) // any-50: its first crossing
				firstFires++
			}
		}
		before := append(append([]event{}, primer...), bulk...)
		wantPrimer := expectedCrossings(triggers, primer)
		wantBefore := expectedCrossings(triggers, before)
		wantAll := expectedCrossings(triggers, append(append([]event{}, before...), after...))
		Expect(wantPrimer).To(HaveLen(primerLeads * 3 / 2))
		Expect(wantBefore).To(HaveLen(len(wantPrimer) + bulkLeads/4))
		Expect(wantAll).To(HaveLen(len(wantBefore)+pendingFires+rearmFires+firstFires), "the reference model agrees with what each event after the restart is meant to fire")
		Expect(pendingFires * rearmFires * firstFires).NotTo(BeZero())

		o := newOU(ou)
		applyRefTriggers(ou, triggers)

		var (
			run                      *crashRun
			bulkRequests             = chunkEvents(bulk, maxIngestBatch)
			inFlight                 = -1
			postErr                  error
			bulkPosted               time.Duration
			atCrash, rep             deliveryReport
			loaded                   = "not logged"
			replayed, fallbacks      float64
			reposted, accepted, dups int
			start                    = time.Now()
		)
		defer func() {
			summary := fmt.Sprintf("crash-in-snapshot test: %d primer and %d bulk leads (bulk posted in %s); %s; at the crash %s; %s; "+
				"after the restart %d requests posted again (%d accepted, %d duplicate), %.0f firings offered again and refused as already in the outbox, %.0f batches of firings refused whole; "+
				"expected firings %d before the crash and %d after the restart (%d from pending crossings, %d after a re-arm, %d first crossings); %s; %s in all",
				primerLeads, bulkLeads, bulkPosted.Round(time.Millisecond), run.describe(inFlight, postErr), atCrash.brief(), loaded,
				reposted, accepted, dups, replayed, fallbacks,
				len(wantBefore), len(wantAll)-len(wantBefore), pendingFires, rearmFires, firstFires, rep, time.Since(start).Round(time.Second))
			AddReportEntry("crash in a snapshot", summary)
			GinkgoWriter.Println(summary)
		}()

		run = startArmed("KV_LEADVIBE_LEADS", fmt.Sprintf("%d:%d", crashAt, crashMin))
		// The first events after more than a snapshot interval (2 s) of
		// quiet since the evaluator started are snapshotted at once: the
		// primer's alone.
		armedStart, ok := run.evaluatorStart(30 * time.Second)
		time.Sleep(time.Until(armedStart.seen.Add(3 * time.Second)))
		o.api.mustPostEvents(primer)
		Eventually(func(g Gomega) {
			g.Expect(report(receiver.received(ou), wantPrimer).Missing).To(BeEmpty())
		}).Should(Succeed())
		// The bulk, at once, within the interval after the primer's
		// snapshot.
		posting := time.Now()
		for i, r := range bulkRequests {
			if _, err := o.api.tryPostEvents(r); err != nil {
				inFlight, postErr = i, err
				break
			}
		}
		bulkPosted = time.Since(posting)
		run.expectKilledItself(time.Minute)
		atCrash = report(receiver.received(ou), wantBefore)
		run.restart()

		// What the restarted evaluator loaded: the lead states of the
		// batches committed before the crash, and the checkpoint of the
		// last complete snapshot, the primer's.
		if restarted, found := run.restartEvaluatorStart(30 * time.Second); ok && found {
			committed := restarted.Leads - armedStart.Leads
			loaded = fmt.Sprintf("the restarted evaluator loaded %d lead states (%d more than the armed one, %d of the bulk's snapshots) and checkpoints up to %d (the armed one's up to %d)",
				restarted.Leads, committed, committed-primerLeads, restarted.Checkpoint, armedStart.Checkpoint)
			Expect(committed).To(BeNumerically("<", primerLeads+bulkLeads), "the crash interrupted the bulk's snapshot: %s", loaded)
			Expect(committed).To(BeNumerically(">=", primerLeads), "the primer's snapshot was committed before the crash: %s", loaded)
		}
		if inFlight >= 0 {
			for _, r := range bulkRequests[inFlight:] {
				ans := o.api.mustPostEvents(r)
				reposted++
				accepted += ans.Accepted
				dups += ans.duplicates()
			}
		}
		rep = waitDelivered(ou, wantBefore, o.api)
		// The events after the checkpoint were evaluated again, and their
		// firings offered to the outbox again, which refused them.
		Eventually(func() (float64, error) {
			var err error
			replayed, err = operatorMetric("milestone_triggers_firing_duplicates_total", "")
			return replayed, err
		}).Should(BeNumerically(">", 0), "the restarted evaluator re-read the events after the last complete snapshot's checkpoint")
		fallbacks, _ = operatorMetric("milestone_triggers_stream_batch_fallbacks_total", `stream="LEADVIBE_FIRINGS"`)

		// Events after the restart fire according to the lead states the
		// crash left: a crossing before it does not fire again, a pending
		// crossing fires on its event type, a re-arm then a new crossing
		// fires.
		for _, r := range chunkEvents(after, maxIngestBatch) {
			Expect(o.api.mustPostEvents(r).Accepted).To(Equal(len(r)))
		}
		rep = waitDelivered(ou, wantAll, o.api)
		expectFiredCounts(ou, triggers, crossingsPerTrigger(wantAll))
	})

	It("gives each event of a POST /events request cut off by the operator killing itself once, when the request is sent again", func() {
		const (
			ou         = "e2e-crash-ingest"
			leads      = 150
			perLead    = 6
			perRequest = 300
			// The operator dies staging the second request's atomic batch.
			crashAt = 2
		)
		seed, rng := faultRand()
		triggers := []refTrigger{
			{ID: "any-50", Threshold: 50},
			{ID: "demo-75", Threshold: 75, EventType: "demo_request"},
		}
		events := generateEvents(rng, "ci", leads, perLead)
		want := expectedCrossings(triggers, events)
		Expect(want).NotTo(BeEmpty())
		o := newOU(ou)
		applyRefTriggers(ou, triggers)
		requests := chunkEvents(events, perRequest)
		Expect(len(requests)).To(BeNumerically(">", crashAt))

		var (
			run                  *crashRun
			postErr              error
			atCrash, rep         deliveryReport
			retried, rest, again ingestAnswer
			stored               uint64
			start                = time.Now()
		)
		defer func() {
			summary := fmt.Sprintf("crash-in-ingest test (seed %d): %d events over %d leads in %d requests of %d; %s; at the crash %s; "+
				"request %d sent again after the restart: %d accepted, %d duplicate; the rest: %d accepted; request 1 sent again: %d accepted, %d duplicate; "+
				"the OU's subject holds %d events; %s; %s in all",
				seed, len(events), leads, len(requests), perRequest, run.describe(crashAt-1, postErr), atCrash.brief(),
				crashAt, retried.Accepted, retried.duplicates(), rest.Accepted, again.Accepted, again.duplicates(),
				stored, rep, time.Since(start).Round(time.Second))
			AddReportEntry("crash in an ingest batch", summary)
			GinkgoWriter.Println(summary)
		}()

		run = startArmed("LEADVIBE_EVENTS", strconv.Itoa(crashAt))
		for _, r := range requests[:crashAt-1] {
			Expect(o.api.mustPostEvents(r).Accepted).To(Equal(len(r)))
		}
		_, postErr = o.api.tryPostEvents(requests[crashAt-1])
		Expect(postErr).To(HaveOccurred(), "the request whose batch the operator died staging got no answer")
		run.expectKilledItself(30 * time.Second)
		atCrash = report(receiver.received(ou), want)
		run.restart()

		// The same request again: each of its events once. The batch cut
		// off before its commit left nothing, so all are new.
		retried = o.api.mustPostEvents(requests[crashAt-1])
		Expect(retried.Accepted).To(Equal(len(requests[crashAt-1])), "an atomic batch cut off before its commit stores none of its events")
		for _, r := range requests[crashAt:] {
			ans := o.api.mustPostEvents(r)
			Expect(ans.Accepted).To(Equal(len(r)))
			rest.Accepted += ans.Accepted
		}
		// A request stored before the crash, again: every event a
		// duplicate.
		again = o.api.mustPostEvents(requests[0])
		Expect(again.Accepted).To(BeZero())
		Expect(again.duplicates()).To(Equal(len(requests[0])))
		stored = storedEvents(ou)
		Expect(stored).To(BeEquivalentTo(len(events)), "each event is in the stream once")

		rep = waitDelivered(ou, want, o.api)
		expectFiredCounts(ou, triggers, crossingsPerTrigger(want))
	})
})

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// rejectedEvent is a message the operator could not decode, as it
// recorded it.
type rejectedEvent struct {
	data, reason string
}

// rejectedEvents reads what the operator recorded on the OU's subject of
// the documented LEADVIBE_REJECTED stream, oldest first.
func rejectedEvents(ou string) []rejectedEvent {
	GinkgoHelper()
	nc, err := nats.Connect(operator.NATSURL(), nats.Name("e2e-rejected-reader"), nats.Timeout(5*time.Second))
	Expect(err).NotTo(HaveOccurred())
	defer nc.Close()
	js, err := jetstream.New(nc)
	Expect(err).NotTo(HaveOccurred())
	ctx, cancel := context.WithTimeout(suiteCtx, 10*time.Second)
	defer cancel()
	consumer, err := js.OrderedConsumer(ctx, "LEADVIBE_REJECTED", jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{"leadvibe.rejected." + ou},
	})
	Expect(err).NotTo(HaveOccurred())
	batch, err := consumer.Fetch(100, jetstream.FetchMaxWait(time.Second))
	Expect(err).NotTo(HaveOccurred())
	var out []rejectedEvent
	for msg := range batch.Messages() {
		out = append(out, rejectedEvent{data: string(msg.Data()), reason: msg.Headers().Get("Leadvibe-Reason")})
	}
	return out
}

// explainMissing says what the REST API's history holds of a few missing
// crossings: no firing (the evaluator did not fire it, or the dispatcher
// has not taken it up), or the firing and its delivery attempts.
func explainMissing(api apiClient, missing []crossing) string {
	var b strings.Builder
	for _, c := range missing[:min(5, len(missing))] {
		fmt.Fprintf(&b, "  {%s %s %s}: ", c.Trigger, c.Lead, c.Event)
		status, data := api.call(http.MethodGet, "/milestone-events?trigger_id="+c.Trigger+"&lead_id="+c.Lead, nil)
		var page struct {
			MilestoneEvents []struct {
				Kind     string `json:"kind"`
				FiringID string `json:"firing_id"`
				EventID  string `json:"event_id"`
				Channel  string `json:"channel"`
				Attempt  int    `json:"attempt"`
				At       string `json:"at"`
				Outcome  string `json:"outcome"`
				Error    string `json:"error"`
			} `json:"milestone_events"`
		}
		if status != http.StatusOK || json.Unmarshal(data, &page) != nil {
			fmt.Fprintf(&b, "history answered %d %s\n", status, data)
			continue
		}
		firing := ""
		for _, e := range page.MilestoneEvents {
			if e.Kind == "firing" && e.EventID == c.Event {
				firing = e.FiringID
				fmt.Fprintf(&b, "firing %s recorded at %s;", firing, e.At)
			}
		}
		if firing == "" {
			b.WriteString("no firing in the history (not fired, or not taken up by the dispatcher yet)\n")
			continue
		}
		for _, e := range page.MilestoneEvents {
			if e.Kind == "attempt" && e.FiringID == firing {
				fmt.Fprintf(&b, " attempt %d on %s at %s: %s %s;", e.Attempt, e.Channel, e.At, e.Outcome, e.Error)
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}

// crashEnv is the variable that makes the operator kill itself half-way
// through an atomic batch (internal/stream/crashpoint.go): its value is
// "<stream>:<n>", the nth atomic batch written to that stream since the
// process started. Only atomic batches count: a group of fewer messages
// than the writer's MinBatch (24) is written one message at a time.
const crashEnv = "MILESTONE_TRIGGERS_CRASH_IN_BATCH"

// maxIngestBatch is the most events one POST /events request may carry.
const maxIngestBatch = 1000

// crashRun is one operator process started with crashEnv set, and what
// became of it.
type crashRun struct {
	point string // crashEnv's value
	pid   int
	// started is when the armed operator was ready, logFrom the size of
	// the operator's log before it started, restartLogFrom before the
	// restart without crashEnv.
	started                 time.Time
	logFrom, restartLogFrom int64
	// lived is how long it ran, from ready to its death, and restarted
	// how long the restart after it took.
	lived, restarted time.Duration
	exit             string
}

// startArmed stops the operator cleanly, so that its final snapshot
// leaves no event to evaluate again (which would write batches of its
// own before the spec's), and starts it again with crashEnv set to
// "<stream>:<n>" in its environment: the process inherits this one's, and
// only this start sees the variable. When the spec ends with the armed
// operator still running, it is stopped and started again without the
// variable, so that it cannot die in a later spec.
func startArmed(streamName, at string) *crashRun {
	GinkgoHelper()
	run := &crashRun{point: streamName + ":" + at}
	By("restarting the operator with " + crashEnv + "=" + run.point)
	Expect(operator.Stop()).To(Succeed())
	run.logFrom = logSize()
	prev, had := os.LookupEnv(crashEnv)
	Expect(os.Setenv(crashEnv, run.point)).To(Succeed())
	err := operator.Start(suiteCtx)
	if had {
		_ = os.Setenv(crashEnv, prev)
	} else {
		_ = os.Unsetenv(crashEnv)
	}
	Expect(err).NotTo(HaveOccurred(), "starting the operator with %s=%s", crashEnv, run.point)
	run.started, run.pid = time.Now(), operator.Pid()
	DeferCleanup(func() {
		if operator.Pid() != run.pid {
			return
		}
		select {
		case <-operator.Exited():
		default:
			Expect(operator.Stop()).To(Succeed())
		}
		Expect(operator.Start(suiteCtx)).To(Succeed())
	})
	GinkgoWriter.Printf("Operator started with %s=%s (pid %d)\n", crashEnv, run.point, run.pid)
	return run
}

// expectKilledItself waits until the armed operator exits on its own, and
// checks that it died of SIGKILL: the spec neither killed nor stopped it.
func (r *crashRun) expectKilledItself(within time.Duration) {
	GinkgoHelper()
	By("waiting for the operator to kill itself")
	Expect(operator.Pid()).To(Equal(r.pid), "the operator running is the armed one")
	Eventually(operator.Exited(), within, 10*time.Millisecond).Should(BeClosed(),
		"the operator started with %s=%s did not kill itself within %s", crashEnv, r.point, within)
	r.lived = time.Since(r.started)
	err := operator.Err()
	r.exit = fmt.Sprint(err)
	var exit *exec.ExitError
	Expect(errors.As(err, &exit)).To(BeTrue(), "the armed operator exited with %v, not killed by a signal", err)
	status, ok := exit.Sys().(syscall.WaitStatus)
	Expect(ok && status.Signaled() && status.Signal() == syscall.SIGKILL).To(BeTrue(), "the armed operator exited with %v, not by SIGKILL", err)
}

// restart starts the operator again, without crashEnv.
func (r *crashRun) restart() {
	GinkgoHelper()
	By("restarting the operator without " + crashEnv)
	r.restartLogFrom = logSize()
	began := time.Now()
	Expect(operator.Start(suiteCtx)).To(Succeed())
	r.restarted = time.Since(began)
}

// describe says how the armed operator ended, and which request was in
// flight (inFlight < 0: none) when it did.
func (r *crashRun) describe(inFlight int, postErr error) string {
	if r == nil {
		return "the armed operator did not start"
	}
	if r.exit == "" {
		return fmt.Sprintf("the operator armed with %s=%s did not die", crashEnv, r.point)
	}
	s := fmt.Sprintf("the operator armed with %s=%s killed itself (%s) %s after it was ready, restart %s",
		crashEnv, r.point, r.exit, r.lived.Round(time.Millisecond), r.restarted.Round(time.Millisecond))
	if inFlight >= 0 && postErr != nil {
		s += fmt.Sprintf(", request %d in flight failed (%v)", inFlight+1, postErr)
	} else {
		s += ", no request in flight"
	}
	return s
}

// evaluatorStart is what the evaluator logs as it starts, summed over its
// partitions: the lead states it loaded and the highest checkpoint it
// resumes after.
type evaluatorStart struct {
	Leads, Checkpoint int64
	seen              time.Time
}

// evaluatorStart waits for the armed operator's evaluator to log its
// start; found is false when it did not within timeout (the log line is
// evidence for the report, not a contract).
func (r *crashRun) evaluatorStart(timeout time.Duration) (evaluatorStart, bool) {
	return waitEvaluatorStart(r.logFrom, timeout)
}

// restartEvaluatorStart is evaluatorStart for the restarted operator.
func (r *crashRun) restartEvaluatorStart(timeout time.Duration) (evaluatorStart, bool) {
	return waitEvaluatorStart(r.restartLogFrom, timeout)
}

func waitEvaluatorStart(from int64, timeout time.Duration) (evaluatorStart, bool) {
	for deadline := time.Now().Add(timeout); ; time.Sleep(100 * time.Millisecond) {
		if s, ok := findEvaluatorStart(from); ok {
			return s, true
		}
		if time.Now().After(deadline) {
			return evaluatorStart{seen: time.Now()}, false
		}
	}
}

// suitePartitions is the number of partitions of the suite's stream (the
// default).
const suitePartitions = stream.DefaultPartitions

// findEvaluatorStart reads the first "Evaluating a partition" line of each
// partition in the operator's log (JSON, one record a line) after offset
// from, once there is one for every partition.
func findEvaluatorStart(from int64) (evaluatorStart, bool) {
	f, err := os.Open(operator.LogPath())
	if err != nil {
		return evaluatorStart{}, false
	}
	defer f.Close()
	if _, err := f.Seek(from, io.SeekStart); err != nil {
		return evaluatorStart{}, false
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	var start evaluatorStart
	seen := map[int64]bool{}
	for sc.Scan() {
		var line struct {
			Msg        string `json:"msg"`
			Partition  *int64 `json:"partition"`
			Leads      *int64 `json:"leads"`
			Checkpoint *int64 `json:"checkpoint"`
		}
		if json.Unmarshal(sc.Bytes(), &line) != nil || line.Msg != "Evaluating a partition" || line.Partition == nil || line.Leads == nil || line.Checkpoint == nil || seen[*line.Partition] {
			continue
		}
		seen[*line.Partition] = true
		start.Leads += *line.Leads
		start.Checkpoint = max(start.Checkpoint, *line.Checkpoint)
		if len(seen) == suitePartitions {
			start.seen = time.Now()
			return start, true
		}
	}
	return evaluatorStart{}, false
}

// logSize is the size of the operator's log now.
func logSize() int64 {
	fi, err := os.Stat(operator.LogPath())
	if err != nil {
		return 0
	}
	return fi.Size()
}

// brief is a short form of a report: what had arrived when the operator
// died.
func (r deliveryReport) brief() string {
	return fmt.Sprintf("%d of %d expected firings delivered (%d missing, %d requests)", r.Delivered, r.Expected, len(r.Missing), r.Requests)
}

// waitDelivered waits (up to 3 minutes) until every expected crossing is
// delivered, checks that each was delivered once, under a webhook-id of
// its own, and nothing else, and that it stays so for 3 seconds.
func waitDelivered(ou string, want []crossing, api apiClient) deliveryReport {
	GinkgoHelper()
	By(fmt.Sprintf("waiting for the %d expected firings", len(want)))
	var rep deliveryReport
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(500 * time.Millisecond) {
		rep = report(receiver.received(ou), want)
		if len(rep.Missing) == 0 || time.Now().After(deadline) {
			break
		}
	}
	Expect(rep.Missing).To(BeEmpty(), "%s\nWhat the history says of some of the missing:\n%s", rep, explainMissing(api, rep.Missing))
	Expect(rep.exactlyOnce()).To(BeTrue(), rep.String())
	Consistently(func(g Gomega) {
		rep = report(receiver.received(ou), want)
		g.Expect(rep.exactlyOnce()).To(BeTrue(), rep.String())
	}, 3*time.Second, 500*time.Millisecond).Should(Succeed())
	return rep
}

// faultRand is the random source of a fault spec, seeded from E2E_SEED
// when set.
func faultRand() (uint64, *rand.Rand) {
	GinkgoHelper()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("E2E_SEED"); s != "" {
		var err error
		seed, err = strconv.ParseUint(s, 10, 64)
		Expect(err).NotTo(HaveOccurred(), "E2E_SEED")
	}
	return seed, rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

// applyRefTriggers applies webhook triggers for the reference model's
// triggers.
func applyRefTriggers(ou string, triggers []refTrigger) {
	GinkgoHelper()
	for _, t := range triggers {
		apply(ou, trigger{Name: t.ID, EventType: t.EventType, Threshold: t.Threshold, Webhook: true})
	}
}

// expectFiredCounts waits until each trigger's status.firedCount is its
// count in want.
func expectFiredCounts(ou string, triggers []refTrigger, want map[string]int) {
	GinkgoHelper()
	for _, t := range triggers {
		Eventually(func() (string, error) { return firedCount(ou, t.ID) }).Should(Equal(strconv.Itoa(want[t.ID])), "status.firedCount of %s", t.ID)
	}
}

func crossingsPerTrigger(cs []crossing) map[string]int {
	out := map[string]int{}
	for _, c := range cs {
		out[c.Trigger]++
	}
	return out
}

// chunkEvents splits events, in order, into requests of at most n.
func chunkEvents(events []event, n int) [][]event {
	var out [][]event
	for len(events) > 0 {
		k := min(n, len(events))
		out = append(out, events[:k])
		events = events[k:]
	}
	return out
}

// ingestAnswer is the 202 answer of POST /events.
type ingestAnswer struct {
	Accepted int `json:"accepted"`
	Events   []struct {
		ID        string `json:"id"`
		Duplicate bool   `json:"duplicate"`
	} `json:"events"`
}

func (a ingestAnswer) duplicates() int {
	n := 0
	for _, e := range a.Events {
		if e.Duplicate {
			n++
		}
	}
	return n
}

// tryPostEvents sends events to POST /events as one batch, on a
// connection of its own, and returns the answer, or why there is none:
// the connection failed (the operator died under the request) or the
// status was not 202.
func (c apiClient) tryPostEvents(events []event) (ingestAnswer, error) {
	var ans ingestAnswer
	body, err := json.Marshal(map[string]any{"events": events})
	if err != nil {
		return ans, err
	}
	req, err := http.NewRequestWithContext(suiteCtx, http.MethodPost, c.url()+"/events", bytes.NewReader(body))
	if err != nil {
		return ans, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		return ans, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return ans, err
	}
	if resp.StatusCode != http.StatusAccepted {
		return ans, fmt.Errorf("POST /events answered %d: %s", resp.StatusCode, data)
	}
	if err := json.Unmarshal(data, &ans); err != nil {
		return ans, fmt.Errorf("POST /events answered %q: %w", data, err)
	}
	return ans, nil
}

// mustPostEvents is tryPostEvents that fails the spec without a 202, and
// checks that the answer names each event once, in order, accepted or
// reported a duplicate.
func (c apiClient) mustPostEvents(events []event) ingestAnswer {
	GinkgoHelper()
	ans, err := c.tryPostEvents(events)
	Expect(err).NotTo(HaveOccurred())
	Expect(ans.Events).To(HaveLen(len(events)))
	for i, e := range ans.Events {
		Expect(e.ID).To(Equal(events[i].ID), "the answer's event %d", i)
	}
	Expect(ans.Accepted+ans.duplicates()).To(Equal(len(events)), "each event accepted, or reported a duplicate, once")
	return ans
}

// storedEvents is how many messages the OU's lead subjects of the
// documented LEADVIBE_EVENTS stream hold: every event POST /events
// stored (it publishes each to its lead's subject).
func storedEvents(ou string) uint64 {
	GinkgoHelper()
	nc, err := nats.Connect(operator.NATSURL(), nats.Name("e2e-events-counter"), nats.Timeout(5*time.Second))
	Expect(err).NotTo(HaveOccurred())
	defer nc.Close()
	js, err := jetstream.New(nc)
	Expect(err).NotTo(HaveOccurred())
	ctx, cancel := context.WithTimeout(suiteCtx, 10*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, "LEADVIBE_EVENTS")
	Expect(err).NotTo(HaveOccurred())
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(eventSubject(ou)+".>"))
	Expect(err).NotTo(HaveOccurred())
	var n uint64
	for _, count := range info.State.Subjects {
		n += count
	}
	return n
}

// operatorMetric is the sum of the series of the operator's metric name
// whose labels contain labels (all of them when empty), as its metrics
// endpoint shows them now.
func operatorMetric(name, labels string) (float64, error) { return metricOf(operator, name, labels) }

// metricOf is operatorMetric of another operator process.
func metricOf(op *localsystem.Operator, name, labels string) (float64, error) {
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(op.MetricsURL())
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	sum, found := 0.0, false
	for _, line := range strings.Split(string(data), "\n") {
		rest, ok := strings.CutPrefix(line, name)
		if !ok || rest == "" || (rest[0] != ' ' && rest[0] != '{') {
			continue
		}
		if labels != "" && !strings.Contains(rest, labels) {
			continue
		}
		f := strings.Fields(rest)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			return 0, fmt.Errorf("metric line %q: %w", line, err)
		}
		sum, found = sum+v, true
	}
	if !found {
		return 0, fmt.Errorf("no series of %s{%s} at %s", name, labels, operator.MetricsURL())
	}
	return sum, nil
}
