package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/leadvibe/milestone-triggers-operator/internal/localsystem"
	"github.com/leadvibe/milestone-triggers-operator/internal/stream"
	"github.com/leadvibe/milestone-triggers-operator/internal/stream/streamtest"
)

// The scale-out spec runs operator replicas as separate processes on a
// three-node NATS JetStream cluster in this process, sharing the control
// plane with the suite's own operator (their partition Leases live in a
// namespace of their own, scaleoutLeases): both replicas evaluate, a
// SIGKILLed replica's partitions move, a new replica joins, and every
// crossing is delivered exactly once.
const scaleoutLeases = "e2e-scaleout-system"

// replica is one operator process of the scale-out spec.
type replica struct {
	id string
	op *localsystem.Operator
}

func startReplica(id, natsURL string) *replica {
	GinkgoHelper()
	op, err := localsystem.NewOperator(localsystem.OperatorOptions{
		Binary:     manager,
		Kubeconfig: controlPlane.Kubeconfig,
		DataDir:    filepath.Join(workDir, "unused-"+id),
		LogPath:    filepath.Join(workDir, "replica-"+id+".log"),
		Args: []string{
			"--nats-url", natsURL, "--stream-replicas", "3", "--stream-listen=",
			"--leader-elect", "--leader-election-namespace", scaleoutLeases,
			"--replica-id", id, "--partition-lease-duration", "3s",
			// The replicas reconcile every trigger of the control plane,
			// the other specs' too, and their leader writes status: with
			// the suite operator's channels they write what it writes.
			"--smtp-addr", mailbox.addr, "--smtp-from", smtpFrom, "--smtp-starttls", "never",
		},
	})
	Expect(err).NotTo(HaveOccurred())
	Expect(op.Start(suiteCtx)).To(Succeed(), "replica %s (log %s)", id, op.LogPath())
	DeferCleanup(func() { _ = op.Stop() })
	return &replica{id: id, op: op}
}

func (r *replica) metric(name string) float64 {
	v, err := metricOf(r.op, name, "")
	if err != nil {
		return -1
	}
	return v
}

