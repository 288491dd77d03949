package localsystem

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"
)

// OULabel marks a namespace as an Organizational Unit.
const OULabel = "leadvibe.io/ou"

// The ClusterRoles config/rbac ships for the users of an OU, by file.
const (
	ViewerRoleFile         = "milestonetrigger_viewer_role.yaml"
	EditorRoleFile         = "milestonetrigger_editor_role.yaml"
	EventPublisherRoleFile = "milestonetrigger_event_publisher_role.yaml"
)

// ControlPlaneOptions say where the control plane's pieces are.
type ControlPlaneOptions struct {
	// Assets is the directory holding the kube-apiserver and etcd binaries
	// (bin/k8s, built by hack/build-control-plane.sh).
	Assets string
	// CRDDir is the directory holding the CRDs to install
	// (config/crd/bases).
	CRDDir string
	// Kubeconfig is where the admin kubeconfig is written.
	Kubeconfig string
	// ChildShim, when set, is this program's own executable
	// (os.Executable()), whose main calls RunChildShim first: etcd and
	// kube-apiserver are then started through it and die with this
	// process however it ends (Linux's parent-death signal), SIGKILL
	// included. Empty: they are started directly, and outlive a process
	// that is killed before Stop.
	ChildShim string
}

// ControlPlane is a running etcd and kube-apiserver with the CRDs installed
// and an admin user, whose kubeconfig is in the file Kubeconfig.
type ControlPlane struct {
	// Kubeconfig is the path of the admin kubeconfig file.
	Kubeconfig string
	// Config and Clientset are the admin's.
	Config    *rest.Config
	Clientset kubernetes.Interface

	env *envtest.Environment
	// shimDir holds the links to the child shim, removed by Stop.
	shimDir string
}

// CheckAssets says, in an error that tells what to run, when dir does not
// hold the control plane's binaries.
func CheckAssets(dir string) error {
	for _, name := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("no %s in %s: run `make test` or `make control-plane`, which build the control plane from source with hack/build-control-plane.sh (or set KUBEBUILDER_ASSETS): %w", name, dir, err)
		}
	}
	return nil
}

// StartControlPlane starts etcd and kube-apiserver, installs the CRDs,
// creates an admin user (system:masters) and writes its kubeconfig.
// Stop stops it.
//
// With a ChildShim, etcd and kube-apiserver are forked from a thread that
// lives as long as this process (a child's parent-death signal fires when
// the thread that forked it exits), and run from o.Assets even when
// KUBEBUILDER_ASSETS is set.
func StartControlPlane(o ControlPlaneOptions) (*ControlPlane, error) {
	env := &envtest.Environment{
		BinaryAssetsDirectory: o.Assets,
		CRDDirectoryPaths:     []string{o.CRDDir},
		ErrorIfCRDPathMissing: true,
	}
	cp := &ControlPlane{env: env, Kubeconfig: o.Kubeconfig}
	if o.ChildShim != "" {
		dir, err := shimChildren(o.ChildShim, o.Assets)
		if err != nil {
			return nil, fmt.Errorf("preparing the child shim: %w", err)
		}
		if dir != "" {
			cp.shimDir = dir
			env.ControlPlane.Etcd = &envtest.Etcd{Path: filepath.Join(dir, "etcd")}
			env.ControlPlane.GetAPIServer().Path = filepath.Join(dir, "kube-apiserver")
		}
	}
	if err := onSpawnThread(func() error { _, err := env.Start(); return err }); err != nil {
		_ = cp.Stop()
		return nil, fmt.Errorf("starting the control plane: %w", err)
	}
	if err := cp.writeAdmin(); err != nil {
		_ = cp.Stop()
		return nil, err
	}
	return cp, nil
}

func (cp *ControlPlane) writeAdmin() error {
	admin, err := cp.env.AddUser(envtest.User{Name: "local-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fmt.Errorf("creating the admin user: %w", err)
	}
	kubeconfig, err := admin.KubeConfig()
	if err != nil {
		return err
	}
	if err := os.WriteFile(cp.Kubeconfig, kubeconfig, 0o600); err != nil {
		return err
	}
	cp.Config = admin.Config()
	cp.Clientset, err = kubernetes.NewForConfig(cp.Config)
	return err
}

// Stop stops kube-apiserver and etcd and removes their temporary files.
func (cp *ControlPlane) Stop() error {
	err := cp.env.Stop()
	if cp.shimDir != "" {
		err = errors.Join(err, os.RemoveAll(cp.shimDir))
	}
	return err
}

// Pids are the process ids of etcd and kube-apiserver, the children of
// this process that the control plane started, by name; empty outside
// Linux.
func (cp *ControlPlane) Pids() (map[string]int, error) { return childPids(os.Getpid()) }

// CreateOU creates the namespace of an OU.
func (cp *ControlPlane) CreateOU(ctx context.Context, name string) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{OULabel: name}}}
	_, err := cp.Clientset.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{})
	return err
}

// CreateClusterRoles creates the ClusterRoles of the manifests files in
// rbacDir (config/rbac), and returns their names in the same order.
func (cp *ControlPlane) CreateClusterRoles(ctx context.Context, rbacDir string, files ...string) ([]string, error) {
	names := make([]string, 0, len(files))
	for _, file := range files {
		role, err := ReadClusterRole(filepath.Join(rbacDir, file))
		if err != nil {
			return nil, err
		}
		if _, err := cp.Clientset.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil {
			return nil, err
		}
		names = append(names, role.Name)
	}
	return names, nil
}

// ServiceAccountToken creates the service account name in namespace, binds
// it there to each of the ClusterRoles roles (RoleBindings named
// "<name>-<role>"), and returns a token for it from the TokenRequest API,
// valid for ttl.
func (cp *ControlPlane) ServiceAccountToken(ctx context.Context, namespace, name string, roles []string, ttl time.Duration) (string, error) {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace}}
	if _, err := cp.Clientset.CoreV1().ServiceAccounts(namespace).Create(ctx, sa, metav1.CreateOptions{}); err != nil {
		return "", err
	}
	for _, role := range roles {
		binding := &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: name + "-" + role, Namespace: namespace},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: namespace}},
		}
		if _, err := cp.Clientset.RbacV1().RoleBindings(namespace).Create(ctx, binding, metav1.CreateOptions{}); err != nil {
			return "", err
		}
	}
	expiry := int64(ttl / time.Second)
	tr, err := cp.Clientset.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &expiry},
	}, metav1.CreateOptions{})
	if err != nil {
		return "", err
	}
	return tr.Status.Token, nil
}

// ReadClusterRole reads a ClusterRole manifest.
func ReadClusterRole(path string) (*rbacv1.ClusterRole, error) {
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
