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

// startCmd starts cmd from one OS thread that lives as long as this
// process: Linux sends the parent-death signal when the thread that forked
// the child exits, and the Go runtime may end a thread, so the forks are
// made on a thread that never ends.
func startCmd(cmd *exec.Cmd) error {
	req := spawnRequest{cmd: cmd, done: make(chan error, 1)}
	spawner() <- req
	return <-req.done
}

type spawnRequest struct {
	cmd  *exec.Cmd
	done chan error
}

var spawner = sync.OnceValue(func() chan<- spawnRequest {
	requests := make(chan spawnRequest)
	go func() {
		// Never unlocked: the goroutine and its thread live until the
		// process exits.
		runtime.LockOSThread()
		for req := range requests {
			req.done <- req.cmd.Start()
		}
	}()
	return requests
})

// killGroup sends SIGKILL to the process group led by pid.
func killGroup(pid int) error { return syscall.Kill(-pid, syscall.SIGKILL) }
