package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParseJSONAccepts(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want any
	}{
		{` {"a" : [1, "x", true, false, null, {"b": -0.5e3}], "c": {}} `,
			map[string]any{"a": []any{json.Number("1"), "x", true, false, nil, map[string]any{"b": json.Number("-0.5e3")}}, "c": map[string]any{}}},
		{`123456789012345678901234567890`, json.Number("123456789012345678901234567890")},
		{`[]`, []any{}},
		{`null`, nil},
		{`"caf\u00e9 🔥 \"q\""`, `café 🔥 "q"`},
		{`"\ud800"`, "\ufffd"},
		{`{"a":{"a":{"a":1}},"b":[[2]]}`,
			map[string]any{"a": map[string]any{"a": map[string]any{"a": json.Number("1")}}, "b": []any{[]any{json.Number("2")}}}},
	} {
		got, err := ParseJSON([]byte(tc.in), 3)
		if err != nil {
			t.Errorf("ParseJSON(%s): %v", tc.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseJSON(%s) = %#v, want %#v", tc.in, got, tc.want)
		}
	}
}

func TestParseJSONRejects(t *testing.T) {
	long := strings.Repeat("n", 100)
	for _, tc := range []struct {
		name, in string
		want     FieldError
	}{
		{"empty", ``, FieldError{"", ReasonInvalidJSON, "invalid JSON at byte offset 0: unexpected end of JSON input"}},
		{"truncated", `{"a":[1`, FieldError{"", ReasonInvalidJSON, "invalid JSON at byte offset 7: unexpected end of JSON input"}},
		{"syntax", `{"a":}`, FieldError{"", ReasonInvalidJSON, "invalid JSON at byte offset 6: invalid character '}' looking for beginning of value"}},
		{"trailing data", `{} {}`, FieldError{"", ReasonInvalidJSON, "invalid JSON at byte offset 4: invalid character '{' after top-level value"}},
		{"two numbers", `1 2`, FieldError{"", ReasonInvalidJSON, "invalid JSON at byte offset 3: invalid character '2' after top-level value"}},
		{"too deep", `{"a":[[{}]]}`, FieldError{"", ReasonTooLarge, "nests deeper than 3 levels"}},
		{"duplicate", `{"a":1,"b":2,"a":3}`, FieldError{"a", ReasonDuplicateField, "duplicate field"}},
		{"duplicate by escape", `{"a":1,"\u0061":2}`, FieldError{"a", ReasonDuplicateField, "duplicate field"}},
		{"nested duplicate", `{"x":[0,{"a":1,"a":null}]}`, FieldError{"x[1].a", ReasonDuplicateField, "duplicate field"}},
		{"long duplicate name is cut", `{"` + long + `":1,"` + long + `":2}`, FieldError{strings.Repeat("n", 64) + "…", ReasonDuplicateField, "duplicate field"}},
		{"invalid UTF-8", "\"a\xff\"", FieldError{"", ReasonInvalidValue, "must be valid UTF-8"}},
		{"invalid UTF-8 in an element", "{\"a\":[\"ok\",\"\xc3\"]}", FieldError{"a[1]", ReasonInvalidValue, "must be valid UTF-8"}},
		{"invalid UTF-8 in a name", "{\"a\":{\"\xed\xa0\x80\":1}}", FieldError{"a", ReasonInvalidValue, "field names must be valid UTF-8"}},
		{"invalid UTF-8 in a top-level name", "{\"\xff\":1}", FieldError{"", ReasonInvalidValue, "field names must be valid UTF-8"}},
		{"the first problem", "{\"a\":\"\xff\",\"a\":1}", FieldError{"a", ReasonInvalidValue, "must be valid UTF-8"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseJSON([]byte(tc.in), 3)
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v (%T) is not a *FieldError", err, err)
			}
			if *fe != tc.want {
				t.Fatalf("error %#v, want %#v", *fe, tc.want)
			}
		})
	}
}

func TestPaths(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{MemberPath("", "name"), "name"},
		{MemberPath("slack", "webhook_url"), "slack.webhook_url"},
		{MemberPath("", ""), ""},
		{MemberPath("a", strings.Repeat("é", 40)), "a." + strings.Repeat("é", 32) + "…"},
		{ElementPath("emails", 1), "emails[1]"},
		{ElementPath(ElementPath("", 0), 2), "[0][2]"},
	} {
		if tc.got != tc.want {
			t.Errorf("path %q, want %q", tc.got, tc.want)
		}
	}
}

