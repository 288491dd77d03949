package streamauth

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/leadvibe/milestone-triggers-operator/internal/kubeauth"
)

// tokenClaims are what this package reads of a Kubernetes token (a JWT)
// without checking its signature.
type tokenClaims struct {
	// Subject is the user name a service-account token is for,
	// system:serviceaccount:<namespace>:<name>.
	Subject string `json:"sub"`
	// Exp is when the token expires, in Unix seconds.
	Exp *json.Number `json:"exp"`
}

// readTokenClaims decodes the payload of a JWT. It checks no signature:
// the operator reads only tokens the API server has accepted, and a
// client reads only its own.
func readTokenClaims(token string) (tokenClaims, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return tokenClaims{}, errors.New("the token is not a JWT")
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return tokenClaims{}, errors.New("the token's payload is not base64url")
	}
	var c tokenClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return tokenClaims{}, errors.New("the token's payload is not a JSON object")
	}
	return c, nil
}

// tokenExpiry reads the expiry (the exp claim) of a token the API server
// has accepted. ok is false for a token that is no JWT or has no expiry
// (a legacy service-account token).
func tokenExpiry(token string) (time.Time, bool) {
	c, err := readTokenClaims(token)
	if err != nil || c.Exp == nil {
		return time.Time{}, false
	}
	exp, err := c.Exp.Int64()
	if err != nil || exp <= 0 {
		return time.Time{}, false
	}
	return time.Unix(exp, 0), true
}

// TokenInboxPrefix is the inbox prefix a client publishing with a
// service-account token must set (nats.CustomInboxPrefix): the
// InboxPrefix of the user the token's sub claim names.
func TokenInboxPrefix(token string) (string, error) {
	c, err := readTokenClaims(token)
	if err != nil {
		return "", err
	}
	if _, _, ok := kubeauth.ServiceAccount(c.Subject); !ok {
		return "", errors.New("the token's sub claim names no service account: give the inbox prefix of its user (see streamauth.InboxPrefix)")
	}
	return InboxPrefix(c.Subject), nil
}
