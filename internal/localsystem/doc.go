// Package localsystem runs the Milestone Triggers operator the way the
// local system (hack/local, `make local`) and the end-to-end suite
// (test/e2e) both need it: a real control plane (the source-built etcd and
// kube-apiserver, through controller-runtime's envtest) with the CRDs
// installed and an admin kubeconfig written, OU namespaces, the ClusterRoles
// that config/rbac ships and service-account tokens bound to them, and the
// operator binary as a separate process, started, waited for, stopped and
// killed.
package localsystem
