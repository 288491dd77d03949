// Command receiver is a tiny webhook receiver for trying the operator
// locally: it prints every delivery (the Standard Webhooks headers and the
// JSON payload) and, given the signing secret, verifies the signature.
//
//	go run ./hack/receiver --addr 127.0.0.1:9000 --secret whsec_...
package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"strings"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9000", "Address to listen on.")
	secret := flag.String("secret", "", "The trigger's signing secret (whsec_...), to verify signatures.")
	flag.Parse()

	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		id, ts, sig := r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp"), r.Header.Get("webhook-signature")
		verdict := "not checked (no --secret)"
		if *secret != "" {
			verdict = verify(*secret, id, ts, sig, body)
		}
		fmt.Printf("%s %s\n  webhook-id: %s\n  webhook-timestamp: %s\n  webhook-signature: %s\n  signature: %s\n  body: %s\n\n",
			r.Method, r.URL.Path, id, ts, sig, verdict, body)
		w.WriteHeader(http.StatusNoContent)
	})
	log.Printf("Listening on http://%s", *addr)
	log.Fatal(http.ListenAndServe(*addr, nil))
}

// verify checks a Standard Webhooks signature header: one of its "v1,"
// signatures must be the base64 HMAC-SHA256 of "id.timestamp.body".
func verify(secret, id, ts, header string, body []byte) string {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return "bad --secret: " + err.Error()
	}
	mac := hmac.New(sha256.New, key)
	fmt.Fprintf(mac, "%s.%s.", id, ts)
	mac.Write(body)
	want := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	for _, s := range strings.Fields(header) {
		if v, ok := strings.CutPrefix(s, "v1,"); ok && hmac.Equal([]byte(v), []byte(want)) {
			return "valid"
		}
	}
	return "INVALID"
}
