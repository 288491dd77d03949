package streamauth

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

const serviceAccountPrefix = "system:serviceaccount:"

// InboxPrefix is the inbox prefix a publisher authenticated as username
// must use (nats.CustomInboxPrefix): _INBOX.<namespace>.<name> for a
// service account, with the dots of its name written as underscores, which
// a name never holds; _INBOX._user.<the first 32 hex digits of the user
// name's SHA-256> for any other user. A publisher may subscribe under its
// prefix and nowhere else, so no client reads another identity's replies.
func InboxPrefix(username string) string {
	if ns, name, ok := serviceAccount(username); ok {
		return "_INBOX." + ns + "." + strings.ReplaceAll(name, ".", "_")
	}
	sum := sha256.Sum256([]byte(username))
	return "_INBOX._user." + hex.EncodeToString(sum[:16])
}

// serviceAccount splits a service account's user name,
// system:serviceaccount:<namespace>:<name>, whose namespace is a DNS label
// and name a DNS subdomain, as Kubernetes names them: nothing in them can
// act as a subject wildcard or separator but the name's dots.
func serviceAccount(username string) (ns, name string, ok bool) {
	rest, ok := strings.CutPrefix(username, serviceAccountPrefix)
	if !ok {
		return "", "", false
	}
	ns, name, ok = strings.Cut(rest, ":")
	if !ok || len(validation.IsDNS1123Label(ns)) > 0 || len(validation.IsDNS1123Subdomain(name)) > 0 {
		return "", "", false
	}
	return ns, name, true
}
