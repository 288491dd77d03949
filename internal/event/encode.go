package event

import (
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf8"
)

// Encode returns the event's canonical JSON: fields in the order of Event,
// no insignificant space, no HTML escaping, metadata compacted and left out
// when empty, created_at in UTC as RFC 3339 with as many fractional digits as
// it needs. DecodeEvent of the result returns an equal event. Encode assumes
// an event as DecodeEvent returns it; metadata that is not a JSON object is
// left out. For such an event, json.Marshal gives the same JSON, except that
// it escapes <, > and & in metadata strings.
func (e Event) Encode() []byte {
	b := make([]byte, 0, 192+len(e.ID)+len(e.LeadID)+len(e.EventType)+len(e.Metadata))
	b = append(b, `{"id":`...)
	b = appendJSONString(b, e.ID)
	b = append(b, `,"lead_id":`...)
	b = appendJSONString(b, e.LeadID)
	b = append(b, `,"event_type":`...)
	b = appendJSONString(b, e.EventType)
	b = append(b, `,"score":`...)
	b = strconv.AppendInt(b, e.Score, 10)
	if m := trimJSONSpace(e.Metadata); len(m) > 0 && m[0] == '{' && json.Valid(m) {
		b = append(b, `,"metadata":`...)
		b = appendCompactJSON(b, m)
	}
	b = append(b, `,"created_at":"`...)
	b = e.CreatedAt.UTC().AppendFormat(b, time.RFC3339Nano)
	return append(b, `"}`...)
}

// appendJSONString appends s as a JSON string, escaping only what JSON requires
// and replacing invalid UTF-8 with U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				b = append(b, s[start:i]...)
				b = append(b, `\ufffd`...)
				start = i + size
			}
			i += size
			continue
		}
		if c >= ' ' && c != '"' && c != '\\' {
			i++
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, `\n`...)
		case '\r':
			b = append(b, `\r`...)
		case '\t':
			b = append(b, `\t`...)
		default:
			b = append(b, `\u00`...)
			b = append(b, hex[c>>4], hex[c&0xf])
		}
		i++
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
