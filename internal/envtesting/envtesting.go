// Package envtesting starts a real kube-apiserver and etcd for tests
// (controller-runtime's envtest) with the project's CRDs installed: the
// binaries come from KUBEBUILDER_ASSETS when it is set, else from bin/k8s
// at the module's root, where `make test` builds them from source
// (hack/build-control-plane.sh).
package envtesting

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/leadvibe/milestone-triggers-operator/internal/localsystem"
)

// Option changes the environment before it starts.
type Option func(*envtest.Environment)

// WithAPIServerFlag appends value to the kube-apiserver flag name (for
// example "token-auth-file").
func WithAPIServerFlag(name, value string) Option {
	return func(env *envtest.Environment) {
		env.ControlPlane.GetAPIServer().Configure().Append(name, value)
	}
}

// Start starts the control plane, installs the CRDs of config/crd/bases,
// and returns the admin's configuration. The control plane stops when t
// (or the Ginkgo suite of GinkgoTB()) ends.
func Start(t testing.TB, opts ...Option) *rest.Config {
	t.Helper()
	root := moduleRoot(t)
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(root, "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: assets(t, root),
	}
	for _, opt := range opts {
		opt(env)
	}
	cfg, err := env.Start()
	if err != nil {
		_ = env.Stop() // whatever of it started
		t.Fatalf("starting the control plane: %v", err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stopping the control plane: %v", err)
		}
	})
	return cfg
}

// assets is the directory holding kube-apiserver and etcd:
// KUBEBUILDER_ASSETS when set, else bin/k8s at the module's root. It fails
// t, saying what to run, when they are not there.
func assets(t testing.TB, root string) string {
	t.Helper()
	dir := os.Getenv("KUBEBUILDER_ASSETS")
	if dir == "" {
		dir = filepath.Join(root, "bin", "k8s")
	}
	if err := localsystem.CheckAssets(dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

// moduleRoot is the module's root: the nearest directory holding go.mod
// at or above the working directory, which go test sets to the package's.
func moduleRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		} else if !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod at or above the working directory")
		}
		dir = parent
	}
}
