package ownership

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// TestPartitionLockReleasesOnlyAfterRunAndOnlyItsOwnLease: the release
// client-go's ReleaseOnCancel makes waits for Run to return, and is
// refused once another holder has the Lease.
func TestPartitionLockReleasesOnlyAfterRunAndOnlyItsOwnLease(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t)
	ctx := context.Background()
	meta := metav1.ObjectMeta{Namespace: h.namespace, Name: partitionLeaseName("lock-test", 0)}
	lock := &partitionLock{
		LeaseLock: resourcelock.LeaseLock{
			LeaseMeta: meta, Client: h.clientset.CoordinationV1(),
			LockConfig: resourcelock.ResourceLockConfig{Identity: "replica-a_1"},
		},
		runDone: make(chan struct{}),
	}
	record := func(holder string, transitions int) resourcelock.LeaderElectionRecord {
		now := metav1.Now()
		return resourcelock.LeaderElectionRecord{
			HolderIdentity: holder, LeaseDurationSeconds: 2, LeaderTransitions: transitions, AcquireTime: now, RenewTime: now,
		}
	}
	holder := func() string {
		l, err := h.clientset.CoordinationV1().Leases(meta.Namespace).Get(ctx, meta.Name, metav1.GetOptions{})
		g.Expect(err).NotTo(HaveOccurred())
		return *l.Spec.HolderIdentity
	}

	g.Expect(lock.Create(ctx, record("replica-a_1", 0))).To(Succeed())
	epoch, held := lock.acquired()
	g.Expect(held).To(BeTrue())
	g.Expect(epoch).To(BeZero())

	// Run has not returned: the release waits, until its deadline.
	_, _, err := lock.Get(ctx)
	g.Expect(err).NotTo(HaveOccurred())
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	g.Expect(lock.Update(short, resourcelock.LeaderElectionRecord{})).To(MatchError(ContainSubstring("still runs")))
	g.Expect(holder()).To(Equal("replica-a_1"))

	// Run returned, but meanwhile another replica took the Lease.
	close(lock.runDone)
	other := &resourcelock.LeaseLock{
		LeaseMeta: meta, Client: h.clientset.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: "replica-b_1"},
	}
	_, _, err = other.Get(ctx)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(other.Update(ctx, record("replica-b_1", 1))).To(Succeed())
	_, _, err = lock.Get(ctx)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(lock.Update(ctx, resourcelock.LeaderElectionRecord{})).To(MatchError(ContainSubstring(`held by "replica-b_1"`)))
	g.Expect(holder()).To(Equal("replica-b_1"))
}
