// Command local brings up a complete Milestone Triggers system on a machine
// without a cluster: a real control plane (the source-built etcd and
// kube-apiserver that hack/build-control-plane.sh makes), the CRD, a demo
// namespace (an OU), a kubeconfig file, and the operator running against
// it. It stays in the foreground; Ctrl-C stops the operator, then the
// control plane, and removes their temporary files.
//
// Run it through `make local`, which builds what is missing first.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

type options struct {
	assets    string
	manager   string
	stateDir  string
	crdDir    string
	namespace string
}

func main() {
	var o options
	flag.StringVar(&o.assets, "assets", "bin/k8s", "Directory holding the kube-apiserver and etcd binaries.")
	flag.StringVar(&o.manager, "manager", "bin/manager", "The operator binary to run.")
	flag.StringVar(&o.stateDir, "state-dir", "bin/local-state", "Where the kubeconfig and the operator's log are written.")
	flag.StringVar(&o.crdDir, "crd-dir", "config/crd/bases", "Directory holding the CRDs to install.")
	flag.StringVar(&o.namespace, "namespace", "demo", "The demo namespace (OU) to create.")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "local:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) (retErr error) {
	if err := os.MkdirAll(o.stateDir, 0o700); err != nil {
		return err
	}
	stateDir, err := filepath.Abs(o.stateDir)
	if err != nil {
		return err
	}

	fmt.Println(">> Starting etcd and kube-apiserver from", o.assets)
	env := &envtest.Environment{
		BinaryAssetsDirectory: o.assets,
		CRDDirectoryPaths:     []string{o.crdDir},
		ErrorIfCRDPathMissing: true,
	}
	if _, err := env.Start(); err != nil {
		return fmt.Errorf("starting the control plane: %w", err)
	}
	defer func() {
		fmt.Println(">> Stopping the control plane")
		retErr = errors.Join(retErr, env.Stop())
	}()

	admin, err := env.AddUser(envtest.User{Name: "local-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fmt.Errorf("creating the admin user: %w", err)
	}
	kubeconfigData, err := admin.KubeConfig()
	if err != nil {
		return err
	}
	kubeconfig := filepath.Join(stateDir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, kubeconfigData, 0o600); err != nil {
		return err
	}

	clientset, err := kubernetes.NewForConfig(admin.Config())
	if err != nil {
		return err
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: o.namespace, Labels: map[string]string{"leadvibe.io/ou": o.namespace}}}
	if _, err := clientset.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating the demo namespace: %w", err)
	}

	probeAddr, err := freeLoopbackAddr()
	if err != nil {
		return err
	}
	metricsAddr, err := freeLoopbackAddr()
	if err != nil {
		return err
	}
	natsAddr, err := freeLoopbackAddr()
	if err != nil {
		return err
	}
	// The demo's stream starts empty, like its control plane.
	streamDir := filepath.Join(stateDir, "stream")
	if err := os.RemoveAll(streamDir); err != nil {
		return err
	}
	logPath := filepath.Join(stateDir, "manager.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logFile.Close()

	fmt.Println(">> Starting the operator; its log is", logPath)
	manager := exec.Command(o.manager,
		"--kubeconfig", kubeconfig,
		"--health-probe-bind-address", probeAddr,
		"--metrics-bind-address", metricsAddr,
		"--metrics-secure=false",
		"--data-dir", streamDir,
		"--stream-listen", natsAddr,
	)
	manager.Stdout, manager.Stderr = logFile, logFile
	if err := manager.Start(); err != nil {
		return fmt.Errorf("starting the operator: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- manager.Wait() }()

	if err := waitHealthy(ctx, "http://"+probeAddr+"/readyz", exited); err != nil {
		stopProcess(manager, exited)
		return fmt.Errorf("the operator did not become ready (see %s): %w", logPath, err)
	}
	printUsage(kubeconfig, o.namespace, logPath, metricsAddr, "nats://"+natsAddr)

	select {
	case <-ctx.Done():
		fmt.Println("\n>> Stopping the operator")
		return stopProcess(manager, exited)
	case err := <-exited:
		return fmt.Errorf("the operator exited (see %s): %v", logPath, err)
	}
}

func printUsage(kubeconfig, namespace, logPath, metricsAddr, natsURL string) {
	fmt.Printf(`
The Milestone Triggers local system is up.

  kubeconfig      %[1]s
  demo OU         namespace %[2]q
  event stream    %[5]s (embedded NATS JetStream; subject leadvibe.events.%[2]s)
  operator log    %[3]s
  metrics         http://%[4]s/metrics

Try it from another terminal, in the repository:

  export KUBECONFIG=%[1]s
  kubectl apply -f config/samples/
  kubectl get mt -A

  # A lead reaches 80 on a page view (the Hot Lead Alert waits for a demo
  # request), then requests a demo: the trigger fires once.
  go run ./hack/publish --server %[5]s --ou %[2]s --lead ld_123 --type page_view --score 80
  go run ./hack/publish --server %[5]s --ou %[2]s --lead ld_123 --type demo_request --score 82
  kubectl -n %[2]s get mt hot-lead-alert
  kubectl -n %[2]s describe mt hot-lead-alert

Press Ctrl-C here to stop everything.
`, kubeconfig, namespace, logPath, metricsAddr, natsURL)
}

// waitHealthy polls url until it answers 200, the process exits, or the
// context ends.
func waitHealthy(ctx context.Context, url string, exited <-chan error) error {
	deadline := time.After(60 * time.Second)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-exited:
			return fmt.Errorf("exited: %v", err)
		case <-deadline:
			return errors.New("timed out after 60s")
		case <-tick.C:
			resp, err := http.Get(url)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return nil
				}
			}
		}
	}
}

// stopProcess asks the process to stop, and kills it if it has not within
// 20 seconds.
func stopProcess(cmd *exec.Cmd, exited <-chan error) error {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
		return nil
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
		return errors.New("the operator did not stop within 20s and was killed")
	}
}

func freeLoopbackAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}
