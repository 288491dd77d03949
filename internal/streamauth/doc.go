// Package streamauth is the auth callout service of the embedded NATS
// server's listener (--stream-listen): it decides who may connect, and
// what each connection may do, with the same Kubernetes checks as the
// REST API's POST /events (internal/kubeauth).
//
// A publisher connects with a Kubernetes service-account token, either as
// its NATS token (nats.Token(token)), to publish to the OU of its service
// account, or as the password of a user name listing the OUs it publishes
// to (nats.UserInfo("ou-a,ou-b", token)). The service checks the token
// with a TokenReview (for the operator's token audiences) and each OU with
// a SubjectAccessReview for create on milestonetriggers/events, then
// admits the connection as a user that may publish only to those OUs'
// event subjects (leadvibe.events.<ou>) and subscribe only under its own
// inbox prefix (InboxPrefix), which the client sets with
// nats.CustomInboxPrefix so that the JetStream acknowledgements of its
// publishes reach it. Everything else, $JS.API and the operator's own
// inbox included, is refused. The user expires with the token, after an
// hour at most: the client reconnects, and is checked again.
//
// NATS tells a refused client only "Authorization Violation"; the reason
// is in the callout's answer (the server's authorization error event) and
// in the operator's log.
package streamauth
