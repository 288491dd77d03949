package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// SecretPrefix starts every Standard Webhooks signing secret.
const SecretPrefix = "whsec_"

// Sign returns the Standard Webhooks webhook-signature header value for a
// message: one "v1,<base64 HMAC-SHA256>" per secret, separated by spaces,
// each the HMAC of "<id>.<unix seconds>.<body>" keyed with the secret's
// base64-decoded part after "whsec_". Several secrets sign during a key
// rotation. The errors name a secret by its position, never its value.
func Sign(secrets []string, id string, ts time.Time, body []byte) (string, error) {
	if len(secrets) == 0 {
		return "", errors.New("no signing secret")
	}
	signed := make([]byte, 0, len(id)+len(body)+24)
	signed = append(signed, id...)
	signed = append(signed, '.')
	signed = strconv.AppendInt(signed, ts.Unix(), 10)
	signed = append(signed, '.')
	signed = append(signed, body...)

	sigs := make([]string, 0, len(secrets))
	for i, secret := range secrets {
		key, err := decodeSecret(secret)
		if err != nil {
			return "", fmt.Errorf("signing secret %d: %w", i+1, err)
		}
		mac := hmac.New(sha256.New, key)
		mac.Write(signed)
		sigs = append(sigs, "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	}
	return strings.Join(sigs, " "), nil
}

// decodeSecret returns the key of a "whsec_<base64>" secret. The prefix
// is optional, as in the reference libraries.
func decodeSecret(secret string) ([]byte, error) {
	s := strings.TrimPrefix(strings.TrimSpace(secret), SecretPrefix)
	key, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		key, err = base64.RawStdEncoding.DecodeString(s)
	}
	switch {
	case err != nil:
		return nil, errors.New(`not a "whsec_" secret: the part after the prefix must be base64`)
	case len(key) == 0:
		return nil, errors.New("empty key")
	}
	return key, nil
}
