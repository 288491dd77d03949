//go:build !linux

package localsystem

// RunChildShim returns: outside Linux there is no parent-death signal, and
// ControlPlaneOptions.ChildShim is not used.
func RunChildShim() {}

// shimChildren returns "": the control plane's binaries run directly.
func shimChildren(shim, assets string) (string, error) { return "", nil }

func childPids(parent int) (map[string]int, error) { return map[string]int{}, nil }
