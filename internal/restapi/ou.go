package restapi

import (
	"fmt"
	"net/http"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

// OUHeader names the request header that selects the active Organizational
// Unit (a namespace).
const OUHeader = "X-LeadVibe-OU"

const serviceAccountPrefix = "system:serviceaccount:"

// resolveOU returns the active OU of a request: the X-LeadVibe-OU header
// when given, otherwise the namespace of the caller's service account.
func resolveOU(h http.Header, user authenticationv1.UserInfo) (string, *Error) {
	values := h.Values(OUHeader)
	if len(values) > 1 {
		return "", newError(http.StatusBadRequest, OUHeader+" was given more than once")
	}
	if len(values) == 1 {
		ou := strings.TrimSpace(values[0])
		if ou != "" {
			if errs := validation.IsDNS1123Label(ou); len(errs) > 0 {
				return "", newError(http.StatusBadRequest, fmt.Sprintf("%s: %q is not an OU name: %s", OUHeader, ou, strings.Join(errs, "; ")))
			}
			return ou, nil
		}
	}
	if ns, ok := serviceAccountNamespace(user.Username); ok && len(validation.IsDNS1123Label(ns)) == 0 {
		return ns, nil
	}
	return "", newError(http.StatusBadRequest, "no OU: set "+OUHeader)
}

// serviceAccountNamespace returns the namespace of a service account's user
// name, system:serviceaccount:<namespace>:<name>.
func serviceAccountNamespace(username string) (string, bool) {
	rest, ok := strings.CutPrefix(username, serviceAccountPrefix)
	if !ok {
		return "", false
	}
	ns, name, ok := strings.Cut(rest, ":")
	if !ok || ns == "" || name == "" || strings.Contains(name, ":") {
		return "", false
	}
	return ns, true
}
