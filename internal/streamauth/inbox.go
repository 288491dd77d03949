package streamauth

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"github.com/leadvibe/milestone-triggers-operator/internal/kubeauth"
)

// InboxPrefix is the inbox prefix a publisher authenticated as username
// must use (nats.CustomInboxPrefix): _INBOX.<namespace>.<name> for a
// service account, with the dots of its name written as underscores, which
// a name never holds; _INBOX._user.<the first 32 hex digits of the user
// name's SHA-256> for any other user. A publisher may subscribe under its
// prefix and nowhere else, so no client reads another identity's replies.
func InboxPrefix(username string) string {
	if ns, name, ok := kubeauth.ServiceAccount(username); ok {
		return "_INBOX." + ns + "." + strings.ReplaceAll(name, ".", "_")
	}
	sum := sha256.Sum256([]byte(username))
	return "_INBOX._user." + hex.EncodeToString(sum[:16])
}
