package kubeauth

import (
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// serviceAccountPrefix starts the user name of every service account.
const serviceAccountPrefix = "system:serviceaccount:"

// ServiceAccount splits a service account's user name,
// system:serviceaccount:<namespace>:<name>, and checks both parts as
// Kubernetes names (the namespace a DNS label, the name a DNS subdomain),
// so that what it returns can become part of a subject or an OU. ok is
// false for any other user name.
func ServiceAccount(username string) (namespace, name string, ok bool) {
	rest, ok := strings.CutPrefix(username, serviceAccountPrefix)
	if !ok {
		return "", "", false
	}
	namespace, name, ok = strings.Cut(rest, ":")
	if !ok || len(validation.IsDNS1123Label(namespace)) > 0 || len(validation.IsDNS1123Subdomain(name)) > 0 {
		return "", "", false
	}
	return namespace, name, true
}
