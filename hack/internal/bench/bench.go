// Package bench holds what the measuring tools of hack/ (load, restbench,
// streambench) share: quantiles, the command line as typed, and the
// machine a measurement ran on, so that every report computes and names
// them the same way.
package bench

import (
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// Quantile returns the q-quantile (0 < q <= 1) of sorted durations by the
// nearest-rank method: the smallest value with at least q of the values
// at or below it. Zero when there are none.
func Quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// CommandLine is args quoted as a shell needs them. A binary in the go
// build cache was started by go run: it is shown as "go run <pkg>".
func CommandLine(args []string, pkg string) string {
	q := make([]string, len(args))
	for i, a := range args {
		switch {
		case i == 0 && strings.Contains(a, "go-build"):
			q[i] = "go run " + pkg
		case i == 0:
			q[i] = filepath.Clean(a)
		case a != "" && strings.IndexFunc(a, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:,@+", r))
		}) < 0:
			q[i] = a
		default:
			q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
	}
	return strings.Join(q, " ")
}

// Machine describes where a measurement ran.
type Machine struct {
	CPUModel string
	Cores    int
	GoVer    string
	Kernel   string
}

// DescribeMachine reads the machine's CPU model and kernel from /proc.
func DescribeMachine() Machine {
	m := Machine{CPUModel: "unknown", Cores: runtime.NumCPU(), GoVer: runtime.Version(), Kernel: runtime.GOOS + "/" + runtime.GOARCH}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel += ", Linux " + strings.TrimSpace(string(b))
	}
	return m
}

// LoadAverage is the 1, 5 and 15 minute load averages of /proc/loadavg.
func LoadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
