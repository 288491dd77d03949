package chat

import (
	"bytes"
	"encoding/json"

	"github.com/leadvibe/milestone-triggers-operator/internal/text"
)

// Bounds on how much of an event's metadata a message shows.
const (
	// MaxFields is the most metadata members a message shows.
	MaxFields     = 10
	maxKeyRunes   = 100
	maxValueRunes = 300
)

// Field is one top-level member of an event's metadata, as text.
type Field struct {
	Key, Value string
}

// Fields returns up to MaxFields top-level members of the
// metadata object, in document order, and the total number of members.
// A string value is shown as is, any other value as compact JSON; both
// are cut short. Metadata that is not a JSON object shows nothing.
func Fields(raw json.RawMessage) (fields []Field, total int) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, 0
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fields, total
		}
		key, _ := tok.(string)
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return fields, total
		}
		total++
		if len(fields) < MaxFields {
			fields = append(fields, Field{Key: text.ClipRunes(key, maxKeyRunes), Value: text.ClipRunes(valueText(value), maxValueRunes)})
		}
	}
	return fields, total
}

// valueText is the text of a metadata value: a string's contents, or the
// value's compact JSON.
func valueText(v json.RawMessage) string {
	var s string
	if json.Unmarshal(v, &s) == nil {
		return s
	}
	var buf bytes.Buffer
	if json.Compact(&buf, v) == nil {
		return buf.String()
	}
	return string(v)
}
