package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// localSystem is a local system (hack/local) the tool started: a control
// plane and the operator, in a process group of their own.
type localSystem struct {
	cmd        *exec.Cmd
	exited     chan error
	logPath    string
	kubeconfig string
	natsURL    string
	metricsURL string
	managerPID int // 0 when not found
}

// startLocal runs `<bin> --assets <assets> --manager <manager> --state-dir
// <stateDir>` (with a --manager-arg for each of managerArgs) and waits until it says it is up, reading the kubeconfig,
// the event stream's URL and the metrics URL from what it prints.
func startLocal(ctx context.Context, bin, assets, manager string, managerArgs []string, stateDir string, timeout time.Duration) (*localSystem, error) {
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return nil, err
	}
	ls := &localSystem{logPath: filepath.Join(stateDir, "local.out"), exited: make(chan error, 1)}
	logFile, err := os.Create(ls.logPath)
	if err != nil {
		return nil, err
	}
	args := []string{"--assets", assets, "--manager", manager, "--state-dir", stateDir}
	for _, a := range managerArgs {
		args = append(args, "--manager-arg="+a)
	}
	ls.cmd = exec.Command(bin, args...)
	ls.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := ls.cmd.StdoutPipe()
	if err != nil {
		logFile.Close()
		return nil, err
	}
	ls.cmd.Stderr = logFile
	if err := ls.cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}

	up := make(chan struct{})
	go func() {
		defer logFile.Close()
		sc := bufio.NewScanner(io.TeeReader(out, logFile))
		isUp := false
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if isUp {
				continue
			}
			fields := strings.Fields(line)
			switch {
			case strings.HasPrefix(line, "kubeconfig ") && len(fields) > 1:
				ls.kubeconfig = fields[1]
			case strings.HasPrefix(line, "event stream ") && len(fields) > 2:
				ls.natsURL = fields[2]
			case strings.HasPrefix(line, "metrics ") && len(fields) > 1:
				ls.metricsURL = fields[1]
			case strings.HasPrefix(line, "Press Ctrl-C"):
				isUp = true
				close(up)
			}
		}
		_, _ = io.Copy(logFile, out)
		ls.exited <- ls.cmd.Wait()
	}()

	select {
	case <-up:
	case err := <-ls.exited:
		return nil, fmt.Errorf("%s exited before it was up (see %s): %v", bin, ls.logPath, err)
	case <-time.After(timeout):
		ls.stop()
		return nil, fmt.Errorf("%s was not up after %s (see %s)", bin, timeout, ls.logPath)
	case <-ctx.Done():
		ls.stop()
		return nil, ctx.Err()
	}
	ls.managerPID = childWithArg(ls.cmd.Process.Pid, "--stream-listen")
	if ls.kubeconfig == "" || ls.natsURL == "" {
		ls.stop()
		return nil, fmt.Errorf("could not read the kubeconfig and the event stream's URL from %s", ls.logPath)
	}
	return ls, nil
}

// stop interrupts the local system's process group, as Ctrl-C would, and
// kills the group if it has not stopped within a minute.
func (ls *localSystem) stop() error {
	pgid := ls.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGINT)
	select {
	case err := <-ls.exited:
		return err
	case <-time.After(time.Minute):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-ls.exited
		return errors.New("the local system did not stop within a minute and was killed")
	}
}
