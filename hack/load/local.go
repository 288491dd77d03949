package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/leadvibe/milestone-triggers-operator/internal/localsystem"
)

// localSystem is the local system the tool started, as `make local` starts
// it (internal/localsystem): a control plane and the operator as a
// process of its own, on a fresh embedded stream.
type localSystem struct {
	cp         *localsystem.ControlPlane
	op         *localsystem.Operator
	kubeconfig string
	natsURL    string
	apiURL     string
	metricsURL string
	managerPID int
}

// startLocal starts the control plane from assets with the CRDs of crdDir,
// and the operator binary manager with managerArgs, keeping their files
// in stateDir.
func startLocal(ctx context.Context, assets, crdDir, manager string, managerArgs []string, stateDir string) (*localSystem, error) {
	if err := localsystem.CheckAssets(assets); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return nil, err
	}
	streamDir := filepath.Join(stateDir, "stream")
	if err := os.RemoveAll(streamDir); err != nil { // each run starts empty
		return nil, err
	}
	cp, err := localsystem.StartControlPlane(localsystem.ControlPlaneOptions{
		Assets: assets, CRDDir: crdDir, Kubeconfig: filepath.Join(stateDir, "kubeconfig"),
	})
	if err != nil {
		return nil, err
	}
	op, err := localsystem.NewOperator(localsystem.OperatorOptions{
		Binary: manager, Kubeconfig: cp.Kubeconfig, DataDir: streamDir,
		LogPath: filepath.Join(stateDir, "manager.log"), Args: managerArgs,
	})
	if err == nil {
		err = op.Start(ctx)
	}
	if err != nil {
		return nil, errors.Join(fmt.Errorf("starting the operator: %w", err), cp.Stop())
	}
	return &localSystem{
		cp: cp, op: op, kubeconfig: cp.Kubeconfig,
		natsURL: op.NATSURL(), apiURL: op.APIURL(), metricsURL: op.MetricsURL(), managerPID: op.Pid(),
	}, nil
}

// stop stops the operator, then the control plane.
func (ls *localSystem) stop() error {
	return errors.Join(ls.op.Stop(), ls.cp.Stop())
}
