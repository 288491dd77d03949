package slack

import "strings"

// mrkdwnEscaper escapes the characters Slack's mrkdwn treats as control
// characters, so that user-supplied text cannot open a link, mention or
// entity.
var mrkdwnEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// escape returns s safe for a mrkdwn text object.
func escape(s string) string { return mrkdwnEscaper.Replace(s) }
