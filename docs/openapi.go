// Package docs holds the documents the operator serves. openapi.json is
// the OpenAPI 3 document of the REST shim (internal/restapi), kept by hand
// beside the code: the shim serves it at GET /openapi.json, and the shim's
// tests check every response they receive against it.
package docs

import _ "embed"

// OpenAPI is docs/openapi.json, the REST shim's OpenAPI 3.0 document.
//
//go:embed openapi.json
var OpenAPI []byte
