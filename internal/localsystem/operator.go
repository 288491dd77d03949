package localsystem

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/leadvibe/milestone-triggers-operator/internal/stream"
)

// OperatorOptions say how to run the operator binary.
type OperatorOptions struct {
	// Binary is the operator binary (bin/manager).
	Binary string
	// Kubeconfig is the kubeconfig file it runs with.
	Kubeconfig string
	// DataDir is the embedded stream's storage (--data-dir). A restart on
	// the same directory resumes where the operator stopped.
	DataDir string
	// LogPath is the file the operator's output goes to: truncated by the
	// first start, appended to by restarts.
	LogPath string
	// Args are more flags, after the ones the Operator sets itself.
	Args []string
	// ReadyTimeout bounds the wait for the probes and the REST API after a
	// start (default 60s).
	ReadyTimeout time.Duration
}

// Operator runs the operator binary as a separate process, in a process
// group of its own, with loopback addresses chosen once, so that a
// restart listens where the process before it did: the health probes
// (ProbeAddr), the metrics (MetricsAddr, plain HTTP), the REST API
// (APIAddr) and the embedded NATS server's client port (StreamAddr).
type Operator struct {
	ProbeAddr, MetricsAddr, APIAddr, StreamAddr string

	// adminPassword is the stream listener's admin password, made once
	// and given to every start in STREAM_ADMIN_PASSWORD.
	adminPassword string

	opts    OperatorOptions
	started bool

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	err    error
}

// NewOperator chooses the operator's addresses; Start runs it.
func NewOperator(o OperatorOptions) (*Operator, error) {
	if o.ReadyTimeout <= 0 {
		o.ReadyTimeout = 60 * time.Second
	}
	pw := make([]byte, 24)
	if _, err := rand.Read(pw); err != nil {
		return nil, err
	}
	op := &Operator{opts: o, adminPassword: base64.RawURLEncoding.EncodeToString(pw)}
	for _, addr := range []*string{&op.ProbeAddr, &op.MetricsAddr, &op.APIAddr, &op.StreamAddr} {
		a, err := FreeLoopbackAddr()
		if err != nil {
			return nil, err
		}
		*addr = a
	}
	return op, nil
}

// APIURL is the REST API's base URL.
func (op *Operator) APIURL() string { return "http://" + op.APIAddr }

// NATSURL is the embedded NATS server's client URL with the listener's
// admin credentials (stream.AdminUser): a client of this URL reads and
// writes every subject, as the local system's tools and tests do.
// Publishers as a tenant would connect to StreamURL with a token.
func (op *Operator) NATSURL() string {
	return "nats://" + url.UserPassword(stream.AdminUser, op.adminPassword).String() + "@" + op.StreamAddr
}

// StreamURL is the embedded NATS server's client URL without credentials,
// for publishers that bring a service-account token (hack/publish
// --token-file).
func (op *Operator) StreamURL() string { return "nats://" + op.StreamAddr }

// MetricsURL is the metrics endpoint.
func (op *Operator) MetricsURL() string { return "http://" + op.MetricsAddr + "/metrics" }

// LogPath is the operator's log file.
func (op *Operator) LogPath() string { return op.opts.LogPath }

// Args are the operator's command-line flags. They allow webhook targets
// on 127.0.0.1, which the default --webhook-deny-cidrs refuses, so that
// receivers on this machine (the README's walk-through, the end-to-end
// suite, hack/load) are reachable; every other loopback and internal
// address stays denied. OperatorOptions.Args, which come last, may
// override it.
func (op *Operator) Args() []string {
	return append([]string{
		"--kubeconfig", op.opts.Kubeconfig,
		"--health-probe-bind-address", op.ProbeAddr,
		"--metrics-bind-address", op.MetricsAddr,
		"--metrics-secure=false",
		"--data-dir", op.opts.DataDir,
		"--stream-listen", op.StreamAddr,
		"--api-bind-address", op.APIAddr,
		"--webhook-allow-cidrs=127.0.0.1/32",
	}, op.opts.Args...)
}

