package resolve

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// maxSecretValueLength bounds what is read from a Secret key: a URL or a
// handful of signing secrets during a rotation.
const maxSecretValueLength = 8192

// maxSigningSecrets bounds how many signing secrets a rotation may hold.
const maxSigningSecrets = 8

// parseWebhookURL checks a URL read from a Secret, as the schema checks an
// inline one: an absolute http or https URL with a host. Surrounding
// whitespace, which editors and `kubectl create secret --from-file` leave
// behind, is ignored. Errors never quote the value: it is a credential.
func parseWebhookURL(raw string) (string, error) {
	if len(raw) > maxSecretValueLength {
		return "", fmt.Errorf("the value is longer than %d bytes", maxSecretValueLength)
	}
	value := strings.TrimSpace(raw)
	if value == "" {
		return "", errors.New("the value is empty")
	}
	u, err := url.Parse(value)
	if err != nil {
		return "", errors.New("the value is not a URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", errors.New("the value is not an http or https URL")
	}
	if u.Hostname() == "" {
		return "", errors.New("the URL has no host")
	}
	return value, nil
}

// parseSigningSecrets reads Standard Webhooks signing secrets: "whsec_"
// followed by the base64 of at least 24 random bytes, several of them
// separated by whitespace while a key is rotated.
func parseSigningSecrets(raw string) ([]string, error) {
	if len(raw) > maxSecretValueLength {
		return nil, fmt.Errorf("the value is longer than %d bytes", maxSecretValueLength)
	}
	fields := strings.Fields(raw)
	switch {
	case len(fields) == 0:
		return nil, errors.New("the value holds no signing secret")
	case len(fields) > maxSigningSecrets:
		return nil, fmt.Errorf("the value holds %d signing secrets, more than %d", len(fields), maxSigningSecrets)
	}
	for i, f := range fields {
		encoded, ok := strings.CutPrefix(f, "whsec_")
		if !ok {
			return nil, fmt.Errorf("signing secret %d does not start with \"whsec_\"", i+1)
		}
		key, err := base64.StdEncoding.DecodeString(encoded)
		if err != nil {
			return nil, fmt.Errorf("signing secret %d is not valid base64 after \"whsec_\"", i+1)
		}
		if len(key) < 24 || len(key) > 64 {
			return nil, fmt.Errorf("signing secret %d decodes to %d bytes; it must be 24 to 64", i+1, len(key))
		}
	}
	return fields, nil
}