var _ = Describe("Scale-out across replicas", Ordered, func() {
	const ou = "e2e-scaleout"

	It("spreads evaluation over the replicas of a NATS cluster, and a SIGKILLed replica loses and repeats nothing", func() {
		seed, rng := faultRand()
		natsURL := streamtest.StartCluster(GinkgoTB(), 3)
		Expect(controlPlane.CreateOU(suiteCtx, scaleoutLeases)).To(Succeed())

		triggers := []refTrigger{
			{ID: "any-50", Threshold: 50},
			{ID: "demo-75", Threshold: 75, EventType: "demo_request"},
		}
		events := generateEvents(rng, "s", 60, 30)
		want := expectedCrossings(triggers, events)
		o := newOU(ou)
		applyRefTriggers(ou, triggers)

		By("starting two replicas on the cluster")
		a := startReplica("replica-a", natsURL)
		b := startReplica("replica-b", natsURL)
		Eventually(func() []float64 {
			return []float64{a.metric("milestone_triggers_partitions_owned"), b.metric("milestone_triggers_partitions_owned")}
		}).Should(Equal([]float64{8, 8}), "16 partitions spread over two replicas")

		// Each lead goes one way, in order: POST /events to either replica,
		// the cluster's lead subject, or the OU subject without the lead,
		// which the leader's router moves. About 60 events a second, so
		// that events still flow when the new replica has joined.
		nc, err := nats.Connect(natsURL, nats.Name("e2e-scaleout-publisher"), nats.MaxReconnects(-1))
		Expect(err).NotTo(HaveOccurred())
		defer nc.Close()
		js, err := jetstream.New(nc)
		Expect(err).NotTo(HaveOccurred())
		byWay := make([][]event, 3)
		for _, ev := range events {
			n, err := strconv.Atoi(ev.LeadID[strings.LastIndex(ev.LeadID, "-")+1:])
			Expect(err).NotTo(HaveOccurred())
			byWay[n%3] = append(byWay[n%3], ev)
		}
		var (
			mu        sync.Mutex
			replicas  = []*replica{a, b}
			published int
		)
		live := func() []*replica {
			mu.Lock()
			defer mu.Unlock()
			return append([]*replica(nil), replicas...)
		}
		count := func(n int) {
			mu.Lock()
			published += n
			mu.Unlock()
		}
		ctx, cancel := context.WithTimeout(suiteCtx, 4*time.Minute)
		defer cancel()
		var wg sync.WaitGroup
		failures := make(chan error, 3)
		wg.Go(func() { // REST, batches of 10, to the replicas in turn
			defer GinkgoRecover()
			for i, batch := range chunkEvents(byWay[0], 10) {
				for attempt := 0; ; attempt++ {
					rs := live()
					api := o.api
					api.base = rs[(i+attempt)%len(rs)].op.APIURL()
					if _, err := api.tryPostEvents(batch); err == nil {
						break
					} else if ctx.Err() != nil {
						failures <- err
						return
					}
					time.Sleep(100 * time.Millisecond)
				}
				count(len(batch))
				time.Sleep(500 * time.Millisecond)
			}
		})
		publish := func(subject func(event) string, evs []event) {
			for _, ev := range evs {
				for {
					attempt, stop := context.WithTimeout(ctx, 3*time.Second)
					_, err := js.Publish(attempt, subject(ev), ev.json(), jetstream.WithMsgID(ev.ID))
					stop()
					if err == nil {
						break
					}
					if ctx.Err() != nil {
						failures <- err
						return
					}
					time.Sleep(50 * time.Millisecond)
				}
				count(1)
				time.Sleep(50 * time.Millisecond)
			}
		}
		wg.Go(func() { publish(func(ev event) string { return stream.LeadSubject(ou, ev.LeadID) }, byWay[1]) })
		wg.Go(func() { publish(func(event) string { return eventSubject(ou) }, byWay[2]) })

		By("killing replica-a with SIGKILL while events flow")
		Eventually(func() int { mu.Lock(); defer mu.Unlock(); return published }).WithTimeout(2 * time.Minute).
			Should(BeNumerically(">=", len(events)/3))
		consumedA := a.metric("milestone_triggers_events_consumed_total")
		consumedB := b.metric("milestone_triggers_events_consumed_total")
		Expect(a.op.Kill()).To(Succeed())
		mu.Lock()
		replicas = []*replica{b}
		mu.Unlock()
		Expect(consumedA).To(BeNumerically(">", 0), "replica-a evaluated nothing before the kill")
		Expect(consumedB).To(BeNumerically(">", 0), "replica-b evaluated nothing before the kill")

		By("starting replica-c, which joins")
		c := startReplica("replica-c", natsURL)
		mu.Lock()
		replicas = []*replica{b, c}
		mu.Unlock()
		Eventually(func() []float64 {
			return []float64{b.metric("milestone_triggers_partitions_owned"), c.metric("milestone_triggers_partitions_owned")}
		}).Should(Equal([]float64{8, 8}), "the partitions spread over the two live replicas again")

		wg.Wait()
		close(failures)
		for err := range failures {
			Expect(err).NotTo(HaveOccurred())
		}
		rep := waitDelivered(ou, want, o.api)
		Eventually(func() float64 { return c.metric("milestone_triggers_events_consumed_total") }).Should(BeNumerically(">", 0))
		AddReportEntry("scale-out counts", fmt.Sprintf(
			"scale-out (seed %d): %d events over 60 leads, %d expected firings; before the kill replica-a had consumed %v and replica-b %v; "+
				"after it replica-b %v, replica-c %v; %s",
			seed, len(events), len(want), consumedA, consumedB,
			b.metric("milestone_triggers_events_consumed_total"), c.metric("milestone_triggers_events_consumed_total"), rep))
	})
})
