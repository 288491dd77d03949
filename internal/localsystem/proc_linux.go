package localsystem

import (
	"os/exec"
	"runtime"
	"sync"
	"syscall"
)

// procAttr puts the operator in a process group of its own, so that it
// and anything it starts can be signalled together, and has the kernel
// kill it when its parent dies, so that a crashed or killed caller leaves
// no operator behind.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// startCmd starts cmd from the spawn thread (see onSpawnThread).
func startCmd(cmd *exec.Cmd) error { return onSpawnThread(cmd.Start) }

// onSpawnThread runs f on one OS thread that lives as long as this
// process, and returns its error. Linux sends a child's parent-death
// signal when the thread that forked the child exits, not the process,
// and the Go runtime may end a thread (one a goroutine locked and left
// locked), so every child that must die with this process is forked from
// a thread that never ends: the operator (startCmd) and the control
// plane's etcd and kube-apiserver (StartControlPlane).
func onSpawnThread(f func() error) error {
	req := spawnRequest{f: f, done: make(chan error, 1)}
	spawner() <- req
	return <-req.done
}

type spawnRequest struct {
	f    func() error
	done chan error
}

var spawner = sync.OnceValue(func() chan<- spawnRequest {
	requests := make(chan spawnRequest)
	go func() {
		// Never unlocked: the goroutine and its thread live until the
		// process exits.
		runtime.LockOSThread()
		for req := range requests {
			req.done <- req.f()
		}
	}()
	return requests
})

// killGroup sends SIGKILL to the process group led by pid.
func killGroup(pid int) error { return syscall.Kill(-pid, syscall.SIGKILL) }
