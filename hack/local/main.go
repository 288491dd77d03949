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
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/leadvibe/milestone-triggers-operator/internal/localsystem"
)

type options struct {
	assets    string
	manager   string
	stateDir  string
	crdDir    string
	namespace string
	rbacDir   string
	// managerArgs are more flags for the operator.
	managerArgs []string
}

func main() {
	var o options
	flag.StringVar(&o.assets, "assets", "bin/k8s", "Directory holding the kube-apiserver and etcd binaries.")
	flag.StringVar(&o.manager, "manager", "bin/manager", "The operator binary to run.")
	flag.StringVar(&o.stateDir, "state-dir", "bin/local-state", "Where the kubeconfig and the operator's log are written.")
	flag.StringVar(&o.crdDir, "crd-dir", "config/crd/bases", "Directory holding the CRDs to install.")
	flag.StringVar(&o.namespace, "namespace", "demo", "The demo namespace (OU) to create.")
	flag.StringVar(&o.rbacDir, "rbac-dir", "config/rbac", "Directory holding the ClusterRoles granted to the demo service account.")
	flag.Func("manager-arg", "A further flag for the operator, such as --manager-arg=--stream-sync=2m (repeatable).", func(v string) error {
		o.managerArgs = append(o.managerArgs, v)
		return nil
	})
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
	cp, err := localsystem.StartControlPlane(localsystem.ControlPlaneOptions{
		Assets:     o.assets,
		CRDDir:     o.crdDir,
		Kubeconfig: filepath.Join(stateDir, "kubeconfig"),
	})
	if err != nil {
		return err
	}
	defer func() {
		fmt.Println(">> Stopping the control plane")
		retErr = errors.Join(retErr, cp.Stop())
	}()

	if err := cp.CreateOU(ctx, o.namespace); err != nil {
		return fmt.Errorf("creating the demo namespace: %w", err)
	}
	token, err := demoToken(ctx, cp, o.namespace, o.rbacDir)
	if err != nil {
		return fmt.Errorf("creating the demo service account's token: %w", err)
	}
	tokenPath := filepath.Join(stateDir, "token")
	if err := os.WriteFile(tokenPath, []byte(token), 0o600); err != nil {
		return err
	}

	// The demo's stream starts empty, like its control plane.
	streamDir := filepath.Join(stateDir, "stream")
	if err := os.RemoveAll(streamDir); err != nil {
		return err
	}
	logPath := filepath.Join(stateDir, "manager.log")
	manager, err := localsystem.NewOperator(localsystem.OperatorOptions{
		Binary:     o.manager,
		Kubeconfig: cp.Kubeconfig,
		DataDir:    streamDir,
		LogPath:    logPath,
		Args:       o.managerArgs,
	})
	if err != nil {
		return err
	}

	fmt.Println(">> Starting the operator; its log is", logPath)
	if err := manager.Start(ctx); err != nil {
		return err
	}
	printUsage(usage{
		kubeconfig: cp.Kubeconfig, namespace: o.namespace, logPath: logPath, metricsAddr: manager.MetricsAddr,
		natsURL: manager.StreamURL(), adminURL: manager.NATSURL(), apiURL: manager.APIURL(), tokenPath: tokenPath,
	})

	select {
	case <-ctx.Done():
		fmt.Println("\n>> Stopping the operator")
		return manager.Stop()
	case <-manager.Exited():
		return fmt.Errorf("the operator exited (see %s): %v", logPath, manager.Err())
	}
}

type usage struct {
	kubeconfig, namespace, logPath, metricsAddr, natsURL, adminURL, apiURL, tokenPath string
}

func printUsage(u usage) {
	fmt.Printf(`
The Milestone Triggers local system is up.

  kubeconfig      %[1]s
  demo OU         namespace %[2]q
  event stream    %[5]s (embedded NATS JetStream; subject leadvibe.events.%[2]s;
                  publishers bring the token below, --token-file)
  stream admin    %[8]s (every right: for hack/history and other tools)
  REST API        %[6]s (token of service account %[2]s/demo, editor and event publisher in %[2]q: %[7]s)
  operator log    %[3]s
  metrics         http://%[4]s/metrics

Try it from another terminal, in the repository:

  export KUBECONFIG=%[1]s
  kubectl apply -f config/samples/
  kubectl get mt -A

  # A lead reaches 80 on a page view (the Hot Lead Alert waits for a demo
  # request), then requests a demo: the trigger fires once.
  go run ./hack/publish --server %[5]s --token-file %[7]s --ou %[2]s --lead ld_123 --type page_view --score 80
  go run ./hack/publish --server %[5]s --token-file %[7]s --ou %[2]s --lead ld_123 --type demo_request --score 82
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
`, u.kubeconfig, u.namespace, u.logPath, u.metricsAddr, u.natsURL, u.apiURL, u.tokenPath, u.adminURL)
}

// demoToken creates the service account "demo" in the demo OU, lets it
// edit triggers and publish events there, and returns a token for it
// (valid 24 hours). The ClusterRoles are the ones config/rbac ships, bound
// in the OU.
func demoToken(ctx context.Context, cp *localsystem.ControlPlane, namespace, rbacDir string) (string, error) {
	roles, err := cp.CreateClusterRoles(ctx, rbacDir, localsystem.EditorRoleFile, localsystem.EventPublisherRoleFile)
	if err != nil {
		return "", err
	}
	return cp.ServiceAccountToken(ctx, namespace, "demo", roles, 24*time.Hour)
}
