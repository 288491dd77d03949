package streamauth

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/nats-io/jwt/v2"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/leadvibe/milestone-triggers-operator/internal/kubeauth"
)

// MaxOUs bounds how many OUs one connection may name.
const MaxOUs = 32

// credentials are what a client presents: a token, and the OUs it means
// to publish to (none: its service account's namespace).
type credentials struct {
	token string
	ous   []string
}

// parseCredentials reads the credentials of a client's CONNECT: the token
// as its auth token, or as its password with a user name listing OUs,
// comma-separated.
func parseCredentials(o jwt.ConnectOptions) (credentials, error) {
	switch {
	case o.Token != "" && (o.Username != "" || o.Password != ""):
		return credentials{}, errors.New("send the token either as the NATS token or as the password of a user name listing OUs, not both")
	case o.Token != "":
		if len(o.Token) > kubeauth.MaxTokenBytes {
			return credentials{}, errors.New("the token is too long")
		}
		return credentials{token: o.Token}, nil
	case o.Username != "" && o.Password == "":
		return credentials{}, errors.New("a user name (the OUs) needs the token as its password")
	case o.Username == "":
		return credentials{}, errors.New("no token: connect with a Kubernetes service-account token as the NATS token")
	}
	if len(o.Password) > kubeauth.MaxTokenBytes {
		return credentials{}, errors.New("the token is too long")
	}
	ous, err := parseOUs(o.Username)
	if err != nil {
		return credentials{}, err
	}
	return credentials{token: o.Password, ous: ous}, nil
}

// parseOUs reads a comma-separated list of OU names, each a Kubernetes
// namespace name (a DNS label), without repeats.
func parseOUs(list string) ([]string, error) {
	parts := strings.Split(list, ",")
	if len(parts) > MaxOUs {
		return nil, fmt.Errorf("user name: %d OUs, at most %d", len(parts), MaxOUs)
	}
	ous := make([]string, 0, len(parts))
	for _, p := range parts {
		ou := strings.TrimSpace(p)
		if errs := validation.IsDNS1123Label(ou); len(errs) > 0 {
			return nil, fmt.Errorf("user name: %q is not an OU name: %s", ou, strings.Join(errs, "; "))
		}
		if !slices.Contains(ous, ou) {
			ous = append(ous, ou)
		}
	}
	return ous, nil
}
