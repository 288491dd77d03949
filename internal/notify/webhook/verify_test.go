package webhook

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The Standard Webhooks published example, as in the reference library's
// test (standard-webhooks/standard-webhooks, libraries/go/webhook_test.go,
// TestWebhookSign); openssl agrees.
const (
	specSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	specID        = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	specTimestamp = 1614265330
	specPayload   = `{"test": 2432232314}`
	specSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func TestSignSpecificationVector(t *testing.T) {
	ts := time.Unix(specTimestamp, 0)
	got, err := Sign([]string{specSecret}, specID, ts, []byte(specPayload))
	if err != nil {
		t.Fatal(err)
	}
	if got != specSignature {
		t.Fatalf("Sign = %s, want %s", got, specSignature)
	}

	h := http.Header{}
	h.Set("webhook-id", specID)
	h.Set("webhook-timestamp", strconv.Itoa(specTimestamp))
	h.Set("webhook-signature", specSignature)
	if err := Verify(specSecret, h, []byte(specPayload), ts.Add(time.Minute), 5*time.Minute); err != nil {
		t.Fatalf("the verifier rejects the specification's example: %v", err)
	}
	if err := Verify(specSecret, h, []byte(specPayload), ts.Add(time.Hour), 5*time.Minute); err == nil {
		t.Fatal("the verifier accepts a stale timestamp")
	}
	if err := Verify(specSecret, h, []byte(`{"test": 2432232315}`), ts, 5*time.Minute); err == nil {
		t.Fatal("the verifier accepts a changed body")
	}
}

func TestSignRotation(t *testing.T) {
	ts := time.Unix(specTimestamp, 0)
	other := "whsec_" + base64.StdEncoding.EncodeToString([]byte("another key of thirty-two bytes!"))
	got, err := Sign([]string{specSecret, other}, specID, ts, []byte(specPayload))
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(got, " ")
	if len(parts) != 2 || parts[0] != specSignature {
		t.Fatalf("Sign with two secrets = %q, want two signatures, the first %s", got, specSignature)
	}
	h := http.Header{}
	h.Set("webhook-id", specID)
	h.Set("webhook-timestamp", strconv.Itoa(specTimestamp))
	for _, sig := range parts {
		h.Set("webhook-signature", sig)
		okSpec := Verify(specSecret, h, []byte(specPayload), ts, time.Minute) == nil
		okOther := Verify(other, h, []byte(specPayload), ts, time.Minute) == nil
		if okSpec == okOther {
			t.Fatalf("signature %s verifies with the first secret %v, the second %v: want exactly one", sig, okSpec, okOther)
		}
	}
}

func TestSignBadSecrets(t *testing.T) {
	for _, secrets := range [][]string{nil, {"whsec_not base64!"}, {"whsec_"}, {specSecret, "whsec_%%%"}} {
		_, err := Sign(secrets, specID, time.Unix(specTimestamp, 0), nil)
		if err == nil {
			t.Errorf("Sign(%q) succeeded, want an error", secrets)
			continue
		}
		if strings.Contains(err.Error(), "%%%") || strings.Contains(err.Error(), "not base64!") {
			t.Errorf("Sign error %q reveals the secret", err)
		}
	}
}
