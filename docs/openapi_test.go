package docs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// TestOpenAPIIsValid loads the document with kin-openapi and validates
// it, examples included, so that a broken document fails the tests.
func TestOpenAPIIsValid(t *testing.T) {
	doc, err := openapi3.NewLoader().LoadFromData(OpenAPI)
	if err != nil {
		t.Fatalf("loading docs/openapi.json: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("docs/openapi.json is not a valid OpenAPI document: %v", err)
	}
}

// TestOpenAPIIsTidy keeps the hand-written document in one layout (two
// spaces of indent, one final newline) and free of keys repeated in one
// object, which JSON decoders silently accept by keeping the last.
func TestOpenAPIIsTidy(t *testing.T) {
	var tidy bytes.Buffer
	if err := json.Indent(&tidy, bytes.TrimSpace(OpenAPI), "", "  "); err != nil {
		t.Fatalf("docs/openapi.json is not JSON: %v", err)
	}
	tidy.WriteByte('\n')
	if !bytes.Equal(tidy.Bytes(), OpenAPI) {
		t.Error("docs/openapi.json is not indented with two spaces; reformat it, for example with python3 -m json.tool --indent 2 --no-ensure-ascii")
	}
	if err := noRepeatedKeys(OpenAPI); err != nil {
		t.Errorf("docs/openapi.json: %v", err)
	}
}

// noRepeatedKeys reports the first key repeated in one object of data.
func noRepeatedKeys(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	// One entry per open object (its keys so far) or array (nil).
	var open []map[string]bool
	expectKey := false
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('{'):
			open = append(open, map[string]bool{})
			expectKey = true
			continue
		case json.Delim('['):
			open = append(open, nil)
			expectKey = false
			continue
		case json.Delim('}'), json.Delim(']'):
			open = open[:len(open)-1]
		default:
			if expectKey {
				key := tok.(string)
				if open[len(open)-1][key] {
					return fmt.Errorf("key %q repeated in one object, before byte %d", key, dec.InputOffset())
				}
				open[len(open)-1][key] = true
				expectKey = false
				continue
			}
		}
		// A value ended: in an object, a key comes next.
		expectKey = len(open) > 0 && open[len(open)-1] != nil
	}
}
