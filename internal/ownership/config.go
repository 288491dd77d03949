package ownership

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/util/validation"
	coordinationv1client "k8s.io/client-go/kubernetes/typed/coordination/v1"
	"k8s.io/client-go/tools/leaderelection"
)

// Defaults, the same as controller-runtime's leader election.
const (
	DefaultPartitions    = 16
	DefaultLeaseDuration = 15 * time.Second
	DefaultRenewDeadline = 10 * time.Second
	DefaultRetryPeriod   = 2 * time.Second
)

// Partition is one partition this replica has acquired.
type Partition struct {
	// Index is the partition's number, 0 <= Index < Config.Partitions.
	Index int
	// Epoch is the partition Lease's spec.leaseTransitions as this replica
	// wrote it when it acquired the Lease. Every acquisition is made under
	// a holder identity of its own, so each one after the Lease's creation
	// adds one: an epoch is greater than that of every earlier holder of
	// the partition, as long as nobody deletes the Lease (a new Lease
	// starts again at 0).
	Epoch int32
}

// Config says which Leases an Owner uses and what it runs for a partition.
type Config struct {
	// Client reads and writes the Leases, e.g. clientset.CoordinationV1().
	Client coordinationv1client.LeasesGetter
	// Namespace holds all the Leases.
	Namespace string
	// Name prefixes the Leases, "<Name>-partition-07" and
	// "<Name>-member-<identity>", and labels them; a DNS-1123 label such
	// as "milestone-triggers". Replicas with the same Namespace and Name
	// share the partitions.
	Name string
	// Identity names this replica, unique among the replicas: the pod name.
	Identity string
	// Partitions is how many partitions the stream is split into;
	// DefaultPartitions when zero. All replicas must agree on it.
	Partitions int
	// LeaseDuration is how long a Lease holds without renewal: how long a
	// crashed replica's partitions wait before they move. A whole number of
	// seconds, as the Lease stores it; DefaultLeaseDuration when zero.
	LeaseDuration time.Duration
	// RenewDeadline is how long a holder keeps retrying a failed renewal
	// before it gives the partition up; DefaultRenewDeadline when zero.
	RenewDeadline time.Duration
	// RetryPeriod is how often Leases are renewed and tried and membership
	// is evaluated again; DefaultRetryPeriod when zero.
	RetryPeriod time.Duration
	// Run is called in a goroutine of its own each time this replica
	// acquires a partition. Its context ends when the replica loses the
	// partition, hands it over or stops; Run must then return promptly:
	// the Lease is released only after Run has returned, and a replica that
	// cannot renew ends Run at most RetryPeriod+RenewDeadline after its
	// last renewal, while another may acquire the partition LeaseDuration
	// after it.
	Run func(ctx context.Context, p Partition)
	// Log receives the owner's logs; log.FromContext of Start's context
	// when unset.
	Log logr.Logger
}

func (c Config) withDefaults() Config {
	if c.Partitions == 0 {
		c.Partitions = DefaultPartitions
	}
	if c.LeaseDuration == 0 {
		c.LeaseDuration = DefaultLeaseDuration
	}
	if c.RenewDeadline == 0 {
		c.RenewDeadline = DefaultRenewDeadline
	}
	if c.RetryPeriod == 0 {
		c.RetryPeriod = DefaultRetryPeriod
	}
	return c
}

// validate checks a Config with its defaults applied.
func (c Config) validate() error {
	var errs []error
	if c.Client == nil {
		errs = append(errs, errors.New("client is required"))
	}
	if c.Namespace == "" {
		errs = append(errs, errors.New("namespace is required"))
	}
	if msgs := validation.IsDNS1123Label(c.Name); len(msgs) > 0 {
		errs = append(errs, fmt.Errorf("name %q: %v", c.Name, msgs))
	}
	if c.Identity == "" {
		errs = append(errs, errors.New("identity is required"))
	}
	if c.Partitions < 1 {
		errs = append(errs, fmt.Errorf("partitions must be at least 1, not %d", c.Partitions))
	}
	if c.Run == nil {
		errs = append(errs, errors.New("run is required"))
	}
	if c.LeaseDuration < time.Second || c.LeaseDuration%time.Second != 0 {
		errs = append(errs, fmt.Errorf("lease duration must be a whole number of seconds, not %s", c.LeaseDuration))
	}
	if c.RetryPeriod <= 0 {
		errs = append(errs, fmt.Errorf("retry period must be positive, not %s", c.RetryPeriod))
	}
	if c.RenewDeadline <= time.Duration(leaderelection.JitterFactor*float64(c.RetryPeriod)) {
		errs = append(errs, fmt.Errorf("renew deadline %s must exceed %v times the retry period %s",
			c.RenewDeadline, leaderelection.JitterFactor, c.RetryPeriod))
	}
	// A holder that cannot renew stops Run at most RetryPeriod+RenewDeadline
	// after its last renewal; a rival acquires no sooner than LeaseDuration
	// after it. The difference is the time Run has to return.
	if c.RenewDeadline+c.RetryPeriod >= c.LeaseDuration {
		errs = append(errs, fmt.Errorf("renew deadline %s plus retry period %s must be shorter than the lease duration %s",
			c.RenewDeadline, c.RetryPeriod, c.LeaseDuration))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("ownership: %w", err)
	}
	return nil
}
