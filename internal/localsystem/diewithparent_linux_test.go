package localsystem

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// helperEnv makes the test binary the control plane's owner instead of
// running tests: it starts the control plane through the child shim,
// prints the children's pids and temporary directories as one JSON line,
// and stops the control plane on SIGTERM.
const helperEnv = "LOCALSYSTEM_TEST_CONTROL_PLANE"

func TestMain(m *testing.M) {
	RunChildShim()
	if kubeconfig, ok := os.LookupEnv(helperEnv); ok {
		os.Exit(controlPlaneHelper(kubeconfig))
	}
	os.Exit(m.Run())
}

type helperReport struct {
	Pids map[string]int    `json:"pids"`
	Dirs map[string]string `json:"dirs"`
}

func controlPlaneHelper(kubeconfig string) int {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM)
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	cp, err := StartControlPlane(ControlPlaneOptions{
		Assets: testAssets(), CRDDir: filepath.Join("..", "..", "config", "crd", "bases"),
		Kubeconfig: kubeconfig, ChildShim: self,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	pids, err := cp.Pids()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	report := helperReport{Pids: pids, Dirs: map[string]string{"child shim": cp.shimDir}}
	for name, pid := range pids {
		for flag, dir := range tempDirFlags(pid) {
			report.Dirs[name+" "+flag] = dir
		}
	}
	if err := json.NewEncoder(os.Stdout).Encode(report); err != nil {
		return 1
	}
	<-stop
	if err := cp.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func testAssets() string {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return dir
	}
	return filepath.Join("..", "..", "bin", "k8s")
}

// tempDirFlags returns the temporary directories on the command line of
// pid: etcd's --data-dir and kube-apiserver's --cert-dir.
func tempDirFlags(pid int) map[string]string {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return nil
	}
	dirs := map[string]string{}
	for _, arg := range strings.Split(string(data), "\x00") {
		for _, flag := range []string{"--data-dir", "--cert-dir"} {
			if dir, ok := strings.CutPrefix(arg, flag+"="); ok {
				dirs[flag] = dir
			}
		}
	}
	return dirs
}

// startHelper runs the control-plane helper and returns it with its
// report, once the control plane is up.
func startHelper(t *testing.T) (*exec.Cmd, helperReport) {
	t.Helper()
	if err := CheckAssets(testAssets()); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+filepath.Join(t.TempDir(), "kubeconfig"))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("the helper printed no report: %v", err)
	}
	var report helperReport
	if err := json.Unmarshal([]byte(line), &report); err != nil {
		t.Fatalf("the helper's report %q: %v", line, err)
	}
	for _, name := range []string{"etcd", "kube-apiserver"} {
		if report.Pids[name] == 0 {
			t.Fatalf("the helper has no %s child: %v", name, report.Pids)
		}
	}
	for _, dir := range []string{"child shim", "etcd --data-dir", "kube-apiserver --cert-dir"} {
		if report.Dirs[dir] == "" {
			t.Fatalf("no %s on the command line: %v", dir, report.Dirs)
		}
		if _, err := os.Stat(report.Dirs[dir]); err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
	}
	return cmd, report
}

// waitGone waits until none of pids is alive, up to timeout.
func waitGone(t *testing.T, pids map[string]int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var left []string
		for name, pid := range pids {
			if alive(pid) {
				left = append(left, fmt.Sprintf("%s (pid %d)", name, pid))
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			for _, pid := range pids {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
			t.Fatalf("still running %s after their parent ended: %v", timeout, left)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A SIGKILLed owner runs no cleanup: the kernel's parent-death signal
// alone ends etcd and kube-apiserver.
func TestControlPlaneDiesWithKilledParent(t *testing.T) {
	cmd, report := startHelper(t)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	waitGone(t, report.Pids, 5*time.Second)
	// Nothing removes the temporary directories of a killed owner.
	for _, dir := range report.Dirs {
		_ = os.RemoveAll(dir)
	}
}

// A normal stop ends the children and removes their temporary
// directories.
func TestControlPlaneStopRemovesTemporaryDirectories(t *testing.T) {
	cmd, report := startHelper(t)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("the helper's stop: %v", err)
	}
	waitGone(t, report.Pids, 5*time.Second)
	for name, dir := range report.Dirs {
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("%s %s is still there after Stop (%v)", name, dir, err)
		}
	}
}
