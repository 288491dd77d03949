package event

// The strict JSON scanner of the codec. checkJSON checks the syntax of an
// input once, with encoding/json; the functions after it walk the checked
// bytes (values, members, elements, strings) without checking syntax again.
// The event decoder and ParseJSON are built on them.

import (
	"encoding/json"
	"errors"
	"fmt"
	"iter"
)

// checkJSON checks that data is one valid JSON value, nothing but white
// space around it, and returns the value without that space. When it is
// not, the problem is a FieldError of the input as a whole with the code
// ReasonInvalidJSON, saying where it stops being JSON.
func checkJSON(data []byte) ([]byte, *FieldError) {
	if json.Valid(data) {
		return trimJSONSpace(data), nil
	}
	msg := "invalid JSON"
	var syntax *json.SyntaxError
	if err := json.Unmarshal(data, new(json.RawMessage)); errors.As(err, &syntax) {
		msg = fmt.Sprintf("invalid JSON at byte offset %d: %s", syntax.Offset, syntax.Error())
	} else if err != nil {
		msg = "invalid JSON: " + err.Error()
	}
	return nil, &FieldError{Code: ReasonInvalidJSON, Message: msg}
}

// jsonKind names the kind of the valid JSON value v.
func jsonKind(v []byte) string {
	switch v[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}

// The functions below scan JSON that json.Valid accepted, so they need not
// check syntax. None of them recurses.

func isJSONSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func trimJSONSpace(b []byte) []byte {
	for len(b) > 0 && isJSONSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isJSONSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

func skipJSONSpace(b []byte, i int) int {
	for i < len(b) && isJSONSpace(b[i]) {
		i++
	}
	return i
}

// jsonStringEnd returns the index just past the string starting at b[i].
func jsonStringEnd(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(b)
}

// jsonValueEnd returns the index just past the value starting at b[i].
func jsonValueEnd(b []byte, i int) int {
	depth := 0
	for i < len(b) {
		switch b[i] {
		case '"':
			i = jsonStringEnd(b, i)
			if depth == 0 {
				return i
			}
			continue
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return i
			}
			depth--
			if depth == 0 {
				return i + 1
			}
		case ',', ' ', '\t', '\n', '\r':
			if depth == 0 {
				return i
			}
		}
		i++
	}
	return i
}

// jsonMembers yields the name, still quoted, and the value of each member of
// the object v, in order.
func jsonMembers(v []byte) iter.Seq2[[]byte, []byte] {
	return func(yield func([]byte, []byte) bool) {
		i := skipJSONSpace(v, 1)
		for i < len(v) && v[i] == '"' {
			keyEnd := jsonStringEnd(v, i)
			key := v[i:keyEnd]
			i = skipJSONSpace(v, keyEnd) + 1 // past ':'
			i = skipJSONSpace(v, i)
			end := jsonValueEnd(v, i)
			if !yield(key, v[i:end]) {
				return
			}
			i = skipJSONSpace(v, end)
			if i < len(v) && v[i] == ',' {
				i = skipJSONSpace(v, i+1)
			}
		}
	}
}

// jsonElements yields each element of the array v, in order.
func jsonElements(v []byte) iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		i := skipJSONSpace(v, 1)
		for i < len(v) && v[i] != ']' {
			end := jsonValueEnd(v, i)
			if !yield(v[i:end]) {
				return
			}
			i = skipJSONSpace(v, end)
			if i < len(v) && v[i] == ',' {
				i = skipJSONSpace(v, i+1)
			}
		}
	}
}

func jsonHasMember(v []byte, name string) bool {
	for key := range jsonMembers(v) {
		if jsonUnquote(key) == name {
			return true
		}
	}
	return false
}

// jsonUnquote returns the value of the JSON string v, quotes included.
func jsonUnquote(v []byte) string {
	if len(v) < 2 {
		return ""
	}
	inner := v[1 : len(v)-1]
	for _, c := range inner {
		if c == '\\' {
			var s string
			if json.Unmarshal(v, &s) != nil {
				return string(inner)
			}
			return s
		}
	}
	return string(inner)
}

// hasLoneSurrogate says whether the JSON string v escapes half of a UTF-16
// surrogate pair without the other half, which decodes to U+FFFD and so
// would make two different inputs the same string.
func hasLoneSurrogate(v []byte) bool {
	for i := 0; i < len(v); i++ {
		if v[i] != '\\' {
			continue
		}
		i++
		if i+4 >= len(v) || v[i] != 'u' {
			continue
		}
		r := hexRune(v[i+1 : i+5])
		i += 4
		switch {
		case 0xD800 <= r && r < 0xDC00:
			if i+6 < len(v) && v[i+1] == '\\' && v[i+2] == 'u' {
				if r2 := hexRune(v[i+3 : i+7]); 0xDC00 <= r2 && r2 < 0xE000 {
					i += 6
					continue
				}
			}
			return true
		case 0xDC00 <= r && r < 0xE000:
			return true
		}
	}
	return false
}

func hexRune(h []byte) rune {
	var r rune
	for _, c := range h {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}

// measureJSON returns the compacted size of the value v and how deeply it nests.
func measureJSON(v []byte) (size, depth int) {
	level := 0
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case ' ', '\t', '\n', '\r':
			continue
		case '"':
			end := jsonStringEnd(v, i)
			size += end - i
			i = end - 1
			continue
		case '{', '[':
			level++
			depth = max(depth, level)
		case '}', ']':
			level--
		}
		size++
	}
	return size, depth
}

// appendCompactJSON appends the value v to b without insignificant space.
func appendCompactJSON(b, v []byte) []byte {
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case ' ', '\t', '\n', '\r':
			continue
		case '"':
			end := jsonStringEnd(v, i)
			b = append(b, v[i:end]...)
			i = end - 1
			continue
		}
		b = append(b, v[i])
	}
	return b
}
