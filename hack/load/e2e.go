package main

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// measureEndToEnd publishes the workload to the OUs, waits for the
// deliveries and gathers the run's end-to-end figures into rep, with
// rep.drainErr set when deliveries are missing. It returns an error when
// the run could not be measured at all.
func measureEndToEnd(ctx context.Context, o options, rep *report, js jetstream.JetStream, kube client.Client, rcv *receiver, ous []ouTriggers, id restIdentity) error {
	watch, watching, err := watchConsumed(ctx, o.metricsURL)
	if err != nil {
		fmt.Printf("   metrics: %v (the rate comes from the deliveries alone)\n", err)
	}
	var total atomic.Int64 // events published, known once publishing ends
	var watchCancel context.CancelFunc = func() {}
	if watching {
		wctx, cancel := context.WithCancel(ctx)
		watchCancel = cancel
		go watch.run(wctx, func() int { return int(total.Load()) })
	} else if o.metricsURL != "" && err == nil {
		fmt.Printf("   metrics: %s has no %s yet (the rate comes from the deliveries alone)\n", o.metricsURL, consumedMetric)
	}
	defer watchCancel()

	if o.rate > 0 {
		fmt.Printf(">> Publishing at %.0f events/s ", o.rate)
	} else {
		fmt.Print(">> Publishing as fast as possible ")
	}
	if o.events > 0 {
		fmt.Printf("for %d events", o.events)
	} else {
		fmt.Printf("for %s", o.duration)
	}
	if o.via == viaREST {
		fmt.Printf(" through POST %s/events, %d callers, up to %d events a request\n", o.apiURL, o.restCallers, o.restBatch)
	} else {
		fmt.Printf(" to NATS %s, at most %d in flight\n", o.natsURL, o.maxInflight)
	}
	outbox, err := newOutboxWatch(ctx, js)
	if err != nil {
		return err
	}
	cpu0 := cpuTime()
	opCPU0, opOK := processCPU(o.operatorPID)
	w := newWorkload(rep.run, o.seed, o.leads, o.ous, o.zipfS, o.zipfV, o.maxScore)
	var sink eventSink
	var rest *restPublisher
	if o.via == viaREST {
		rest = newRESTPublisher(ctx, restOptions{
			url: o.apiURL, token: id.token, batch: o.restBatch, callers: o.restCallers, full: o.rate == 0,
		}, rcv, ous)
		sink = rest
	} else {
		sink = newNATSSink(newAsyncPublisher(js, o.maxInflight), rcv, ous)
	}
	prof, err := startProfiles(o.cpuprofile, o.operatorPprof, o.operatorProfile)
	if err != nil {
		return fmt.Errorf("starting the CPU profiles: %w", err)
	}
	res, err := publishLoad(ctx, sink, w, newOracle(ous), rcv, ous, loadOptions{
		rate: o.rate, duration: o.duration, events: o.events, interval: o.interval,
	})
	if rest != nil {
		res.rest = rest.restStats(id)
	}
	rep.load = res
	if err != nil {
		prof.stopProfiles(o.manager)
		return err
	}
	total.Store(int64(res.events))
	fmt.Printf("   %d events published in %s (%.0f events/s), all acknowledged %s later; waiting for %d deliveries\n",
		res.events, res.sent.Sub(res.start).Round(time.Millisecond), eventsPerSecond(res.events, res.start, res.sent),
		res.acked.Sub(res.sent).Round(time.Millisecond), res.expectedIDs)

	type committed struct {
		at  time.Time
		err error
	}
	evaluated := make(chan committed, 1)
	go func() {
		at, err := outbox.wait(ctx, res.expectedIDs, o.drainTimeout)
		evaluated <- committed{at, err}
	}()
	rep.drainErr = rcv.wait(ctx, o.drainTimeout)
	rep.toolCPU = cpuTime() - cpu0
	if opCPU1, ok := processCPU(o.operatorPID); ok && opOK && o.operatorPID > 0 {
		rep.operatorCPU = opCPU1 - opCPU0
	}
	prof.stopProfiles(o.manager) // the operator's last profile runs to its end
	if c := <-evaluated; c.err == nil {
		rep.evaluatedAt = c.at
	} else {
		fmt.Println("   outbox:", c.err)
	}
	if rep.drainErr == nil {
		time.Sleep(o.settle)
	}
	statusStart := time.Now()
	rep.firedCount, rep.firedCountErr = waitFiredCount(ctx, kube, ous, int64(res.expectedIDs), 30*time.Second)
	rep.firedCountWait = time.Since(statusStart)
	rep.received = rcv.stats()
	if watching {
		select {
		case t := <-watch.reached:
			rep.consumedAt = t
		case <-time.After(2 * time.Second):
		}
	}
	watchCancel()

	return nil
}
