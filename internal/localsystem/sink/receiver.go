package sink

import (
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/leadvibe/milestone-triggers-operator/internal/notify/webhook"
)

// maxBodyBytes bounds one delivery the receiver reads.
const maxBodyBytes = 1 << 20

// signatureTolerance is how far a delivery's webhook-timestamp may be
// from now, as Standard Webhooks receivers are advised.
const signatureTolerance = 5 * time.Minute

// Receiver is the demo webhook receiver: it answers every request 204,
// and writes its method, path, Standard Webhooks headers, signature
// verdict (checked against Secret, when set) and body to Out, and a
// one-line summary to Notices when that is set.
type Receiver struct {
	// Secret is the trigger's signing secret (whsec_...); empty: the
	// signature is not checked.
	Secret string
	// Out gets every delivery in full.
	Out io.Writer
	// Notices, when set, gets one line per delivery.
	Notices io.Writer
	// Where names Out in the Notices lines, for example a file's path.
	Where string

	mu sync.Mutex
	n  int
}

// Count is how many deliveries the receiver has had.
func (rc *Receiver) Count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.n
}

func (rc *Receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	verdict := "not checked (no secret)"
	if rc.Secret != "" {
		verdict = "valid"
		if err := webhook.Verify(rc.Secret, r.Header, body, time.Now(), signatureTolerance); err != nil {
			verdict = "INVALID: " + err.Error()
		}
	}
	rc.mu.Lock()
	rc.n++
	_, _ = fmt.Fprintf(rc.Out, "%s %s\n  webhook-id: %s\n  webhook-timestamp: %s\n  webhook-signature: %s\n  signature: %s\n  body: %s\n\n",
		r.Method, r.URL.Path, r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp"), r.Header.Get("webhook-signature"), verdict, body)
	if rc.Notices != nil {
		_, _ = fmt.Fprintf(rc.Notices, "webhook: %s %s, webhook-id %s, signature %s: %s\n", r.Method, r.URL.Path, r.Header.Get("webhook-id"), verdict, rc.Where)
	}
	rc.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}
