//go:build unix && !linux

package localsystem

import (
	"os/exec"
	"syscall"
)

// procAttr puts the operator in a process group of its own, so that it
// and anything it starts can be signalled together.
func procAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

func startCmd(cmd *exec.Cmd) error { return cmd.Start() }

// onSpawnThread runs f: only Linux has a parent-death signal to keep.
func onSpawnThread(f func() error) error { return f() }

// killGroup sends SIGKILL to the process group led by pid.
func killGroup(pid int) error { return syscall.Kill(-pid, syscall.SIGKILL) }
