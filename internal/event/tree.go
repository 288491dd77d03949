package event

import (
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/leadvibe/milestone-triggers-operator/internal/text"
)

// ParseJSON parses data as exactly one JSON value, strictly: nothing but
// white space may surround it, an object may not repeat a name (names are
// compared unescaped), containers nest at most maxDepth levels deep (the
// outermost being level 1), and every string, names included, must be
// valid UTF-8 in data's own bytes (encoding/json would silently turn
// invalid bytes into U+FFFD). Escapes are decoded as encoding/json decodes
// them, so an escaped lone surrogate becomes U+FFFD.
//
// Objects become map[string]any, arrays []any, numbers json.Number (so that
// every digit is kept), and the rest string, bool or nil.
//
// The error is a *FieldError naming the first problem found:
// ReasonInvalidJSON for data that is not one JSON value (Field empty, the
// message saying where), ReasonTooLarge for nesting beyond maxDepth (Field
// empty), ReasonDuplicateField for a repeated name (Field the member), and
// ReasonInvalidValue for invalid UTF-8 (Field the string, or the object
// whose field name it is; empty for the value as a whole). Fields are named
// by MemberPath and ElementPath.
func ParseJSON(data []byte, maxDepth int) (any, error) {
	v, fe := checkJSON(data)
	if fe != nil {
		return nil, fe
	}
	tree, fe := treeOf(v, "", 1, maxDepth)
	if fe != nil {
		return nil, fe
	}
	return tree, nil
}

// treeOf returns the tree of the checked JSON value v at path, at nesting
// level depth. Its recursion is bounded by maxDepth.
func treeOf(v []byte, path string, depth, maxDepth int) (any, *FieldError) {
	switch v[0] {
	case '{', '[':
		if depth > maxDepth {
			return nil, &FieldError{Code: ReasonTooLarge, Message: fmt.Sprintf("nests deeper than %d levels", maxDepth)}
		}
	}
	switch v[0] {
	case '{':
		obj := map[string]any{}
		for rawKey, val := range jsonMembers(v) {
			if !utf8.Valid(rawKey) {
				return nil, &FieldError{Field: path, Code: ReasonInvalidValue, Message: "field names must be valid UTF-8"}
			}
			key := jsonUnquote(rawKey)
			member := MemberPath(path, key)
			if _, dup := obj[key]; dup {
				return nil, &FieldError{Field: member, Code: ReasonDuplicateField, Message: "duplicate field"}
			}
			x, fe := treeOf(val, member, depth+1, maxDepth)
			if fe != nil {
				return nil, fe
			}
			obj[key] = x
		}
		return obj, nil
	case '[':
		arr := []any{}
		for elem := range jsonElements(v) {
			x, fe := treeOf(elem, ElementPath(path, len(arr)), depth+1, maxDepth)
			if fe != nil {
				return nil, fe
			}
			arr = append(arr, x)
		}
		return arr, nil
	case '"':
		if !utf8.Valid(v) {
			return nil, &FieldError{Field: path, Code: ReasonInvalidValue, Message: "must be valid UTF-8"}
		}
		return jsonUnquote(v), nil
	case 't':
		return true, nil
	case 'f':
		return false, nil
	case 'n':
		return nil, nil
	}
	return json.Number(v), nil
}

// MemberPath names the field name of the object at path: "path.name", or
// "name" at the top. A name longer than 64 bytes is cut short (text.ClipBytes),
// so that an error never repeats a huge name.
func MemberPath(path, name string) string {
	name = text.ClipBytes(name, maxNameBytes)
	if path == "" {
		return name
	}
	return path + "." + name
}

// ElementPath names element i of the array at path: "path[i]".
func ElementPath(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}
