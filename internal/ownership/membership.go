package ownership

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Labels on every Lease of an Owner: the group is Config.Name, the role
// tells member Leases from partition Leases.
const (
	LabelGroup = "triggers.leadvibe.io/ownership"
	LabelRole  = "triggers.leadvibe.io/ownership-role"

	roleMember    = "member"
	rolePartition = "partition"
)

func leaseLabels(name, role string) map[string]string {
	return map[string]string{LabelGroup: name, LabelRole: role}
}

// partitionLeaseName is the Lease that decides who holds partition p.
func partitionLeaseName(name string, p int) string {
	return fmt.Sprintf("%s-partition-%02d", name, p)
}

// memberLeaseName is the Lease a replica renews to say it is alive.
func memberLeaseName(name, identity string) string {
	return name + "-member-" + dnsLabel(identity)
}

// dnsLabel turns an identity into a DNS-1123 label: the identity itself
// when it is one, else its lower-cased letters and digits (at most 40)
// and a hash of the whole identity, so that distinct identities keep
// distinct labels.
func dnsLabel(identity string) string {
	if len(validation.IsDNS1123Label(identity)) == 0 {
		return identity
	}
	var b strings.Builder
	for _, r := range strings.ToLower(identity) {
		if ('a' <= r && r <= 'z') || ('0' <= r && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	clean := strings.Trim(b.String(), "-")
	if len(clean) > 40 {
		clean = strings.TrimRight(clean[:40], "-")
	}
	sum := sha256.Sum256([]byte(identity))
	hash := hex.EncodeToString(sum[:])[:10]
	if clean == "" {
		return hash
	}
	return clean + "-" + hash
}

// liveMembers is the sorted identities of the member Leases whose
// renewTime plus leaseDurationSeconds is after now.
func liveMembers(leases []coordinationv1.Lease, now time.Time) []string {
	var members []string
	for _, l := range leases {
		s := l.Spec
		if s.HolderIdentity == nil || *s.HolderIdentity == "" || s.RenewTime == nil || s.LeaseDurationSeconds == nil {
			continue
		}
		expires := s.RenewTime.Add(time.Duration(*s.LeaseDurationSeconds) * time.Second)
		if expires.After(now) {
			members = append(members, *s.HolderIdentity)
		}
	}
	slices.Sort(members)
	return slices.Compact(members)
}

// preferredOwner is the member that should hold partition p: members
// (sorted) deal the partitions out in turn. Empty when there are none.
func preferredOwner(members []string, p int) string {
	if len(members) == 0 {
		return ""
	}
	return members[p%len(members)]
}

// member renews this replica's member Lease. Only the replica writes it.
type member struct {
	cfg   Config
	name  string
	lease *coordinationv1.Lease // as last written; nil to read it again
}

func newMember(cfg Config) *member {
	return &member{cfg: cfg, name: memberLeaseName(cfg.Name, cfg.Identity)}
}

// renew creates the member Lease or moves its renewTime to now.
func (m *member) renew(ctx context.Context) error {
	leases := m.cfg.Client.Leases(m.cfg.Namespace)
	now := metav1.NewMicroTime(time.Now())
	seconds := int32(m.cfg.LeaseDuration / time.Second)
	if m.lease == nil {
		l, err := leases.Get(ctx, m.name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			l, err = leases.Create(ctx, &coordinationv1.Lease{
				ObjectMeta: metav1.ObjectMeta{
					Name: m.name, Namespace: m.cfg.Namespace, Labels: leaseLabels(m.cfg.Name, roleMember),
				},
				Spec: coordinationv1.LeaseSpec{
					HolderIdentity: &m.cfg.Identity, LeaseDurationSeconds: &seconds,
					AcquireTime: &now, RenewTime: &now,
				},
			}, metav1.CreateOptions{})
			if err != nil {
				return fmt.Errorf("creating member lease %s: %w", m.name, err)
			}
			m.lease = l
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading member lease %s: %w", m.name, err)
		}
		m.lease = l
	}
	l := m.lease.DeepCopy()
	if l.Labels == nil {
		l.Labels = map[string]string{}
	}
	for k, v := range leaseLabels(m.cfg.Name, roleMember) {
		l.Labels[k] = v
	}
	l.Spec.HolderIdentity = &m.cfg.Identity
	l.Spec.LeaseDurationSeconds = &seconds
	l.Spec.RenewTime = &now
	updated, err := leases.Update(ctx, l, metav1.UpdateOptions{})
	if err != nil {
		m.lease = nil
		return fmt.Errorf("renewing member lease %s: %w", m.name, err)
	}
	m.lease = updated
	return nil
}

// remove deletes the member Lease, so the others stop counting this
// replica at once rather than when the Lease expires.
func (m *member) remove(ctx context.Context) error {
	err := m.cfg.Client.Leases(m.cfg.Namespace).Delete(ctx, m.name, metav1.DeleteOptions{})
	m.lease = nil
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting member lease %s: %w", m.name, err)
	}
	return nil
}

// live lists the live members of the group.
func (m *member) live(ctx context.Context) ([]string, error) {
	list, err := m.cfg.Client.Leases(m.cfg.Namespace).List(ctx, metav1.ListOptions{
		LabelSelector: labels.SelectorFromSet(leaseLabels(m.cfg.Name, roleMember)).String(),
	})
	if err != nil {
		return nil, fmt.Errorf("listing member leases: %w", err)
	}
	return liveMembers(list.Items, time.Now()), nil
}
