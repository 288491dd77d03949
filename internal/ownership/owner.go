package ownership

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// Owner holds this replica's share of the partitions. It is a
// manager.Runnable that runs on every replica, not only on the leader.
type Owner struct {
	cfg     Config
	log     logr.Logger
	member  *member
	started atomic.Bool

	mu    sync.Mutex
	owned map[int]bool
}

var _ manager.LeaderElectionRunnable = (*Owner)(nil)

// New checks cfg, fills in its defaults and returns an Owner to Start.
func New(cfg Config) (*Owner, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Owner{cfg: cfg, member: newMember(cfg), owned: map[int]bool{}}, nil
}

// NeedLeaderElection is false: every replica takes its share.
func (o *Owner) NeedLeaderElection() bool { return false }

// Owned is the partitions whose Run is in progress on this replica, in order.
func (o *Owner) Owned() []int {
	o.mu.Lock()
	defer o.mu.Unlock()
	var ps []int
	for p := range o.owned {
		ps = append(ps, p)
	}
	slices.Sort(ps)
	return ps
}

func (o *Owner) setOwned(p int, owned bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if owned {
		o.owned[p] = true
	} else {
		delete(o.owned, p)
	}
}

// Start keeps the member Lease renewed and campaigns for the partitions
// this replica should hold, every RetryPeriod, until ctx ends. Then it
// deletes the member Lease and releases every partition once its Run has
// returned, and returns nil. An Owner starts once.
func (o *Owner) Start(ctx context.Context) error {
	if !o.started.CompareAndSwap(false, true) {
		return errors.New("ownership: owner already started")
	}
	o.log = o.cfg.Log
	if o.log.GetSink() == nil {
		o.log = log.FromContext(ctx)
	}
	o.log = o.log.WithValues("ownership", o.cfg.Name, "identity", o.cfg.Identity)
	o.log.Info("Starting partition ownership", "partitions", o.cfg.Partitions, "namespace", o.cfg.Namespace)
	if n, err := o.releaseStale(ctx); err != nil {
		o.log.Error(err, "Cannot release the partitions of an earlier run; they move when their Leases expire")
	} else if n > 0 {
		o.log.Info("Released the partitions an earlier run of this replica held", "partitions", n)
	}

	campaigns := make([]*campaign, o.cfg.Partitions)
	var wg sync.WaitGroup
	var failing bool
	tick := time.NewTicker(o.cfg.RetryPeriod)
	defer tick.Stop()
	for {
		err := o.step(ctx, campaigns, &wg)
		switch {
		case err != nil && !failing && ctx.Err() == nil:
			o.log.Error(err, "Cannot renew or read the member leases")
		case err == nil && failing:
			o.log.Info("Member leases renewed and read again")
		}
		failing = err != nil
		select {
		case <-ctx.Done():
			o.stop(ctx, campaigns, &wg)
			return nil
		case <-tick.C:
		}
	}
}

// step renews the member Lease, reads the live members and starts or
// stops campaigns so that this replica campaigns for exactly the
// partitions whose preferred owner it is. When the members cannot be read
// nothing changes.
func (o *Owner) step(ctx context.Context, campaigns []*campaign, wg *sync.WaitGroup) error {
	apiCtx, cancel := context.WithTimeout(ctx, o.cfg.RenewDeadline)
	defer cancel()
	renewErr := o.member.renew(apiCtx)
	members, err := o.member.live(apiCtx)
	if err != nil {
		return errors.Join(renewErr, err)
	}
	for p, c := range campaigns {
		if c != nil && c.ended() {
			campaigns[p], c = nil, nil
		}
		switch preferred := preferredOwner(members, p); {
		case preferred == "":
			// Not even this replica's member Lease is live: hold on.
		case preferred == o.cfg.Identity:
			if c == nil {
				next, le, err := o.newCampaign(p)
				if err != nil {
					return err // the config was validated: not expected
				}
				o.start(ctx, next, le, wg)
				campaigns[p] = next
			}
		case c != nil && !c.stopping:
			// preferred comes from the live members: it will take p.
			if _, held := c.lock.acquired(); held {
				o.log.Info("Handing partition over", "partition", p, "to", preferred)
			}
			c.stop()
		}
	}
	return renewErr
}

// stop ends every campaign, deletes the member Lease meanwhile, and waits
// until each partition's Run has returned and its Lease was released.
func (o *Owner) stop(ctx context.Context, campaigns []*campaign, wg *sync.WaitGroup) {
	for _, c := range campaigns {
		if c != nil {
			c.stop()
		}
	}
	apiCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.cfg.RenewDeadline)
	defer cancel()
	if err := o.member.remove(apiCtx); err != nil {
		o.log.Error(err, "Cannot delete the member lease; it expires on its own")
	}
	wg.Wait()
	o.log.Info("Stopped partition ownership")
}
