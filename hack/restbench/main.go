// Command restbench measures GET /triggers on an OU holding many triggers,
// through the REST shim (served from the manager's informer cache), beside
// the LIST of the same MilestoneTriggers straight from the API server that a
// client would otherwise make, in the same run, on a real control plane
// (the source-built etcd and kube-apiserver that
// hack/build-control-plane.sh makes). Both targets are called with the same
// service-account token, bound to the shipped milestonetrigger-viewer role
// in the OU; the two are measured in alternating slices, so that drift in
// the machine's load hits both. Results go to docs/benchmarks.md.
//
//	go run ./hack/restbench
//	go run ./hack/restbench --triggers 100 --duration 3s --concurrency 1,4
//
// Ctrl-C stops the measurement, the manager and the control plane.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/leadvibe/milestone-triggers-operator/hack/internal/bench"
	"github.com/leadvibe/milestone-triggers-operator/internal/version"
)

type options struct {
	assets      string
	crdDir      string
	rbacDir     string
	ou          string
	triggers    int
	duration    time.Duration
	concurrency []int
	rounds      int
	compression bool
	cpuprofile  string
}

func main() {
	var o options
	var concurrency string
	flag.StringVar(&o.assets, "assets", "bin/k8s", "Directory holding the kube-apiserver and etcd binaries.")
	flag.StringVar(&o.crdDir, "crd-dir", "config/crd/bases", "Directory holding the CRDs to install.")
	flag.StringVar(&o.rbacDir, "rbac-dir", "config/rbac", "Directory holding the shipped ClusterRoles; the caller gets milestonetrigger-viewer in the OU.")
	flag.StringVar(&o.ou, "ou", "bench", "The OU (namespace) that holds the triggers.")
	flag.IntVar(&o.triggers, "triggers", 1000, "Triggers in the OU.")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "Measuring time of each target at each concurrency, split over --rounds slices.")
	flag.StringVar(&concurrency, "concurrency", "4", "Concurrent callers, or a comma-separated list such as 1,4 (one measurement each).")
	flag.IntVar(&o.rounds, "rounds", 5, "Slices each target's --duration is split into; the targets alternate slice by slice (shim first in odd rounds, the API server first in even ones).")
	flag.BoolVar(&o.compression, "apiserver-gzip", true, "Let the API server client ask for gzip, as client-go does by default (the API server compresses large lists).")
	flag.StringVar(&o.cpuprofile, "cpuprofile", "", "After the measurements, call the shim alone for --duration at the highest concurrency and write a CPU profile of this process (shim and callers) here.")
	zapOpts := zap.Options{Development: false}
	zapOpts.BindFlags(flag.CommandLine)
	version.AddFlag(flag.CommandLine)
	flag.Parse()

	var err error
	if o.concurrency, err = parseConcurrency(concurrency); err != nil {
		fail(fmt.Errorf("--concurrency: %w", err))
	}
	switch {
	case o.triggers < 1:
		fail(errors.New("--triggers must be at least 1"))
	case o.rounds < 1:
		fail(errors.New("--rounds must be at least 1"))
	case o.duration < time.Duration(o.rounds)*100*time.Millisecond:
		fail(errors.New("--duration is too short for --rounds (at least 100ms per slice)"))
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts), zap.WriteTo(os.Stderr)))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("interrupted; everything was stopped: %w", err)
		}
		fail(err)
	}
}

func parseConcurrency(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a positive number", f)
		}
		out = append(out, n)
	}
	return out, nil
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "restbench:", err)
	os.Exit(1)
}

// run brings the control plane, the triggers and the shim up, measures, and
// takes everything down again in reverse order, also when ctx ends early.
func run(ctx context.Context, o options) (retErr error) {
	loadBefore := bench.LoadAverage()
	progress("Starting etcd and kube-apiserver from %s", o.assets)
	cp, err := startControlPlane(o)
	if err != nil {
		return err
	}
	defer func() {
		progress("Stopping the control plane")
		retErr = errors.Join(retErr, cp.stop())
	}()

	progress("Creating %d triggers in OU %q", o.triggers, o.ou)
	start := time.Now()
	if err := cp.createOU(ctx, o.ou); err != nil {
		return err
	}
	if err := createTriggers(ctx, cp.client, o.ou, o.triggers); err != nil {
		return err
	}
	progress("Created them in %s", time.Since(start).Round(time.Millisecond))

	token, err := cp.viewerToken(ctx, o.ou, o.rbacDir)
	if err != nil {
		return fmt.Errorf("the caller's token: %w", err)
	}

	progress("Starting the manager and the REST shim")
	sh, err := startShim(ctx, cp.cfg, o.ou, o.triggers)
	if err != nil {
		return err
	}
	defer func() {
		progress("Stopping the manager")
		retErr = errors.Join(retErr, sh.stop())
	}()

	apiServer, err := apiServerTarget(cp.cfg, token, o.ou, o.compression)
	if err != nil {
		return err
	}
	targets := []*target{shimTarget(sh.url, token, o.ou), apiServer}
	for _, t := range targets {
		if err := t.check(ctx, o.triggers); err != nil {
			return err
		}
	}

	var results []result
	for _, c := range o.concurrency {
		progress("Measuring at concurrency %d: %s per target in %d alternating slices", c, o.duration, o.rounds)
		rs, err := measure(ctx, targets, c, o.duration, o.rounds)
		if err != nil {
			return err
		}
		results = append(results, rs...)
	}
	if o.cpuprofile != "" {
		c := o.concurrency[len(o.concurrency)-1]
		progress("Profiling the shim alone at concurrency %d for %s into %s", c, o.duration, o.cpuprofile)
		if err := profile(ctx, o.cpuprofile, targets[0], c, o.duration); err != nil {
			return err
		}
	}

	report(os.Stdout, reportInput{
		opts:       o,
		apiServer:  cp.version,
		results:    results,
		loadBefore: loadBefore,
		loadAfter:  bench.LoadAverage(),
	})
	return nil
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, ">> "+format+"\n", args...)
}
