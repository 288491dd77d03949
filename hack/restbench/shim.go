package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	triggersv1alpha1 "github.com/leadvibe/milestone-triggers-operator/api/v1alpha1"
	"github.com/leadvibe/milestone-triggers-operator/internal/localsystem"
	"github.com/leadvibe/milestone-triggers-operator/internal/restapi"
)

// shim is a manager running the REST shim on a loopback port, wired as
// main.go's addRESTAPI wires it (without the ingest and history routes,
// which GET /triggers does not use).
type shim struct {
	url    string
	cancel context.CancelFunc
	done   chan error
}

func startShim(ctx context.Context, cfg *rest.Config, ou string, want int) (*shim, error) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, err
	}
	if err := triggersv1alpha1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		// As main.go configures the operator's manager.
		Cache: cache.Options{DefaultTransform: cache.TransformStripManagedFields()},
	})
	if err != nil {
		return nil, fmt.Errorf("creating the manager: %w", err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	addr, err := localsystem.FreeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	srv, err := restapi.New(restapi.Options{
		Addr:                 addr,
		Cache:                mgr.GetCache(),
		APIReader:            mgr.GetAPIReader(),
		Writer:               mgr.GetClient(),
		TokenReviews:         cs.AuthenticationV1(),
		SubjectAccessReviews: cs.AuthorizationV1(),
		Logger:               ctrl.Log.WithName("restapi"),
	})
	if err != nil {
		return nil, fmt.Errorf("setting up the REST API: %w", err)
	}
	if err := mgr.Add(srv); err != nil {
		return nil, err
	}

	mgrCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s := &shim{url: "http://" + addr, cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- mgr.Start(mgrCtx) }()
	if err := s.waitReady(ctx, mgr, ou, want); err != nil {
		return nil, errors.Join(err, s.stop())
	}
	return s, nil
}

// waitReady waits until the cache holds the OU's triggers and the shim
// answers (401 to a call without a token).
func (s *shim) waitReady(ctx context.Context, mgr ctrl.Manager, ou string, want int) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if _, err := mgr.GetCache().GetInformer(ctx, &triggersv1alpha1.MilestoneTrigger{}); err != nil {
		return fmt.Errorf("starting the triggers informer: %w", err)
	}
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		return errors.New("the manager's cache did not sync")
	}
	var list triggersv1alpha1.MilestoneTriggerList
	if err := mgr.GetCache().List(ctx, &list, client.InNamespace(ou)); err != nil {
		return err
	}
	if len(list.Items) != want {
		return fmt.Errorf("the synced cache holds %d triggers in %s, want %d", len(list.Items), ou, want)
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-s.done:
			s.done <- err
			return fmt.Errorf("the manager stopped: %v", err)
		case <-ctx.Done():
			return fmt.Errorf("the REST shim did not come up on %s: %w", s.url, ctx.Err())
		case <-tick.C:
			resp, err := http.Get(s.url + "/triggers")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusUnauthorized {
					return nil
				}
			}
		}
	}
}

// stop stops the manager, and with it the shim, and waits for it.
func (s *shim) stop() error {
	s.cancel()
	select {
	case err := <-s.done:
		if err != nil {
			return fmt.Errorf("the manager: %w", err)
		}
		return nil
	case <-time.After(30 * time.Second):
		return errors.New("the manager did not stop within 30s")
	}
}
