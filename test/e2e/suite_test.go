// Package e2e tests the operator from the outside, the way its users meet
// it: the operator binary runs as a separate process against a real
// control plane, exactly as the local system (`make local`) runs it
// (internal/localsystem does both), and the specs drive it only through
// kubectl, the REST API with service-account tokens, and NATS clients
// publishing to the embedded stream's listener. Deliveries arrive at a
// webhook receiver that verifies Standard Webhooks signatures and at an
// SMTP server, both on loopback in this process. The fault specs kill the
// operator with SIGKILL while events flow, take the receiver down, and
// publish poison events.
//
// The suite builds the operator from the repository, unless E2E_MANAGER
// names a binary to run instead. It needs kubectl on PATH and the control
// plane's binaries in KUBEBUILDER_ASSETS (bin/k8s by default), which
// `make test` builds. E2E_SEED makes the fault spec's events those of an
// earlier run (its report prints the seed).
package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/leadvibe/milestone-triggers-operator/internal/localsystem"
)

var (
	suiteCtx context.Context
	cancel   context.CancelFunc

	// repoRoot is the repository, two levels up from this package.
	repoRoot string
	// workDir holds the operator binary, its data directory, its log and the
	// kubeconfig; it is removed after a passing run and kept after a
	// failing one.
	workDir string

	// manager is the operator binary the suite runs.
	manager string

	controlPlane *localsystem.ControlPlane
	operator     *localsystem.Operator
	receiver     *webhookReceiver
	mailbox      *smtpServer

	// signingSecret signs every webhook of the suite's triggers; it lives in
	// a Secret in each OU (signingSecretName, key "signing-secret").
	signingSecret string
	// roles are the ClusterRoles of config/rbac, by file.
	roles = map[string]string{}
)

const (
	signingSecretName = "e2e-webhook"
	smtpFrom          = "Milestone Triggers <triggers@e2e.example>"
)

func TestE2E(t *testing.T) {
	RegisterFailHandler(Fail)
	SetDefaultEventuallyTimeout(60 * time.Second)
	SetDefaultEventuallyPollingInterval(250 * time.Millisecond)
	RunSpecs(t, "End-to-end Suite")
}

var _ = BeforeSuite(func() {
	suiteCtx, cancel = context.WithCancel(context.Background())
	var err error
	repoRoot, err = filepath.Abs(filepath.Join("..", ".."))
	Expect(err).NotTo(HaveOccurred())

	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		assets = filepath.Join(repoRoot, "bin", "k8s")
	}
	Expect(localsystem.CheckAssets(assets)).To(Succeed())
	_, err = exec.LookPath("kubectl")
	Expect(err).NotTo(HaveOccurred(), "the end-to-end suite drives the operator with kubectl, which is not on PATH")

	workDir, err = os.MkdirTemp("", "milestone-triggers-e2e-")
	Expect(err).NotTo(HaveOccurred())
	GinkgoWriter.Printf("Work directory (kept when the suite fails): %s\n", workDir)

	manager = os.Getenv("E2E_MANAGER")
	if manager == "" {
		By("building the operator binary")
		manager = filepath.Join(workDir, "manager")
		build := exec.CommandContext(suiteCtx, "go", "build", "-o", manager, "github.com/leadvibe/milestone-triggers-operator")
		build.Dir = repoRoot
		out, err := build.CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), "go build of the operator: %s", out)
	}

	By("starting the control plane from " + assets)
	controlPlane, err = localsystem.StartControlPlane(localsystem.ControlPlaneOptions{
		Assets:     assets,
		CRDDir:     filepath.Join(repoRoot, "config", "crd", "bases"),
		Kubeconfig: filepath.Join(workDir, "kubeconfig"),
	})
	Expect(err).NotTo(HaveOccurred())
	files := []string{localsystem.ViewerRoleFile, localsystem.EditorRoleFile, localsystem.EventPublisherRoleFile}
	names, err := controlPlane.CreateClusterRoles(suiteCtx, filepath.Join(repoRoot, "config", "rbac"), files...)
	Expect(err).NotTo(HaveOccurred())
	for i, f := range files {
		roles[f] = names[i]
	}

	key := make([]byte, 32)
	_, err = rand.Read(key)
	Expect(err).NotTo(HaveOccurred())
	signingSecret = "whsec_" + base64.StdEncoding.EncodeToString(key)
	receiver = startWebhookReceiver(signingSecret)
	mailbox = startSMTPServer()

	By("starting the operator")
	operator, err = localsystem.NewOperator(localsystem.OperatorOptions{
		Binary:     manager,
		Kubeconfig: controlPlane.Kubeconfig,
		DataDir:    filepath.Join(workDir, "stream"),
		LogPath:    filepath.Join(workDir, "manager.log"),
		Args: []string{
			"--smtp-addr", mailbox.addr,
			"--smtp-from", smtpFrom,
			// The test relay offers no STARTTLS and needs no credentials.
			"--smtp-starttls", "never",
			// The default --webhook-deny-cidrs, with the local system's
			// --webhook-allow-cidrs=127.0.0.1/32 (localsystem's Args), so
			// the receiver on 127.0.0.1 is reachable and the rest of
			// loopback is not.
		},
	})
	Expect(err).NotTo(HaveOccurred())
	Expect(operator.Start(suiteCtx)).To(Succeed())
	GinkgoWriter.Printf("Operator: REST API %s, NATS %s, log %s\n", operator.APIURL(), operator.NATSURL(), operator.LogPath())
})

var _ = AfterSuite(func() {
	if operator != nil {
		if err := operator.Stop(); err != nil {
			GinkgoWriter.Printf("Stopping the operator: %v\n", err)
		}
	}
	if receiver != nil {
		receiver.close()
	}
	if mailbox != nil {
		mailbox.close()
	}
	if controlPlane != nil {
		Expect(controlPlane.Stop()).To(Succeed())
	}
	if cancel != nil {
		cancel()
	}
})

// ReportAfterSuite keeps the work directory of a failing run, with the
// operator's log, and shows the log's end.
var _ = ReportAfterSuite("operator log", func(r Report) {
	if workDir == "" {
		return
	}
	if r.SuiteSucceeded {
		_ = os.RemoveAll(workDir)
		return
	}
	fmt.Printf("The suite failed; its work directory is kept: %s\n", workDir)
	if log, err := os.ReadFile(filepath.Join(workDir, "manager.log")); err == nil {
		const tail = 8000
		if len(log) > tail {
			log = log[len(log)-tail:]
			if i := bytes.IndexByte(log, '\n'); i >= 0 {
				log = log[i+1:]
			}
		}
		fmt.Printf("The end of the operator's log:\n%s\n", log)
	}
})
