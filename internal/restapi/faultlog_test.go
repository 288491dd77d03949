package restapi

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/go-logr/logr/funcr"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

// TestEveryFiveHundredIsLogged: an extension route that answers a server
// fault with WriteError gets it logged with its cause by the middleware,
// which the caller never sees; a 4xx is not logged as a failure.
func TestEveryFiveHundredIsLogged(t *testing.T) {
	var mu sync.Mutex
	var lines []string
	logger := funcr.New(func(prefix, args string) {
		mu.Lock()
		defer mu.Unlock()
		lines = append(lines, args)
	}, funcr.Options{Verbosity: 0})
	cs, _, _ := fakeReviews(t)
	c := fake.NewClientBuilder().Build()
	fail := Route{Pattern: "GET /boom", Verb: "get", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, internalError(errors.New("the disk caught fire")))
	})}
	refuse := Route{Pattern: "GET /nope", Verb: "get", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, newError(http.StatusConflict, "no"))
	})}
	s, err := New(Options{
		Cache: c, APIReader: c, Writer: c, Logger: logger,
		TokenReviews: cs.AuthenticationV1(), SubjectAccessReviews: cs.AuthorizationV1(),
		Routes: []Route{fail, refuse},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/boom", "/nope"} {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.Header.Set("Authorization", "Bearer good")
		req.Header.Set(OUHeader, "ou-a")
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		if path == "/boom" && (rec.Code != 500 || strings.Contains(rec.Body.String(), "fire")) {
			t.Fatalf("/boom: %d %s, want a 500 that does not tell the cause", rec.Code, rec.Body)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	all := strings.Join(lines, "\n")
	if !strings.Contains(all, `"msg"="Request failed"`) || !strings.Contains(all, "the disk caught fire") || !strings.Contains(all, `"path"="/boom"`) {
		t.Errorf("the 500 of an extension route was not logged with its cause; logs:\n%s", all)
	}
	if strings.Count(all, "Request failed") != 1 {
		t.Errorf("want exactly one failure logged (the 500, not the 409); logs:\n%s", all)
	}
}
