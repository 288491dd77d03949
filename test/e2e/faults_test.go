package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
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
		Expect(len(rep.Missing)).To(BeZero(), "%s\nWhat the history says of some of the missing:\n%s", rep, explainMissing(o.api, rep.Missing))
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
		for _, t := range triggers {
			Eventually(func() (string, error) { return firedCount(ou, t.ID) }).Should(Equal(strconv.Itoa(perTrigger[t.ID])), "status.firedCount of %s", t.ID)
		}
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
