package restapi

import (
	"encoding/json"
	"reflect"
	"testing"
)

func mustParse(t testing.TB, s string) any {
	t.Helper()
	v, err := parseJSON([]byte(s))
	if err != nil {
		t.Fatalf("parsing %s: %v", s, err)
	}
	return v
}

// The examples of RFC 7386, appendix A.
func TestMergePatchRFC7386(t *testing.T) {
	for _, tc := range []struct{ target, patch, want string }{
		{`{"a":"b"}`, `{"a":"c"}`, `{"a":"c"}`},
		{`{"a":"b"}`, `{"b":"c"}`, `{"a":"b","b":"c"}`},
		{`{"a":"b"}`, `{"a":null}`, `{}`},
		{`{"a":"b","b":"c"}`, `{"a":null}`, `{"b":"c"}`},
		{`{"a":["b"]}`, `{"a":"c"}`, `{"a":"c"}`},
		{`{"a":"c"}`, `{"a":["b"]}`, `{"a":["b"]}`},
		{`{"a":{"b":"c"}}`, `{"a":{"b":"d","c":null}}`, `{"a":{"b":"d"}}`},
		{`{"a":[{"b":"c"}]}`, `{"a":[1]}`, `{"a":[1]}`},
		{`["a","b"]`, `["c","d"]`, `["c","d"]`},
		{`{"a":"b"}`, `["c"]`, `["c"]`},
		{`{"a":"foo"}`, `null`, `null`},
		{`{"a":"foo"}`, `"bar"`, `"bar"`},
		{`{"e":null}`, `{"a":1}`, `{"e":null,"a":1}`},
		{`[1,2]`, `{"a":"b","c":null}`, `{"a":"b"}`},
		{`{}`, `{"a":{"bb":{"ccc":null}}}`, `{"a":{"bb":{}}}`},
	} {
		target, patch, want := mustParse(t, tc.target), mustParse(t, tc.patch), mustParse(t, tc.want)
		targetBefore, _ := json.Marshal(target)
		got := mergePatch(target, patch)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("merge %s into %s = %v, want %s", tc.patch, tc.target, got, tc.want)
		}
		if after, _ := json.Marshal(target); string(after) != string(targetBefore) {
			t.Errorf("merge %s modified the target %s", tc.patch, tc.target)
		}
	}
}

// FuzzMergePatch checks that applying a merge patch never panics, leaves
// its inputs alone, and is idempotent, as RFC 7386 patches are.
func FuzzMergePatch(f *testing.F) {
	f.Add([]byte(`{"a":{"b":"c"}}`), []byte(`{"a":{"b":"d","c":null}}`))
	f.Add([]byte(`{"name":"n","score_threshold":1,"emails":["a@example.com"]}`), []byte(`{"emails":null,"active":false}`))
	f.Add([]byte(`[1,2]`), []byte(`{"a":{"b":null}}`))
	f.Add([]byte(`{}`), []byte(`null`))
	f.Fuzz(func(t *testing.T, targetJSON, patchJSON []byte) {
		target, err := parseJSON(targetJSON)
		if err != nil {
			return
		}
		patch, err := parseJSON(patchJSON)
		if err != nil {
			return
		}
		targetBefore, _ := json.Marshal(target)
		patchBefore, _ := json.Marshal(patch)
		once := mergePatch(target, patch)
		twice := mergePatch(once, patch)
		if !reflect.DeepEqual(once, twice) {
			t.Fatalf("not idempotent: %v then %v", once, twice)
		}
		if after, _ := json.Marshal(target); string(after) != string(targetBefore) {
			t.Fatalf("target modified")
		}
		if after, _ := json.Marshal(patch); string(after) != string(patchBefore) {
			t.Fatalf("patch modified")
		}
		if _, err := json.Marshal(once); err != nil {
			t.Fatalf("result does not marshal: %v", err)
		}
	})
}