// Start runs the operator and waits until it is ready (/readyz answers 200)
// and its REST API serves (a request without a token gets 401). When it
// is not, Start stops it and says why.
func (op *Operator) Start(ctx context.Context) error {
	if err := op.start(); err != nil {
		return fmt.Errorf("starting the operator: %w", err)
	}
	if err := op.waitFor(ctx, "http://"+op.ProbeAddr+"/readyz", http.StatusOK); err != nil {
		_ = op.Stop()
		return fmt.Errorf("the operator did not become ready (see %s): %w", op.opts.LogPath, err)
	}
	// The REST API answers 401 to a request without a token once it serves.
	if err := op.waitFor(ctx, op.APIURL()+"/triggers", http.StatusUnauthorized); err != nil {
		_ = op.Stop()
		return fmt.Errorf("the REST API did not come up (see %s): %w", op.opts.LogPath, err)
	}
	return nil
}

func (op *Operator) start() error {
	op.mu.Lock()
	defer op.mu.Unlock()
	if op.cmd != nil {
		select {
		case <-op.exited:
		default:
			return errors.New("the operator is already running")
		}
	}
	flags := os.O_CREATE | os.O_WRONLY | os.O_APPEND
	if !op.started {
		flags |= os.O_TRUNC
	}
	logFile, err := os.OpenFile(op.opts.LogPath, flags, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(op.opts.Binary, op.Args()...)
	cmd.Env = append(os.Environ(), stream.AdminPasswordEnv+"="+op.adminPassword)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = procAttr()
	if err := startCmd(cmd); err != nil {
		_ = logFile.Close()
		return err
	}
	op.started = true
	exited := make(chan struct{})
	op.cmd, op.exited, op.err = cmd, exited, nil
	go func() {
		err := cmd.Wait()
		_ = logFile.Close()
		op.mu.Lock()
		op.err = err
		op.mu.Unlock()
		close(exited)
	}()
	return nil
}

// Exited is closed when the process started last exits; Err then says how.
func (op *Operator) Exited() <-chan struct{} {
	op.mu.Lock()
	defer op.mu.Unlock()
	return op.exited
}

// Err is how the process started last exited (nil for a clean exit).
func (op *Operator) Err() error {
	op.mu.Lock()
	defer op.mu.Unlock()
	return op.err
}

// Pid is the process id of the process started last, 0 before a start.
func (op *Operator) Pid() int {
	op.mu.Lock()
	defer op.mu.Unlock()
	if op.cmd == nil {
		return 0
	}
	return op.cmd.Process.Pid
}

// running returns the running process and its exit channel, or nil.
func (op *Operator) running() (*exec.Cmd, <-chan struct{}) {
	op.mu.Lock()
	defer op.mu.Unlock()
	if op.cmd == nil {
		return nil, nil
	}
	select {
	case <-op.exited:
		return nil, nil
	default:
		return op.cmd, op.exited
	}
}

// Stop asks the operator to stop (SIGTERM), and kills its process group if
// it has not stopped within 20 seconds.
func (op *Operator) Stop() error {
	cmd, exited := op.running()
	if cmd == nil {
		return nil
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
		return nil
	case <-time.After(20 * time.Second):
		_ = killGroup(cmd.Process.Pid)
		<-exited
		return errors.New("the operator did not stop within 20s and was killed")
	}
}

// Kill kills the operator's process group at once (SIGKILL, as kill -9
// does), and waits until the process is gone.
func (op *Operator) Kill() error {
	cmd, exited := op.running()
	if cmd == nil {
		return nil
	}
	err := killGroup(cmd.Process.Pid)
	<-exited
	return err
}

// waitFor polls target until it answers with the status given, the process
// exits, or the context ends.
func (op *Operator) waitFor(ctx context.Context, target string, status int) error {
	exited := op.Exited()
	deadline := time.After(op.opts.ReadyTimeout)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	client := &http.Client{Timeout: 5 * time.Second}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-exited:
			return fmt.Errorf("exited: %v", op.Err())
		case <-deadline:
			return fmt.Errorf("timed out after %s", op.opts.ReadyTimeout)
		case <-tick.C:
			resp, err := client.Get(target)
			if err == nil {
				_ = resp.Body.Close()
				if resp.StatusCode == status {
					return nil
				}
			}
		}
	}
}

// FreeLoopbackAddr returns a loopback address with a port that was free a
// moment ago.
func FreeLoopbackAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String(), nil
}
