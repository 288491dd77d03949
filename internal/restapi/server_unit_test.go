package restapi

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kubefake "k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

// fakeReviews answers TokenReviews for the token "good" (user
// system:serviceaccount:ou-a:tool) and SubjectAccessReviews with allowed
// in ou-a only, counting the calls.
func fakeReviews(t *testing.T) (*kubefake.Clientset, *atomic.Int32, *atomic.Int32) {
	t.Helper()
	cs := kubefake.NewClientset()
	var tokenReviews, accessReviews atomic.Int32
	cs.PrependReactor("create", "tokenreviews", func(a clienttesting.Action) (bool, runtime.Object, error) {
		tokenReviews.Add(1)
		tr := a.(clienttesting.CreateAction).GetObject().(*authenticationv1.TokenReview).DeepCopy()
		if tr.Spec.Token == "good" {
			tr.Status = authenticationv1.TokenReviewStatus{Authenticated: true,
				User: authenticationv1.UserInfo{Username: "system:serviceaccount:ou-a:tool"}}
		}
		return true, tr, nil
	})
	cs.PrependReactor("create", "subjectaccessreviews", func(a clienttesting.Action) (bool, runtime.Object, error) {
		accessReviews.Add(1)
		sar := a.(clienttesting.CreateAction).GetObject().(*authorizationv1.SubjectAccessReview).DeepCopy()
		sar.Status.Allowed = sar.Spec.ResourceAttributes.Namespace == "ou-a"
		return true, sar, nil
	})
	return cs, &tokenReviews, &accessReviews
}

func newFakeServer(t *testing.T, routes ...Route) (*Server, *atomic.Int32, *atomic.Int32) {
	t.Helper()
	cs, tr, sar := fakeReviews(t)
	c := fake.NewClientBuilder().Build()
	s, err := New(Options{
		Cache: c, APIReader: c, Writer: c,
		TokenReviews: cs.AuthenticationV1(), SubjectAccessReviews: cs.AuthorizationV1(),
		Routes: routes,
	})
	if err != nil {
		t.Fatal(err)
	}
	return s, tr, sar
}

func TestNewNeedsItsClients(t *testing.T) {
	if _, err := New(Options{}); err == nil {
		t.Error("New accepted options without clients")
	}
}

func TestNewRefusesARouteWithoutAMethod(t *testing.T) {
	cs, _, _ := fakeReviews(t)
	c := fake.NewClientBuilder().Build()
	_, err := New(Options{Cache: c, APIReader: c, Writer: c,
		TokenReviews: cs.AuthenticationV1(), SubjectAccessReviews: cs.AuthorizationV1(),
		Routes: []Route{{Pattern: "/x", Verb: "get", Handler: http.NotFoundHandler()}}})
	if err == nil {
		t.Error("New accepted a route without a method")
	}
}

// Extra routes are served behind the same checks, with the caller in the
// context, and review answers are reused.
func TestExtraRouteAndReviewCaching(t *testing.T) {
	var seen Caller
	s, tokenReviews, accessReviews := newFakeServer(t, Route{
		Pattern: "POST /triggers/{id}/simulate",
		Verb:    "get",
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			seen, _ = CallerFrom(r.Context())
			WriteJSON(w, http.StatusOK, map[string]bool{"would_fire": true})
		}),
	})
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	call := func(method, path, token, ou string) int {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader("{}"))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if ou != "" {
			req.Header.Set(OUHeader, ou)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	for range 3 {
		if got := call(http.MethodPost, "/triggers/trigger-1/simulate", "good", ""); got != http.StatusOK {
			t.Fatalf("simulate = %d", got)
		}
	}
	if seen.OU != "ou-a" || seen.User.Username != "system:serviceaccount:ou-a:tool" {
		t.Errorf("caller = %+v", seen)
	}
	if tokenReviews.Load() != 1 || accessReviews.Load() != 1 {
		t.Errorf("%d TokenReviews and %d SubjectAccessReviews for three calls, want 1 and 1", tokenReviews.Load(), accessReviews.Load())
	}
	if got := call(http.MethodPost, "/triggers/trigger-1/simulate", "good", "ou-b"); got != http.StatusForbidden {
		t.Errorf("simulate in another OU = %d", got)
	}
	if got := call(http.MethodGet, "/triggers/trigger-1/simulate", "good", ""); got != http.StatusMethodNotAllowed {
		t.Errorf("GET simulate = %d", got)
	}
	for range 2 {
		if got := call(http.MethodPost, "/triggers/trigger-1/simulate", "bad", ""); got != http.StatusUnauthorized {
			t.Errorf("bad token = %d", got)
		}
	}
	if tokenReviews.Load() != 2 {
		t.Errorf("%d TokenReviews, want 2 (a refusal is cached too)", tokenReviews.Load())
	}
}

func TestPanicsAreServerFaults(t *testing.T) {
	s, _, _ := newFakeServer(t, Route{
		Pattern: "GET /boom", Verb: "get",
		Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }),
	})
	req := httptest.NewRequest(http.MethodGet, "/boom", nil)
	req.Header.Set("Authorization", "Bearer good")
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusInternalServerError || !strings.Contains(rec.Body.String(), `"status":500`) {
		t.Errorf("panic answered %d %s", rec.Code, rec.Body)
	}
	if strings.Contains(rec.Body.String(), "boom") {
		t.Errorf("the panic's value reached the client: %s", rec.Body)
	}
}

// A body without a Content-Length is cut at the limit too.
func TestReadBodyLimitsChunkedBodies(t *testing.T) {
	const limit = 16
	for _, tc := range []struct {
		body   string
		status int
	}{
		{strings.Repeat("a", limit), 0},
		{strings.Repeat("a", limit+1), http.StatusRequestEntityTooLarge},
	} {
		req := httptest.NewRequest(http.MethodPost, "/triggers", io.NopCloser(bytes.NewBufferString(tc.body)))
		req.ContentLength = -1
		_, err := readBody(httptest.NewRecorder(), req, limit, mediaJSON)
		status := 0
		if err != nil {
			status = asError(err).Status
		}
		if status != tc.status {
			t.Errorf("%d bytes: status %d, want %d", len(tc.body), status, tc.status)
		}
	}
}
