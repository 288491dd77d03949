// Command receiver is a tiny webhook receiver for trying the operator
// locally: it prints every delivery (the Standard Webhooks headers and the
// JSON payload) and, given the signing secret, verifies the signature.
// `make local` runs the same receiver in process on 127.0.0.1:9000; run
// this one to receive elsewhere.
//
//	go run ./hack/receiver --addr 127.0.0.1:9001 --secret whsec_...
package main

import (
	"flag"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/leadvibe/milestone-triggers-operator/internal/localsystem/sink"
	"github.com/leadvibe/milestone-triggers-operator/internal/version"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9000", "Address to listen on.")
	secret := flag.String("secret", "", "The trigger's signing secret (whsec_...), to verify signatures.")
	version.AddFlag(flag.CommandLine)
	flag.Parse()

	srv := &http.Server{
		Addr:              *addr,
		Handler:           &sink.Receiver{Secret: *secret, Out: os.Stdout},
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
	}
	log.Printf("Listening on http://%s", *addr)
	log.Fatal(srv.ListenAndServe())
}
