package localsystem

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
)

// childShimEnv tells a process started through the child shim that it is
// one, and what to become: "<parent pid>:<directory of the real binary>".
const childShimEnv = "LOCALSYSTEM_CHILD_SHIM"

// RunChildShim returns at once unless this process was started as the
// child shim of a control plane (ControlPlaneOptions.ChildShim); then it
// never returns: it has the kernel kill this process (SIGKILL) when the
// process that started it dies, and replaces itself with the real etcd or
// kube-apiserver, which keep the parent-death signal. A program that names
// itself as the ChildShim calls RunChildShim first thing in main (or
// TestMain).
//
// This is how etcd and kube-apiserver, which envtest starts without a
// parent-death signal, end with the local system however it ends: SIGKILL
// too, which no signal handler sees.
func RunChildShim() {
	v, ok := os.LookupEnv(childShimEnv)
	if !ok {
		return
	}
	// The parent-death signal belongs to the thread that sets it, and
	// exec keeps the calling thread's.
	runtime.LockOSThread()
	pid, dir, _ := strings.Cut(v, ":")
	parent, err := strconv.Atoi(pid)
	if err != nil || dir == "" {
		shimFail(fmt.Errorf("malformed %s=%q", childShimEnv, v))
	}
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_PDEATHSIG, uintptr(syscall.SIGKILL), 0); errno != 0 {
		shimFail(fmt.Errorf("setting the parent-death signal: %w", errno))
	}
	// The parent may have died before the signal was set.
	if os.Getppid() != parent {
		shimFail(fmt.Errorf("the parent (pid %d) is gone", parent))
	}
	env := make([]string, 0, len(os.Environ()))
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, childShimEnv+"=") {
			env = append(env, kv)
		}
	}
	binary := filepath.Join(dir, filepath.Base(os.Args[0]))
	err = syscall.Exec(binary, append([]string{binary}, os.Args[1:]...), env)
	shimFail(fmt.Errorf("running %s: %w", binary, err))
}

func shimFail(err error) {
	fmt.Fprintln(os.Stderr, "localsystem child shim:", err)
	os.Exit(1)
}

// shimChildren links etcd and kube-apiserver to the shim executable in a
// new temporary directory, and sets childShimEnv in this process's
// environment, which envtest gives the processes it starts. It returns the
// directory, which the caller removes.
func shimChildren(shim, assets string) (string, error) {
	shim, err := filepath.Abs(shim)
	if err != nil {
		return "", err
	}
	assets, err = filepath.Abs(assets)
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "localsystem-shim-")
	if err != nil {
		return "", err
	}
	for _, name := range []string{"etcd", "kube-apiserver"} {
		if err := os.Symlink(shim, filepath.Join(dir, name)); err != nil {
			_ = os.RemoveAll(dir)
			return "", err
		}
	}
	if err := os.Setenv(childShimEnv, strconv.Itoa(os.Getpid())+":"+assets); err != nil {
		_ = os.RemoveAll(dir)
		return "", err
	}
	return dir, nil
}
