package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	triggersv1alpha1 "github.com/leadvibe/milestone-triggers-operator/api/v1alpha1"
)

// viewerRole is the shipped ClusterRole that lets a caller read triggers
// in an OU, through kubectl or the REST API.
const (
	viewerRole     = "milestonetrigger-viewer"
	viewerRoleFile = "milestonetrigger_viewer_role.yaml"
	serviceAccount = "restbench"
)

// controlPlane is a running etcd and kube-apiserver with the CRD installed,
// and an administrator's clients of it.
type controlPlane struct {
	env       *envtest.Environment
	cfg       *rest.Config
	scheme    *runtime.Scheme
	client    client.Client
	clientset kubernetes.Interface
	version   string
}

func startControlPlane(o options) (*controlPlane, error) {
	if _, err := os.Stat(filepath.Join(o.assets, "kube-apiserver")); err != nil {
		return nil, fmt.Errorf("no kube-apiserver in %s (build it with hack/build-control-plane.sh, or `make test`): %w", o.assets, err)
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: o.assets,
		CRDDirectoryPaths:     []string{o.crdDir},
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("starting the control plane: %w", err)
	}
	cp := &controlPlane{env: env, cfg: cfg, scheme: runtime.NewScheme()}
	if err := cp.clients(); err != nil {
		_ = env.Stop()
		return nil, err
	}
	return cp, nil
}

func (cp *controlPlane) clients() error {
	if err := clientgoscheme.AddToScheme(cp.scheme); err != nil {
		return err
	}
	if err := triggersv1alpha1.AddToScheme(cp.scheme); err != nil {
		return err
	}
	var err error
	if cp.client, err = client.New(cp.cfg, client.Options{Scheme: cp.scheme}); err != nil {
		return err
	}
	if cp.clientset, err = kubernetes.NewForConfig(cp.cfg); err != nil {
		return err
	}
	v, err := cp.clientset.Discovery().ServerVersion()
	if err != nil {
		return fmt.Errorf("asking the API server's version: %w", err)
	}
	cp.version = v.GitVersion
	return nil
}

func (cp *controlPlane) stop() error {
	if err := cp.env.Stop(); err != nil {
		return fmt.Errorf("stopping the control plane: %w", err)
	}
	return nil
}

// createOU creates the OU's namespace.
func (cp *controlPlane) createOU(ctx context.Context, ou string) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ou, Labels: map[string]string{"leadvibe.io/ou": ou}}}
	if err := cp.client.Create(ctx, ns); err != nil {
		return fmt.Errorf("creating namespace %q: %w", ou, err)
	}
	return nil
}

// viewerToken creates a service account in the OU, binds it to the shipped
// milestonetrigger-viewer ClusterRole there, waits until the API server's
// authorizer lets it list triggers (so that neither target starts with a
// refusal cached), and returns a token for it from the TokenRequest API.
func (cp *controlPlane) viewerToken(ctx context.Context, ou, rbacDir string) (string, error) {
	role, err := readClusterRole(filepath.Join(rbacDir, viewerRoleFile))
	if err != nil {
		return "", err
	}
	if role.Name != viewerRole {
		return "", fmt.Errorf("%s defines ClusterRole %q, want %q", viewerRoleFile, role.Name, viewerRole)
	}
	if err := cp.client.Create(ctx, role); err != nil {
		return "", fmt.Errorf("creating ClusterRole %s: %w", role.Name, err)
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: serviceAccount, Namespace: ou}}
	if err := cp.client.Create(ctx, sa); err != nil {
		return "", fmt.Errorf("creating service account %s/%s: %w", ou, sa.Name, err)
	}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: serviceAccount + "-" + role.Name, Namespace: ou},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: sa.Name, Namespace: ou}},
	}
	if err := cp.client.Create(ctx, binding); err != nil {
		return "", fmt.Errorf("binding %s in %s: %w", role.Name, ou, err)
	}
	if err := cp.waitAllowed(ctx, ou, "system:serviceaccount:"+ou+":"+sa.Name,
		[]string{"system:serviceaccounts", "system:serviceaccounts:" + ou, "system:authenticated"}); err != nil {
		return "", err
	}
	expiry := int64(3600)
	tr, err := cp.clientset.CoreV1().ServiceAccounts(ou).CreateToken(ctx, sa.Name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &expiry},
	}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("requesting a token for %s/%s: %w", ou, sa.Name, err)
	}
	return tr.Status.Token, nil
}

// waitAllowed waits until the API server's authorizer lets user list
// triggers in ou.
func (cp *controlPlane) waitAllowed(ctx context.Context, ou, user string, groups []string) error {
	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		sar, err := cp.clientset.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{
			Spec: authorizationv1.SubjectAccessReviewSpec{
				User:   user,
				Groups: groups,
				ResourceAttributes: &authorizationv1.ResourceAttributes{
					Namespace: ou, Verb: "list", Group: triggersv1alpha1.GroupVersion.Group, Resource: "milestonetriggers",
				},
			},
		}, metav1.CreateOptions{})
		if err != nil {
			return false, err
		}
		return sar.Status.Allowed, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for %s to be allowed to list triggers in %s: %w", user, ou, err)
	}
	return nil
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
