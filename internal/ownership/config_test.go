package ownership

import (
	"context"
	"strings"
	"testing"
	"time"

	coordinationv1client "k8s.io/client-go/kubernetes/typed/coordination/v1"
	"k8s.io/client-go/rest"
)

func TestConfigIsValidatedWithItsDefaults(t *testing.T) {
	valid := Config{
		Client: coordinationv1client.NewForConfigOrDie(&rest.Config{Host: "https://127.0.0.1:1"}), Namespace: "ns", Name: "milestone-triggers", Identity: "pod-0",
		Run: func(_ context.Context, _ Partition) {},
	}
	o, err := New(valid)
	if err != nil {
		t.Fatalf("New(valid) = %v", err)
	}
	if c := o.cfg; c.Partitions != 16 || c.LeaseDuration != 15*time.Second || c.RenewDeadline != 10*time.Second || c.RetryPeriod != 2*time.Second {
		t.Errorf("defaults = %d %s %s %s", c.Partitions, c.LeaseDuration, c.RenewDeadline, c.RetryPeriod)
	}
	for _, tc := range []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"no client", func(c *Config) { c.Client = nil }, "client is required"},
		{"bad name", func(c *Config) { c.Name = "Milestone_Triggers" }, `name "Milestone_Triggers"`},
		{"no identity", func(c *Config) { c.Identity = "" }, "identity is required"},
		{"no run", func(c *Config) { c.Run = nil }, "run is required"},
		{"negative partitions", func(c *Config) { c.Partitions = -1 }, "partitions must be at least 1"},
		{"fractional lease", func(c *Config) { c.LeaseDuration = 2500 * time.Millisecond }, "whole number of seconds"},
		{"renew deadline too short", func(c *Config) { c.RetryPeriod = 9 * time.Second }, "must exceed 1.2 times"},
		{"no margin before a rival", func(c *Config) { c.LeaseDuration = 12 * time.Second }, "must be shorter than the lease duration"},
	} {
		c := valid
		tc.change(&c)
		if _, err := New(c); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: New = %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}
