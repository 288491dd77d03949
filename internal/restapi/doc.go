// Package restapi is the REST shim: the product's /triggers API (the seed's
// snake_case JSON) served over MilestoneTrigger resources, one OU per
// namespace.
//
// Routes:
//
//	GET    /triggers       200 {"triggers":[...]}          RBAC verb list
//	POST   /triggers       201 the created trigger         create
//	GET    /triggers/{id}  200 the trigger                 get
//	PUT    /triggers/{id}  200 full replace of the spec    update
//	PATCH  /triggers/{id}  200 JSON merge patch (RFC 7386)  patch
//	DELETE /triggers/{id}  204                             delete
//
// and the routes main adds with Options.Routes: POST /triggers/{id}/simulate
// (simulate.go), POST /triggers/{id}/events/{firing_id}/resend (resend.go),
// GET /triggers/{id}/events and GET /milestone-events (historyroutes.go),
// and POST /events (ingest.go). GET /openapi.json serves docs/openapi.json,
// the document of all of them, without authentication.
//
// A trigger's id is its resource name, generated on create as "trigger-"
// and a random suffix.
//
// Every call carries "Authorization: Bearer <token>". The token is
// validated with a TokenReview (401 otherwise); the active OU is the
// X-LeadVibe-OU header, or else the namespace of the caller's service
// account (400 when there is neither); and the call is authorized with a
// SubjectAccessReview for the caller (user, groups, uid, extra) on
// milestonetriggers.triggers.leadvibe.io in the OU with the route's verb
// (403 otherwise). Review answers are cached for a few seconds, keyed by a
// SHA-256 of the token or of the user and access; tokens are never kept
// or logged. The shim then reads and writes with the operator's own
// identity.
//
// Request bodies are decoded strictly (unknown fields, wrong types,
// missing name or score_threshold and duplicate keys are 400s naming the
// fields), bounded in size (413), and validated by the API server against
// the CRD's schema, whose refusals come back as 400s with the fields named
// in snake_case. Every error has one shape, see Error.
//
// Reads come from the manager's cache; writes wait for the cache to show
// them, so that a read after a write sees it (see consistency.go).
package restapi
