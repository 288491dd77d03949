package restapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"unicode/utf8"
)

const (
	// maxJSONDepth bounds the nesting of a request body; a trigger nests
	// three levels deep.
	maxJSONDepth = 32
	// maxFieldErrors bounds the field errors of one response.
	maxFieldErrors = 20
	// maxFieldNameBytes bounds how much of an unknown field's name an error
	// repeats.
	maxFieldNameBytes = 64
)

// parseJSON parses exactly one JSON value, strictly: an object may not
// repeat a key, nothing but white space may follow the value, and values
// nest at most maxJSONDepth deep. Objects become map[string]any, arrays
// []any, numbers json.Number (so that integers keep every digit), and the
// rest string, bool or nil. Every string, keys included, must be valid
// UTF-8 in the body's own bytes: encoding/json would silently turn invalid
// bytes into U+FFFD. Errors are 400s.
func parseJSON(data []byte) (any, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, newError(http.StatusBadRequest, "request body is empty: want a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	p := &jsonParser{dec: dec, data: data}
	v, err := p.value("", 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, newError(http.StatusBadRequest, "request body is not valid JSON: unexpected data after the JSON value")
	}
	return v, nil
}

type jsonParser struct {
	dec  *json.Decoder
	data []byte
}

// token reads the next token. A string must be valid UTF-8 as sent; path
// and msg make the error.
func (p *jsonParser) token(path, msg string) (json.Token, error) {
	start := p.dec.InputOffset()
	tok, err := p.dec.Token()
	if err != nil {
		return nil, syntaxError(err)
	}
	if _, ok := tok.(string); ok && !utf8.Valid(p.data[start:p.dec.InputOffset()]) {
		if path == "" {
			path = "body"
		}
		return nil, invalid("invalid request body", []FieldError{{Field: path, Message: msg}})
	}
	return tok, nil
}

func (p *jsonParser) value(path string, depth int) (any, error) {
	tok, err := p.token(path, "must be valid UTF-8")
	if err != nil {
		return nil, err
	}
	delim, ok := tok.(json.Delim)
	if !ok {
		return tok, nil
	}
	if depth >= maxJSONDepth {
		return nil, newError(http.StatusBadRequest, fmt.Sprintf("request body nests deeper than %d levels", maxJSONDepth))
	}
	switch delim {
	case '{':
		obj := map[string]any{}
		for p.dec.More() {
			tok, err := p.token(path, "field names must be valid UTF-8")
			if err != nil {
				return nil, err
			}
			key, ok := tok.(string)
			if !ok {
				return nil, newError(http.StatusBadRequest, "request body is not valid JSON: object key is not a string")
			}
			child := joinPath(path, key)
			if _, dup := obj[key]; dup {
				return nil, invalid("invalid request body", []FieldError{{Field: child, Message: "duplicate field"}})
			}
			v, err := p.value(child, depth+1)
			if err != nil {
				return nil, err
			}
			obj[key] = v
		}
		if _, err := p.dec.Token(); err != nil { // '}'
			return nil, syntaxError(err)
		}
		return obj, nil
	case '[':
		arr := []any{}
		for p.dec.More() {
			v, err := p.value(path+"["+strconv.Itoa(len(arr))+"]", depth+1)
			if err != nil {
				return nil, err
			}
			arr = append(arr, v)
		}
		if _, err := p.dec.Token(); err != nil { // ']'
			return nil, syntaxError(err)
		}
		return arr, nil
	default:
		return nil, newError(http.StatusBadRequest, "request body is not valid JSON: unexpected "+delim.String())
	}
}

// syntaxError describes malformed JSON without repeating the body.
func syntaxError(err error) *Error {
	var se *json.SyntaxError
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return newError(http.StatusBadRequest, "request body is not valid JSON: unexpected end of input")
	case errors.As(err, &se):
		return newError(http.StatusBadRequest, fmt.Sprintf("request body is not valid JSON: %s (at byte %d)", se.Error(), se.Offset))
	default:
		return newError(http.StatusBadRequest, "request body is not valid JSON")
	}
}

// joinPath names a field of an object at path, shortening names too long
// to repeat in an error.
func joinPath(path, key string) string {
	if len(key) > maxFieldNameBytes {
		key = string([]rune(key[:maxFieldNameBytes])) + "..."
	}
	if path == "" {
		return key
	}
	return path + "." + key
}
