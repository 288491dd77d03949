package restapi

import (
	"bytes"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/leadvibe/milestone-triggers-operator/docs"
)

func TestServesTheOpenAPIDocumentWithoutAuthentication(t *testing.T) {
	s, tokenReviews, accessReviews := newFakeServer(t)
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, body %s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	if !bytes.Equal(body, docs.OpenAPI) {
		t.Error("the body is not docs/openapi.json")
	}
	if n, m := tokenReviews.Load(), accessReviews.Load(); n != 0 || m != 0 {
		t.Errorf("%d TokenReviews and %d SubjectAccessReviews, want none", n, m)
	}

	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/openapi.json", nil)
	req.Header.Set("If-None-Match", resp.Header.Get("ETag"))
	again, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	again.Body.Close()
	if again.StatusCode != http.StatusNotModified {
		t.Errorf("with the ETag: status %d, want 304", again.StatusCode)
	}

	post, err := http.Post(srv.URL+"/openapi.json", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	post.Body.Close()
	if post.StatusCode != http.StatusMethodNotAllowed || post.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST: status %d, Allow %q; want 405 and GET, HEAD", post.StatusCode, post.Header.Get("Allow"))
	}
}

// routePattern is an http.ServeMux pattern with a method, as the shim's
// routes are written.
var routePattern = regexp.MustCompile(`^(GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS) (/\S*)$`)

// servedRoutes returns the route patterns written in the package's source:
// the /triggers table of routes.go, the Route constructors (IngestRoute,
// HistoryRoutes and the rest) and openAPIPattern. Reading the source finds
// a route whoever adds it and wherever it is registered.
func servedRoutes(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if s, err := strconv.Unquote(lit.Value); err == nil && routePattern.MatchString(s) {
					out = append(out, s)
				}
			}
			return true
		})
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// documentedRoutes returns the operations of docs/openapi.json as
// patterns such as "GET /triggers/{id}".
func documentedRoutes(t *testing.T) []string {
	t.Helper()
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(docs.OpenAPI, &doc); err != nil {
		t.Fatal(err)
	}
	var out []string
	for path, item := range doc.Paths {
		for method := range item {
			switch method {
			case "get", "head", "post", "put", "patch", "delete", "options":
				out = append(out, strings.ToUpper(method)+" "+path)
			}
		}
	}
	slices.Sort(out)
	return out
}

// TestOpenAPIDocumentsEveryRoute keeps docs/openapi.json and the mux from
// drifting apart: every route the shim serves is documented, and every
// documented operation is served.
func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	served, documented := servedRoutes(t), documentedRoutes(t)

	// The source scan must see the routes registered by each mechanism.
	want := []string{"GET /triggers", "DELETE /triggers/{id}", openAPIPattern, IngestRoute(nil, nil).Pattern}
	for _, rt := range HistoryRoutes(nil) {
		want = append(want, rt.Pattern)
	}
	for _, p := range want {
		if !slices.Contains(served, p) {
			t.Fatalf("the scan of the package's source missed the route %q; it found %v", p, served)
		}
	}

	for _, p := range served {
		if !slices.Contains(documented, p) {
			t.Errorf("the shim serves %s, which docs/openapi.json does not document", p)
		}
	}
	for _, p := range documented {
		if !slices.Contains(served, p) {
			t.Errorf("docs/openapi.json documents %s, which the shim does not serve", p)
		}
	}
}
