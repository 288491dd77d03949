// Package kubeauth checks callers against the Kubernetes API server, for
// every front door of the operator that takes a Kubernetes token: the REST
// API (internal/restapi) and the NATS stream listener (internal/streamauth).
//
// An Authenticator validates a token with a TokenReview, for the configured
// audiences, and an Authorizer asks whether the user may do something with a
// SubjectAccessReview. Both cache their answers briefly in a bounded LRU
// (Cache), keyed by SHA-256 digests so that no token is ever kept. A
// FailureLimiter counts failed authentications per client address and
// refuses further attempts from an address past its limit without asking
// the API server, so that a stream of random tokens costs the API server a
// bounded number of TokenReviews.
package kubeauth
