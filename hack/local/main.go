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

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"
)

type options struct {
	assets    string
	manager   string
	stateDir  string
	crdDir    string
	namespace string
	rbacDir   string
}

func main() {
	var o options
	flag.StringVar(&o.assets, "assets", "bin/k8s", "Directory holding the kube-apiserver and etcd binaries.")
	flag.StringVar(&o.manager, "manager", "bin/manager", "The operator binary to run.")
	flag.StringVar(&o.stateDir, "state-dir", "bin/local-state", "Where the kubeconfig and the operator's log are written.")
	flag.StringVar(&o.crdDir, "crd-dir", "config/crd/bases", "Directory holding the CRDs to install.")
	flag.StringVar(&o.namespace, "namespace", "demo", "The demo namespace (OU) to create.")
	flag.StringVar(&o.rbacDir, "rbac-dir", "config/rbac", "Directory holding the ClusterRoles granted to the demo service account.")
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

	token, err := demoToken(ctx, clientset, o.namespace, o.rbacDir)
	if err != nil {
		return fmt.Errorf("creating the demo service account's token: %w", err)
	}
	tokenPath := filepath.Join(stateDir, "token")
	if err := os.WriteFile(tokenPath, []byte(token), 0o600); err != nil {
		return err
	}
	apiAddr, err := freeLoopbackAddr()
	if err != nil {
		return err
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
		"--api-bind-address", apiAddr,
	)
	manager.Stdout, manager.Stderr = logFile, logFile
	if err := manager.Start(); err != nil {
		return fmt.Errorf("starting the operator: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- manager.Wait() }()

	if err := waitHealthy(ctx, "http://"+probeAddr+"/readyz", exited, http.StatusOK); err != nil {
		stopProcess(manager, exited)
		return fmt.Errorf("the operator did not become ready (see %s): %w", logPath, err)
	}
	// The REST API answers 401 to a request without a token once it serves.
	if err := waitHealthy(ctx, "http://"+apiAddr+"/triggers", exited, http.StatusUnauthorized); err != nil {
		stopProcess(manager, exited)
		return fmt.Errorf("the REST API did not come up (see %s): %w", logPath, err)
	}
	printUsage(usage{
		kubeconfig: kubeconfig, namespace: o.namespace, logPath: logPath, metricsAddr: metricsAddr,
		natsURL: "nats://" + natsAddr, apiURL: "http://" + apiAddr, tokenPath: tokenPath,
	})

	select {
	case <-ctx.Done():
		fmt.Println("\n>> Stopping the operator")
		return stopProcess(manager, exited)
	case err := <-exited:
		return fmt.Errorf("the operator exited (see %s): %v", logPath, err)
	}
}

type usage struct {
	kubeconfig, namespace, logPath, metricsAddr, natsURL, apiURL, tokenPath string
}

func printUsage(u usage) {
	fmt.Printf(`
The Milestone Triggers local system is up.

  kubeconfig      %[1]s
  demo OU         namespace %[2]q
  event stream    %[5]s (embedded NATS JetStream; subject leadvibe.events.%[2]s)
  REST API        %[6]s (token of service account %[2]s/demo, editor and event publisher in %[2]q: %[7]s)
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

  # The product's REST API, as the seed's curl examples call it:
  export TOKEN=$(cat %[7]s)
  curl -s %[6]s/triggers -H "Authorization: Bearer $TOKEN"
  curl -s -X POST %[6]s/triggers -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" \
    -d '{"name":"Hot Lead Alert","event_type":"demo_request","score_threshold":75,"webhook_url":"https://hooks.example.com/leadvibe","emails":["sales@example.com"]}'
  curl -s -X POST %[6]s/events -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" \
    -d '{"id":"evt-789","lead_id":"ld_123","event_type":"demo_request","score":82,"metadata":{"source":"website","page":"/pricing"}}'

Press Ctrl-C here to stop everything.
`, u.kubeconfig, u.namespace, u.logPath, u.metricsAddr, u.natsURL, u.apiURL, u.tokenPath)
}

// demoToken creates the service account "demo" in the demo OU, lets it
// edit triggers and publish events there, and returns a token for it
// (valid 24 hours).
func demoToken(ctx context.Context, cs kubernetes.Interface, namespace, rbacDir string) (string, error) {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "demo", Namespace: namespace}}
	if _, err := cs.CoreV1().ServiceAccounts(namespace).Create(ctx, sa, metav1.CreateOptions{}); err != nil {
		return "", err
	}
	// The ClusterRoles are the ones config/rbac ships, bound in the OU.
	for _, file := range []string{"milestonetrigger_editor_role.yaml", "milestonetrigger_event_publisher_role.yaml"} {
		role, err := readClusterRole(filepath.Join(rbacDir, file))
		if err != nil {
			return "", err
		}
		if _, err := cs.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil {
			return "", err
		}
		binding := &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "demo-" + role.Name, Namespace: namespace},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: sa.Name, Namespace: namespace}},
		}
		if _, err := cs.RbacV1().RoleBindings(namespace).Create(ctx, binding, metav1.CreateOptions{}); err != nil {
			return "", err
		}
	}
	expiry := int64(24 * 60 * 60)
	tr, err := cs.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, sa.Name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &expiry},
	}, metav1.CreateOptions{})
	if err != nil {
		return "", err
	}
	return tr.Status.Token, nil
}

// waitHealthy polls url until it answers with the status given, the
// process exits, or the context ends.
func waitHealthy(ctx context.Context, url string, exited <-chan error, status int) error {
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
				if resp.StatusCode == status {
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

// readClusterRole reads a ClusterRole manifest.
func readClusterRole(path string) (*rbacv1.ClusterRole, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	role := &rbacv1.ClusterRole{}
	if err := yaml.UnmarshalStrict(data, role); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return role, nil
}

func freeLoopbackAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}
