package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	triggersv1alpha1 "github.com/leadvibe/milestone-triggers-operator/api/v1alpha1"
	"github.com/leadvibe/milestone-triggers-operator/internal/localsystem"
)

// viewerRole is the shipped ClusterRole that lets a caller read triggers
// in an OU, through kubectl or the REST API.
const (
	viewerRole     = "milestonetrigger-viewer"
	viewerRoleFile = "milestonetrigger_viewer_role.yaml"
	serviceAccount = "restbench"
)

// controlPlane is the local system's control plane (internal/localsystem)
// and an administrator's clients of it.
type controlPlane struct {
	*localsystem.ControlPlane
	dir     string
	cfg     *rest.Config
	client  client.Client
	version string
}

func startControlPlane(o options) (*controlPlane, error) {
	if err := localsystem.CheckAssets(o.assets); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "restbench-")
	if err != nil {
		return nil, err
	}
	lcp, err := localsystem.StartControlPlane(localsystem.ControlPlaneOptions{
		Assets: o.assets, CRDDir: o.crdDir, Kubeconfig: filepath.Join(dir, "kubeconfig"),
	})
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	// Creating a thousand triggers (and their status) should not wait on
	// client-go's default rate limit of 5 requests a second.
	cfg := rest.CopyConfig(lcp.Config)
	cfg.QPS, cfg.Burst = 1000, 2000
	cp := &controlPlane{ControlPlane: lcp, dir: dir, cfg: cfg}
	if err := cp.clients(); err != nil {
		_ = cp.stop()
		return nil, err
	}
	return cp, nil
}

func (cp *controlPlane) clients() error {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return err
	}
	if err := triggersv1alpha1.AddToScheme(scheme); err != nil {
		return err
	}
	var err error
	if cp.client, err = client.New(cp.cfg, client.Options{Scheme: scheme}); err != nil {
		return err
	}
	v, err := cp.Clientset.Discovery().ServerVersion()
	if err != nil {
		return fmt.Errorf("asking the API server's version: %w", err)
	}
	cp.version = v.GitVersion
	return nil
}

func (cp *controlPlane) stop() error {
	defer os.RemoveAll(cp.dir)
	if err := cp.Stop(); err != nil {
		return fmt.Errorf("stopping the control plane: %w", err)
	}
	return nil
}

// createOU creates the OU's namespace.
func (cp *controlPlane) createOU(ctx context.Context, ou string) error {
	if err := cp.CreateOU(ctx, ou); err != nil {
		return fmt.Errorf("creating namespace %q: %w", ou, err)
	}
	return nil
}

// viewerToken creates a service account in the OU bound to the shipped
// milestonetrigger-viewer ClusterRole there, waits until the API server's
// authorizer lets it list triggers (so that neither target starts with a
// refusal cached), and returns a token for it from the TokenRequest API.
func (cp *controlPlane) viewerToken(ctx context.Context, ou, rbacDir string) (string, error) {
	roles, err := cp.CreateClusterRoles(ctx, rbacDir, viewerRoleFile)
	if err != nil {
		return "", fmt.Errorf("creating the viewer ClusterRole: %w", err)
	}
	if roles[0] != viewerRole {
		return "", fmt.Errorf("%s defines ClusterRole %q, want %q", viewerRoleFile, roles[0], viewerRole)
	}
	token, err := cp.ServiceAccountToken(ctx, ou, serviceAccount, roles, time.Hour)
	if err != nil {
		return "", fmt.Errorf("a token for %s/%s: %w", ou, serviceAccount, err)
	}
	if err := cp.waitAllowed(ctx, ou, "system:serviceaccount:"+ou+":"+serviceAccount,
		[]string{"system:serviceaccounts", "system:serviceaccounts:" + ou, "system:authenticated"}); err != nil {
		return "", err
	}
	return token, nil
}

// waitAllowed waits until the API server's authorizer lets user list
// triggers in ou.
func (cp *controlPlane) waitAllowed(ctx context.Context, ou, user string, groups []string) error {
	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		sar, err := cp.Clientset.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{
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
