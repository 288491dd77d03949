package ownership

import (
	"context"
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/ptr"
)

// releaseStale releases the partitions an earlier run of this replica
// held when it died (SIGKILL, an OOM kill, a node's crash with the pod
// restarted in place): their Leases name a holder of this identity, under
// a holder name no campaign of this run has used. Identities are unique
// among live replicas (Config.Identity), so that holder is dead, and
// waiting for its Leases to expire would only hold the partitions idle.
// Safety does not rest on it: a partition's writes are fenced by its
// claim (internal/ledger), whoever holds its Lease.
func (o *Owner) releaseStale(ctx context.Context) (int, error) {
	apiCtx, cancel := context.WithTimeout(ctx, o.cfg.RenewDeadline)
	defer cancel()
	selector := labels.SelectorFromSet(leaseLabels(o.cfg.Name, rolePartition)).String()
	leases, err := o.cfg.Client.Leases(o.cfg.Namespace).List(apiCtx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return 0, fmt.Errorf("listing the partition leases: %w", err)
	}
	released := 0
	for i := range leases.Items {
		l := &leases.Items[i]
		if l.Spec.HolderIdentity == nil || !strings.HasPrefix(*l.Spec.HolderIdentity, o.cfg.Identity+"_") {
			continue
		}
		// What client-go's release writes: no holder, a one-second lease.
		l.Spec.HolderIdentity = ptr.To("")
		l.Spec.LeaseDurationSeconds = ptr.To(int32(1))
		if _, err := o.cfg.Client.Leases(o.cfg.Namespace).Update(apiCtx, l, metav1.UpdateOptions{}); err != nil {
			return released, fmt.Errorf("releasing %s of an earlier run: %w", l.Name, err)
		}
		released++
	}
	return released, nil
}
