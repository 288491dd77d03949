// Package ownership shares the event stream's partitions among the
// operator's replicas: each partition is evaluated by one replica at a
// time, the partitions are spread evenly over the live replicas, and they
// move when replicas come and go.
//
// # Mechanism
//
// Every partition has a Kubernetes Lease, "<name>-partition-07", and is
// held through client-go's leader election (leaderelection.LeaderElector
// on a resourcelock.LeaseLock), the code controller-runtime's manager
// elects its leader with. Every replica also renews a member Lease of its
// own, "<name>-member-<identity>", labelled triggers.leadvibe.io/ownership=<name>.
// The live members are the member Leases whose renewTime plus
// leaseDurationSeconds lies in the future. Every RetryPeriod a replica
// renews its member Lease, lists the live members, sorts their identities
// and deals the partitions out in turn: partition p's preferred owner is
// members[p % len(members)]. A replica campaigns for a partition only while
// it is the preferred owner; when it holds one whose preferred owner is now
// another live replica (one has joined), it hands it over: Run's context
// is cancelled, and once Run has returned the Lease is released
// (ReleaseOnCancel), so the preferred owner's campaign takes it on its next
// try. While replicas disagree about the members, two may campaign for the
// same partition; the Lease still has one holder. A replica that stops
// deletes its member Lease and releases its partitions, and the others take
// them within a RetryPeriod or two; a replica that dies without doing so
// keeps its partitions until its Leases expire, LeaseDuration after its
// last renewal. Each acquisition is made under a holder identity of its
// own, so the Lease's leaseTransitions grows by one with each, and Run
// receives it as the partition's epoch for the caller's fence: leader
// election alone does not fence a holder that has paused past its lease.
//
// # Why Leases
//
// JetStream priority groups (a consumer's pinned client) and orbit.go's
// partitioned consumer groups, built on them, choose which subscriber is
// delivered a consumer's messages; what a partition's evaluator needs is
// ownership of the partition's lead state and outbox, with a start where
// it loads them, an end before which it must have finished writing, and
// an ordered epoch to fence a stale writer. A pin moves when the server
// has not heard from the pinned client for its TTL, whether or not that
// client is still processing, and gives no ordered token; pcgroups keeps
// its membership as an administrative list in a KV bucket (fixed for
// static groups, added and dropped by hand for elastic ones, which also
// source a work-queue stream of their own), so it fails over between
// instances of one member but does not rebalance as replicas come and go.
// A Lease per partition gives all of that with a mechanism the operator
// already runs: the same client-go code and API server as its leader
// election, the Lease permissions its leader-election Role already grants,
// state anyone can read with kubectl get leases -l
// triggers.leadvibe.io/ownership, and no dependency on the NATS server's
// version or on whether it is embedded. The cost is API-server writes: each
// held partition is renewed every RetryPeriod, 16 partitions at the
// default 2 s being 8 small updates a second for the whole group, plus one
// member renewal and one list per replica.
package ownership
