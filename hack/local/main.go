// Command local brings up a complete Milestone Triggers system on a machine
// without a cluster: a real control plane (the source-built etcd and
// kube-apiserver that hack/build-control-plane.sh makes), the CRD, a demo
// namespace (an OU), a kubeconfig file, and the operator running against
// it, with a local SMTP sink (email is on) and the demo webhook receiver
// on 127.0.0.1:9000, whose messages and deliveries land in files under
// the state directory. It stays in the foreground; Ctrl-C (or SIGTERM, or
// closing the terminal) stops the operator, then the control plane, and
// removes their temporary files. However it ends, SIGKILL included, the
// kernel ends the operator, etcd and kube-apiserver with it (Linux's
// parent-death signal).
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
	"github.com/leadvibe/milestone-triggers-operator/internal/version"
)

type options struct {
	assets    string
	manager   string
	stateDir  string
	crdDir    string
	namespace string
	rbacDir   string
	// receiverAddr and receiverSecret are the demo webhook receiver's.
	receiverAddr, receiverSecret string
	// smtpFrom is the From address of the operator's email.
	smtpFrom string
	// managerArgs are more flags for the operator.
	managerArgs []string
}

// demoSigningSecret is the walk-through's webhook signing secret.
const demoSigningSecret = "whsec_bGVhZHZpYmUtZGVtby1zaWduaW5nLWtleS0zMmJ5dGU="

func main() {
	// As etcd's and kube-apiserver's parent-death shim, this becomes
	// them here.
	localsystem.RunChildShim()
	var o options
	flag.StringVar(&o.assets, "assets", "bin/k8s", "Directory holding the kube-apiserver and etcd binaries.")
	flag.StringVar(&o.manager, "manager", "bin/manager", "The operator binary to run.")
	flag.StringVar(&o.stateDir, "state-dir", "bin/local-state", "Where the kubeconfig and the operator's log are written.")
	flag.StringVar(&o.crdDir, "crd-dir", "config/crd/bases", "Directory holding the CRDs to install.")
	flag.StringVar(&o.namespace, "namespace", "demo", "The demo namespace (OU) to create.")
	flag.StringVar(&o.rbacDir, "rbac-dir", "config/rbac", "Directory holding the ClusterRoles granted to the demo service account.")
	flag.StringVar(&o.receiverAddr, "receiver-addr", "127.0.0.1:9000", "Where the demo webhook receiver listens.")
	flag.StringVar(&o.receiverSecret, "receiver-secret", demoSigningSecret, "The signing secret the demo webhook receiver verifies signatures with (the walk-through's); empty: not checked.")
	flag.StringVar(&o.smtpFrom, "smtp-from", "Milestone Triggers <triggers@localhost>", "The From address of the operator's email, which goes to the local SMTP sink.")
	flag.Func("manager-arg", "A further flag for the operator, such as --manager-arg=--stream-sync=2m (repeatable).", func(v string) error {
		o.managerArgs = append(o.managerArgs, v)
		return nil
	})
	version.AddFlag(flag.CommandLine)
	flag.Parse()

	// Ctrl-C, kill and a closed terminal stop the system in order. With
	// `make local | tee log`, Ctrl-C ends tee too: writing to the closed
	// pipe must return an error, not end this process (SIGPIPE) before it
	// has stopped the rest.
	signal.Ignore(syscall.SIGPIPE)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
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

	// The control plane's temporary directories go under the state
	// directory: a stop removes them, and a start removes those of a run
	// that was killed.
	tmp := filepath.Join(stateDir, "tmp")
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return err
	}
	if err := os.Setenv("TMPDIR", tmp); err != nil {
		return err
	}

	self, err := os.Executable()
	if err != nil {
		return err
	}
	fmt.Println(">> Starting etcd and kube-apiserver from", o.assets)
	cp, err := localsystem.StartControlPlane(localsystem.ControlPlaneOptions{
		Assets:     o.assets,
		CRDDir:     o.crdDir,
		Kubeconfig: filepath.Join(stateDir, "kubeconfig"),
		ChildShim:  self,
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
	receivers, err := startReceivers(stateDir, o)
	if err != nil {
		return err
	}
	defer func() { retErr = errors.Join(retErr, receivers.close()) }()

	logPath := filepath.Join(stateDir, "manager.log")
	manager, err := localsystem.NewOperator(localsystem.OperatorOptions{
		Binary:     o.manager,
		Kubeconfig: cp.Kubeconfig,
		DataDir:    streamDir,
		LogPath:    logPath,
		Args: append([]string{
			"--smtp-addr", receivers.mail.Addr,
			"--smtp-from", o.smtpFrom,
			"--smtp-starttls=never",
		}, o.managerArgs...),
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
		receiverAddr: receivers.addr, webhooksLog: receivers.webhooksLog, mailDir: receivers.mail.Dir, smtpAddr: receivers.mail.Addr,
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
	receiverAddr, webhooksLog, mailDir, smtpAddr                                      string
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
  webhooks        receiver on http://%[9]s (allowed to the operator: --webhook-allow-cidrs=127.0.0.1/32);
                  each delivery is written to %[10]s and noted here
  email           SMTP sink on %[12]s (the operator's --smtp-addr); each message is written
                  to %[11]s/NNNN.eml and noted here
  operator log    %[3]s
  metrics         http://%[4]s/metrics

Try it from another terminal, in the repository (README.md, "Walk-through", has more):

  export KUBECONFIG=%[1]s
  kubectl apply -f config/samples/
  kubectl get mt -A

  # A lead reaches 80 on a page view (the Hot Lead Alert waits for a demo
  # request), then requests a demo: the trigger fires once, and emails
  # sales@example.com (see the mail line here). Status follows within
  # --status-update-interval (5s).
  go run ./hack/publish --server %[5]s --token-file %[7]s --ou %[2]s --lead ld_123 --type page_view --score 80
  go run ./hack/publish --server %[5]s --token-file %[7]s --ou %[2]s --lead ld_123 --type demo_request --score 82
  kubectl -n %[2]s get mt hot-lead-alert
  kubectl -n %[2]s describe mt hot-lead-alert

  # The product's REST API, as the seed's curl examples call it:
  export TOKEN=$(cat %[7]s)
  curl -s %[6]s/triggers -H "Authorization: Bearer $TOKEN"
  curl -s -X POST %[6]s/events -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" \
    -d '{"id":"evt-1002","lead_id":"ld_789","event_type":"demo_request","score":82,"metadata":{"source":"website","page":"/pricing"}}'

Press Ctrl-C here to stop everything.
`, u.kubeconfig, u.namespace, u.logPath, u.metricsAddr, u.natsURL, u.apiURL, u.tokenPath, u.adminURL,
		u.receiverAddr, u.webhooksLog, u.mailDir, u.smtpAddr)
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
