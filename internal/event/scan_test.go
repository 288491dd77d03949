package event

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"testing"
	"unicode/utf8"
)

// FuzzJSONScanner checks the codec's JSON scanning against encoding/json
// on every valid JSON input: value ends, members, elements, compaction and
// depth.
func FuzzJSONScanner(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Add([]byte(` { "a" : [ 1 , { "b" : "\\\"}" } ] , "c\u0022" : -0.5e+3 } `))
	f.Fuzz(func(t *testing.T, data []byte) {
		if !json.Valid(data) {
			return
		}
		v := trimJSONSpace(data)
		if end := jsonValueEnd(v, 0); end != len(v) {
			t.Fatalf("value ends at %d, want %d", end, len(v))
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, v); err != nil {
			t.Fatal(err)
		}
		if got := appendCompactJSON(nil, v); !bytes.Equal(got, compact.Bytes()) {
			t.Fatalf("compacted to %q, want %q", got, compact.Bytes())
		}
		size, depth := measureJSON(v)
		if size != compact.Len() {
			t.Fatalf("compacted size %d, want %d", size, compact.Len())
		}
		dec := json.NewDecoder(bytes.NewReader(v))
		dec.UseNumber()
		level, wantDepth := 0, 0
		for {
			tok, err := dec.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			switch tok {
			case json.Delim('{'), json.Delim('['):
				level++
				wantDepth = max(wantDepth, level)
			case json.Delim('}'), json.Delim(']'):
				level--
			}
		}
		if depth != wantDepth {
			t.Fatalf("depth %d, want %d", depth, wantDepth)
		}

		// Members and elements, as json.Decoder sees them.
		type member struct {
			key string
			val string
		}
		var want []member
		dec = json.NewDecoder(bytes.NewReader(v))
		dec.UseNumber()
		if _, err := dec.Token(); err != nil {
			t.Fatal(err)
		}
		for dec.More() && v[0] == '{' {
			key, err := dec.Token()
			if err != nil {
				t.Fatal(err)
			}
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				t.Fatal(err)
			}
			want = append(want, member{key.(string), string(trimJSONSpace(raw))})
		}
		for dec.More() && v[0] == '[' {
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				t.Fatal(err)
			}
			want = append(want, member{"", string(trimJSONSpace(raw))})
		}
		var got []member
		switch v[0] {
		case '{':
			for key, val := range jsonMembers(v) {
				got = append(got, member{jsonUnquote(key), string(val)})
			}
			if !utf8.Valid(v) {
				// json.Decoder replaces invalid UTF-8 in names.
				for i := range got {
					got[i].key = want[i].key
				}
			}
		case '[':
			for val := range jsonElements(v) {
				got = append(got, member{"", string(val)})
			}
		}
		if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", want) {
			t.Fatalf("members\n%q\nwant\n%q", got, want)
		}
	})
}