// FuzzParseJSON checks ParseJSON against a parser built on json.Decoder's
// tokens under the same rules: on valid JSON both find the same tree or the
// same first problem; invalid JSON is ReasonInvalidJSON; an accepted tree
// survives json.Marshal and a second parse.
func FuzzParseJSON(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	for _, s := range []string{
		`{"a":{"b":[1,{"c":"d"}]},"a":2}`, `{"a":1,"\u0061":2}`, "{\"a\":[\"\xff\"]}", "{\"\xff\":1}",
		`[[[[]]]]`, `{"a":[{"b":{"c":{}}}]}`, `1 2`, ``, ` `, `"\ud800\udc00"`, `-0.0e-0`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, maxDepth := range []int{3, 32} {
			got, err := ParseJSON(data, maxDepth)
			var gotErr *FieldError
			if err != nil && !errors.As(err, &gotErr) {
				t.Fatalf("error %v (%T) is not a *FieldError", err, err)
			}
			if !json.Valid(data) {
				if gotErr == nil || gotErr.Code != ReasonInvalidJSON || gotErr.Field != "" {
					t.Fatalf("ParseJSON(%q) of invalid JSON = %v, %v", data, got, err)
				}
				continue
			}
			want, wantErr := tokenTree(data, maxDepth)
			switch {
			case wantErr != nil && gotErr == nil:
				t.Fatalf("ParseJSON(%q) accepted %#v, want %v", data, got, wantErr)
			case wantErr != nil && *gotErr != *wantErr:
				t.Fatalf("ParseJSON(%q): %#v, want %#v", data, *gotErr, *wantErr)
			case wantErr != nil:
				continue
			case gotErr != nil:
				t.Fatalf("ParseJSON(%q): %v, want %#v", data, err, want)
			case !reflect.DeepEqual(got, want):
				t.Fatalf("ParseJSON(%q) = %#v, want %#v", data, got, want)
			}
			out, err := json.Marshal(got)
			if err != nil {
				t.Fatalf("marshalling %#v: %v", got, err)
			}
			again, err := ParseJSON(out, maxDepth)
			if err != nil || !reflect.DeepEqual(again, got) {
				t.Fatalf("ParseJSON(json.Marshal(%#v)) = %#v, %v", got, again, err)
			}
		}
	})
}

// tokenTree parses the valid JSON data as ParseJSON does, from
// json.Decoder's tokens, checking the bytes of each string token.
func tokenTree(data []byte, maxDepth int) (any, *FieldError) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	token := func(path, msg string) (json.Token, *FieldError) {
		start := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			return nil, &FieldError{Code: ReasonInvalidJSON, Message: err.Error()}
		}
		if _, ok := tok.(string); ok && !utf8.Valid(data[start:dec.InputOffset()]) {
			return nil, &FieldError{Field: path, Code: ReasonInvalidValue, Message: msg}
		}
		return tok, nil
	}
	var value func(path string, depth int) (any, *FieldError)
	value = func(path string, depth int) (any, *FieldError) {
		tok, fe := token(path, "must be valid UTF-8")
		if fe != nil {
			return nil, fe
		}
		delim, ok := tok.(json.Delim)
		if !ok {
			return tok, nil
		}
		if depth > maxDepth {
			return nil, &FieldError{Code: ReasonTooLarge, Message: fmt.Sprintf("nests deeper than %d levels", maxDepth)}
		}
		if delim == '{' {
			obj := map[string]any{}
			for dec.More() {
				tok, fe := token(path, "field names must be valid UTF-8")
				if fe != nil {
					return nil, fe
				}
				key := tok.(string)
				member := MemberPath(path, key)
				if _, dup := obj[key]; dup {
					return nil, &FieldError{Field: member, Code: ReasonDuplicateField, Message: "duplicate field"}
				}
				v, fe := value(member, depth+1)
				if fe != nil {
					return nil, fe
				}
				obj[key] = v
			}
			_, _ = dec.Token()
			return obj, nil
		}
		arr := []any{}
		for dec.More() {
			v, fe := value(ElementPath(path, len(arr)), depth+1)
			if fe != nil {
				return nil, fe
			}
			arr = append(arr, v)
		}
		_, _ = dec.Token()
		return arr, nil
	}
	v, fe := value("", 1)
	if fe != nil {
		return nil, fe
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, &FieldError{Code: ReasonInvalidJSON, Message: "data after the value"}
	}
	return v, nil
}
