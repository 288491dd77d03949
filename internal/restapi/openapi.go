package restapi

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"time"

	"github.com/leadvibe/milestone-triggers-operator/docs"
)

// openAPIPattern is the route of the shim's OpenAPI document. It is served
// without authentication: the document is not secret, and tools fetch it
// before they hold a token.
const openAPIPattern = "GET /openapi.json"

// openAPIETag identifies the version of the document, for caching clients.
var openAPIETag = func() string {
	sum := sha256.Sum256(docs.OpenAPI)
	return `"` + hex.EncodeToString(sum[:8]) + `"`
}()

// serveOpenAPI serves docs/openapi.json, the OpenAPI 3 document of the
// shim's routes.
func serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("ETag", openAPIETag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(docs.OpenAPI))
}
