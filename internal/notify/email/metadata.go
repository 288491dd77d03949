package email

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
)

// metadataField is one metadata member as the details show it.
type metadataField struct {
	key, value string
}

// metadataFields returns the members of the metadata object, sorted by key,
// with string values as they are and other values as compact JSON text, at
// most maxMetadataFields of them; omitted says what was left out, if
// anything. Metadata that is not a JSON object is not shown.
func metadataFields(raw json.RawMessage) (fields []metadataField, omitted string) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, ""
	}
	if len(raw) > maxMetadataBytes {
		return nil, fmt.Sprintf("Metadata not shown: %d bytes, more than %d.", len(raw), maxMetadataBytes)
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(raw, &members); err != nil {
		return nil, "Metadata not shown: not a JSON object."
	}
	keys := make([]string, 0, len(members))
	for k := range members {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if len(keys) > maxMetadataFields {
		omitted = fmt.Sprintf("%d more metadata fields not shown.", len(keys)-maxMetadataFields)
		keys = keys[:maxMetadataFields]
	}
	fields = make([]metadataField, 0, len(keys))
	for _, k := range keys {
		fields = append(fields, metadataField{key: k, value: metadataValue(members[k])})
	}
	return fields, omitted
}

// metadataValue renders one metadata value: a string as its text, anything
// else as compact JSON.
func metadataValue(v json.RawMessage) string {
	var s string
	if len(v) > 0 && v[0] == '"' && json.Unmarshal(v, &s) == nil {
		return s
	}
	var b bytes.Buffer
	if err := json.Compact(&b, v); err != nil {
		return string(v)
	}
	return b.String()
}
