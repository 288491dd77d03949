package ownership

import (
	"slices"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"
)

func TestDNSLabelKeepsLabelsAndHashesTheRest(t *testing.T) {
	long := strings.Repeat("replica", 20)
	for _, tc := range []struct {
		identity, want string
	}{
		{identity: "milestone-triggers-7d9f-abcde", want: "milestone-triggers-7d9f-abcde"},
		{identity: "Replica_A", want: "replica-a-"},
		{identity: "node.example.com", want: "node-example-com-"},
		{identity: "___", want: ""},
		{identity: long, want: long[:40] + "-"},
	} {
		got := dnsLabel(tc.identity)
		if msgs := validation.IsDNS1123Label(got); len(msgs) > 0 {
			t.Errorf("dnsLabel(%q) = %q, not a DNS label: %v", tc.identity, got, msgs)
		}
		if !strings.HasPrefix(got, tc.want) {
			t.Errorf("dnsLabel(%q) = %q, want it to start with %q", tc.identity, got, tc.want)
		}
		if got != tc.identity && len(got) != len(tc.want)+10 {
			t.Errorf("dnsLabel(%q) = %q, want %q and a 10-digit hash", tc.identity, got, tc.want)
		}
	}
	if dnsLabel("Replica_A") == dnsLabel("replica-a") || dnsLabel("Replica_A") == dnsLabel("replica.a") {
		t.Error("distinct identities share a member lease name")
	}
}

func TestLiveMembersAreTheUnexpiredMemberLeases(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	lease := func(holder string, renewedAgo time.Duration, seconds int32) coordinationv1.Lease {
		return coordinationv1.Lease{Spec: coordinationv1.LeaseSpec{
			HolderIdentity:       ptr.To(holder),
			RenewTime:            &metav1.MicroTime{Time: now.Add(-renewedAgo)},
			LeaseDurationSeconds: ptr.To(seconds),
		}}
	}
	leases := []coordinationv1.Lease{
		lease("c", time.Second, 15),
		lease("a", 14*time.Second, 15),
		lease("expired", 15*time.Second, 15),
		lease("b", 0, 2),
		lease("b", 0, 2),
		lease("", 0, 15),
		{Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("never-renewed"), LeaseDurationSeconds: ptr.To[int32](15)}},
		{Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("no-duration"), RenewTime: &metav1.MicroTime{Time: now}}},
	}
	if got, want := liveMembers(leases, now), []string{"a", "b", "c"}; !slices.Equal(got, want) {
		t.Errorf("liveMembers = %q, want %q", got, want)
	}
}

func TestPreferredOwnersDealThePartitionsOutEvenly(t *testing.T) {
	for _, tc := range []struct {
		members    []string
		partitions int
		want       map[string]int
	}{
		{members: nil, partitions: 8, want: map[string]int{"": 8}},
		{members: []string{"a"}, partitions: 8, want: map[string]int{"a": 8}},
		{members: []string{"a", "b"}, partitions: 8, want: map[string]int{"a": 4, "b": 4}},
		{members: []string{"a", "b", "c"}, partitions: 16, want: map[string]int{"a": 6, "b": 5, "c": 5}},
		{members: []string{"a", "b", "c"}, partitions: 2, want: map[string]int{"a": 1, "b": 1}},
	} {
		got := map[string]int{}
		for p := range tc.partitions {
			got[preferredOwner(tc.members, p)]++
		}
		if len(got) != len(tc.want) {
			t.Errorf("%q over %d partitions: %v, want %v", tc.members, tc.partitions, got, tc.want)
			continue
		}
		for m, n := range tc.want {
			if got[m] != n {
				t.Errorf("%q over %d partitions: %v, want %v", tc.members, tc.partitions, got, tc.want)
			}
		}
	}
	if preferredOwner([]string{"a", "b"}, 3) != "b" {
		t.Error("partition 3 of members a, b should prefer b")
	}
}
