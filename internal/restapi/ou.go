package restapi

import (
	"fmt"
	"net/http"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/leadvibe/milestone-triggers-operator/internal/kubeauth"
)

// OUHeader names the request header that selects the active Organizational
// Unit (a namespace).
const OUHeader = "X-LeadVibe-OU"

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
	if ns, _, ok := kubeauth.ServiceAccount(user.Username); ok {
		return ns, nil
	}
	return "", newError(http.StatusBadRequest, "no OU: set "+OUHeader)
}
