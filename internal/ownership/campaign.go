package ownership

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// campaign is one LeaderElector run for one partition: it tries to
// acquire the partition's Lease, runs Config.Run while it holds it, and
// ends when the Lease is lost or, after its context is cancelled, released.
type campaign struct {
	partition int
	lock      *partitionLock
	cancel    context.CancelFunc
	// done is closed when the elector has returned and Run, if it started,
	// has returned too: only then may another campaign for the partition
	// start in this process.
	done chan struct{}
	// stopping is set when the owner cancelled the campaign. Only the
	// owner's loop reads and writes it.
	stopping bool
}

func (c *campaign) ended() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

func (c *campaign) stop() {
	c.stopping = true
	c.cancel()
}

// newCampaign builds the elector for partition p under a holder identity
// of its own. start runs it.
func (o *Owner) newCampaign(p int) (*campaign, *leaderelection.LeaderElector, error) {
	lock := &partitionLock{
		LeaseLock: resourcelock.LeaseLock{
			LeaseMeta:  metav1.ObjectMeta{Namespace: o.cfg.Namespace, Name: partitionLeaseName(o.cfg.Name, p)},
			Client:     o.cfg.Client,
			LockConfig: resourcelock.ResourceLockConfig{Identity: o.cfg.Identity + "_" + rand.Text()[:12]},
			Labels:     leaseLabels(o.cfg.Name, rolePartition),
		},
		runDone: make(chan struct{}),
	}
	c := &campaign{partition: p, lock: lock, done: make(chan struct{})}
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		Name:            lock.Describe(),
		LeaseDuration:   o.cfg.LeaseDuration,
		RenewDeadline:   o.cfg.RenewDeadline,
		RetryPeriod:     o.cfg.RetryPeriod,
		ReleaseOnCancel: true,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(ctx context.Context) { o.lead(ctx, c) },
			OnStoppedLeading: func() {},
		},
	})
	if err != nil {
		return nil, nil, fmt.Errorf("partition %d: %w", p, err)
	}
	return c, le, nil
}

// start runs the campaign's elector until ctx ends or the Lease is lost.
// The elector's own logs are chatter (V(1)); its errors stay errors, but
// for those of requests its cancellation cut short.
func (o *Owner) start(ctx context.Context, c *campaign, le *leaderelection.LeaderElector, wg *sync.WaitGroup) {
	log := o.log.WithValues("partition", c.partition)
	electorLog := log.V(1)
	if sink := electorLog.GetSink(); sink != nil {
		electorLog = electorLog.WithSink(withoutCancelled{sink})
	}
	ctx, c.cancel = context.WithCancel(logr.NewContext(ctx, electorLog))
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(c.done)
		le.Run(ctx)
		if _, held := c.lock.acquired(); held {
			<-c.lock.runDone
			if ctx.Err() == nil {
				log.Info("Lost partition: its lease could not be renewed")
			}
		}
	}()
}

// lead is the elector's OnStartedLeading: it runs Config.Run for the
// partition. ctx ends when the campaign is cancelled or the Lease lost.
func (o *Owner) lead(ctx context.Context, c *campaign) {
	defer close(c.lock.runDone)
	if ctx.Err() != nil {
		return
	}
	epoch, _ := c.lock.acquired()
	p := Partition{Index: c.partition, Epoch: epoch}
	log := o.log.WithValues("partition", p.Index, "epoch", p.Epoch)
	log.Info("Acquired partition")
	o.setOwned(p.Index, true)
	defer o.setOwned(p.Index, false)
	o.cfg.Run(ctx, p)
	log.Info("Left partition")
}

// withoutCancelled drops the errors caused by a cancelled context: the
// elector logs one whenever a campaign is stopped mid-request.
type withoutCancelled struct{ logr.LogSink }

func (s withoutCancelled) Error(err error, msg string, keysAndValues ...any) {
	if !errors.Is(err, context.Canceled) {
		s.LogSink.Error(err, msg, keysAndValues...)
	}
}

func (s withoutCancelled) WithValues(keysAndValues ...any) logr.LogSink {
	return withoutCancelled{s.LogSink.WithValues(keysAndValues...)}
}

func (s withoutCancelled) WithName(name string) logr.LogSink {
	return withoutCancelled{s.LogSink.WithName(name)}
}

// partitionLock is the partition's LeaseLock with two additions. It
// remembers the leaseTransitions it wrote when it acquired the Lease (the
// epoch). And it holds the release back until Run has returned and
// refuses it when the Lease, as just read, names another holder:
// client-go's ReleaseOnCancel releases as soon as the elector's context
// ends, without waiting for OnStartedLeading, and releases whatever Lease
// it reads once it has held it.
type partitionLock struct {
	resourcelock.LeaseLock
	// runDone is closed when lead has returned.
	runDone chan struct{}

	mu     sync.Mutex
	held   bool   // a write naming this holder succeeded: lead will run
	epoch  int32  // leaseTransitions of that first write
	holder string // holderIdentity of the Lease as last read
}

var _ resourcelock.Interface = (*partitionLock)(nil)

// acquired reports whether the Lease was acquired, and the epoch.
func (l *partitionLock) acquired() (epoch int32, held bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.epoch, l.held
}

func (l *partitionLock) wrote(r resourcelock.LeaderElectionRecord) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if r.HolderIdentity == l.Identity() && !l.held {
		l.held = true
		l.epoch = int32(r.LeaderTransitions)
	}
}

// Get implements resourcelock.Interface.
func (l *partitionLock) Get(ctx context.Context) (*resourcelock.LeaderElectionRecord, []byte, error) {
	r, raw, err := l.LeaseLock.Get(ctx)
	if err == nil {
		l.mu.Lock()
		l.holder = r.HolderIdentity
		l.mu.Unlock()
	}
	return r, raw, err
}

// Create implements resourcelock.Interface.
func (l *partitionLock) Create(ctx context.Context, r resourcelock.LeaderElectionRecord) error {
	if err := l.LeaseLock.Create(ctx, r); err != nil {
		return err
	}
	l.wrote(r)
	return nil
}

// Update implements resourcelock.Interface. A record without a holder is
// the elector releasing the Lease.
func (l *partitionLock) Update(ctx context.Context, r resourcelock.LeaderElectionRecord) error {
	if r.HolderIdentity == "" {
		if err := l.mayRelease(ctx); err != nil {
			return err
		}
	}
	if err := l.LeaseLock.Update(ctx, r); err != nil {
		return err
	}
	l.wrote(r)
	return nil
}

// mayRelease waits for Run to return, then checks that the Lease read
// just before still names this holder. The update that follows carries
// that read's resourceVersion, so a Lease changed since fails with a
// conflict, and the elector reads it again.
func (l *partitionLock) mayRelease(ctx context.Context) error {
	if _, held := l.acquired(); held {
		select {
		case <-l.runDone:
		case <-ctx.Done():
			return fmt.Errorf("not releasing %s while the partition still runs: %w", l.Describe(), ctx.Err())
		}
	}
	l.mu.Lock()
	holder := l.holder
	l.mu.Unlock()
	if holder != l.Identity() {
		return fmt.Errorf("not releasing %s: it is held by %q", l.Describe(), holder)
	}
	return nil
}
