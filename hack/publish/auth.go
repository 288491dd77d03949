package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/leadvibe/milestone-triggers-operator/internal/streamauth"
)

// auth is how the tool authenticates to the operator's listener.
type auth struct {
	// token is the Kubernetes service-account token; empty connects
	// without one (an external NATS server, or a URL with credentials).
	token string
	// inboxPrefix is the inbox prefix the token's identity must use.
	inboxPrefix string
	// caFile, certFile and keyFile are the TLS files.
	caFile, certFile, keyFile string
}

// readAuth reads the authentication flags.
func readAuth(token, tokenFile, inboxPrefix, caFile, certFile, keyFile string) (auth, error) {
	if token != "" && tokenFile != "" {
		return auth{}, errors.New("--token and --token-file: give one")
	}
	if tokenFile != "" {
		b, err := os.ReadFile(tokenFile)
		if err != nil {
			return auth{}, fmt.Errorf("--token-file: %w", err)
		}
		token = strings.TrimSpace(string(b))
		if token == "" {
			return auth{}, fmt.Errorf("--token-file: %s is empty", tokenFile)
		}
	}
	if (certFile == "") != (keyFile == "") {
		return auth{}, errors.New("--tls-cert-file and --tls-key-file go together")
	}
	a := auth{token: token, inboxPrefix: inboxPrefix, caFile: caFile, certFile: certFile, keyFile: keyFile}
	if token != "" && inboxPrefix == "" {
		p, err := streamauth.TokenInboxPrefix(token)
		if err != nil {
			return auth{}, fmt.Errorf("--inbox-prefix is needed: %w", err)
		}
		a.inboxPrefix = p
	}
	return a, nil
}

// options are the connection's options: the OU as the user name with the
// token as the password, the identity's inbox prefix, and TLS.
func (a auth) options(ou string) []nats.Option {
	var opts []nats.Option
	if a.token != "" {
		opts = append(opts, nats.UserInfo(ou, a.token))
	}
	if a.inboxPrefix != "" {
		opts = append(opts, nats.CustomInboxPrefix(a.inboxPrefix))
	}
	if a.caFile != "" {
		opts = append(opts, nats.RootCAs(a.caFile))
	}
	if a.certFile != "" {
		opts = append(opts, nats.ClientCert(a.certFile, a.keyFile))
	}
	return opts
}

// connectError adds what to check to a refused connection: NATS tells a
// refused client only "Authorization Violation".
func connectError(err error, a auth) error {
	if !errors.Is(err, nats.ErrAuthorization) && !strings.Contains(err.Error(), "Authorization Violation") {
		return err
	}
	if a.token == "" {
		return fmt.Errorf("%w: the listener needs a Kubernetes service-account token: give --token-file", err)
	}
	return fmt.Errorf("%w: the token was refused: it may be expired, minted for another audience than the operator's --api-token-audiences, or its service account may not create milestonetriggers/events in the OU (the operator's log says which), or this address failed too often lately", err)
}
