package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Verify checks a webhook as a receiver would, following the Standard
// Webhooks specification and written apart from Sign, so that the tests of
// Sign, the end-to-end suite and hack/receiver check it independently: it reads the
// webhook-id, webhook-timestamp and webhook-signature headers, refuses a
// timestamp more than tolerance away from now, recomputes the v1
// signature of "<id>.<timestamp>.<body>" with the base64 key after
// "whsec_", and accepts when any listed v1 signature matches, compared in
// constant time.
func Verify(secret string, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	id := h.Get("webhook-id")
	ts := h.Get("webhook-timestamp")
	sigs := h.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return errors.New("missing required headers")
	}
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errors.New("invalid timestamp")
	}
	sent := time.Unix(secs, 0)
	if now.Sub(sent) > tolerance || sent.Sub(now) > tolerance {
		return errors.New("timestamp outside the tolerance")
	}
	if !strings.HasPrefix(secret, "whsec_") {
		return errors.New("secret lacks the whsec_ prefix")
	}
	key, err := base64.StdEncoding.DecodeString(secret[len("whsec_"):])
	if err != nil {
		return err
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(body)
	expected := mac.Sum(nil)
	for _, versioned := range strings.Split(sigs, " ") {
		version, sig, ok := strings.Cut(versioned, ",")
		if !ok || version != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(sig)
		if err != nil {
			continue
		}
		if hmac.Equal(got, expected) {
			return nil
		}
	}
	return errors.New("no matching signature")
}
