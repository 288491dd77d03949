package restapi

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/leadvibe/milestone-triggers-operator/internal/metrics"
	"github.com/leadvibe/milestone-triggers-operator/internal/metrics/metricstest"
)

// Requests are counted by the mux pattern that served them and their
// status, never by their raw path.
func TestRequestMetricsUseTheRoutePattern(t *testing.T) {
	s, _, _ := newFakeServer(t,
		Route{Pattern: "GET /things/{id}", Verb: "get", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			WriteJSON(w, http.StatusOK, map[string]string{"id": r.PathValue("id")})
		})},
		Route{Pattern: "GET /quiet", Verb: "get", Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})},
		Route{Pattern: "GET /boom", Verb: "get", Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") })},
	)
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	call := func(method, path, token string) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
	}
	count := func(route, code string) float64 {
		return metricstest.Value(t, metrics.RESTRequests.WithLabelValues(route, code))
	}
	durations := func(route string) uint64 {
		n, _ := metricstest.Histogram(t, metrics.RESTDuration.WithLabelValues(route))
		return n
	}

	want := []struct {
		route, code string
		n           float64
	}{
		{"GET /things/{id}", "200", 3},
		{"GET /things/{id}", "401", 1},
		{"GET /quiet", "200", 1},
		{"GET /boom", "500", 1},
		{"/things/{id}", "405", 1},
		{"/", "404", 1},
	}
	before := make([]float64, len(want))
	for i, w := range want {
		before[i] = count(w.route, w.code)
	}
	thingDurations := durations("GET /things/{id}")

	call(http.MethodGet, "/things/a", "good")
	call(http.MethodGet, "/things/b", "good")
	call(http.MethodGet, "/things/c", "good")
	call(http.MethodGet, "/things/a", "")
	call(http.MethodGet, "/quiet", "good") // writes nothing: a 200
	call(http.MethodGet, "/boom", "good")
	call(http.MethodDelete, "/things/a", "good")
	call(http.MethodGet, "/no/such/thing-42", "good")

	for i, w := range want {
		if got := count(w.route, w.code) - before[i]; got != w.n {
			t.Errorf("requests{route=%q,code=%s} moved by %v, want %v", w.route, w.code, got, w.n)
		}
	}
	if got := durations("GET /things/{id}") - thingDurations; got != 4 {
		t.Errorf("%d durations observed for GET /things/{id}, want 4", got)
	}

	// No series is labelled with a path the client chose.
	families, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if !strings.HasPrefix(f.GetName(), "milestone_triggers_rest_") {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "route" && (strings.Contains(l.GetValue(), "/things/a") || strings.Contains(l.GetValue(), "thing-42")) {
					t.Errorf("%s has a raw path as its route: %q", f.GetName(), l.GetValue())
				}
			}
		}
	}
}

// The route is read from the request the mux saw, after it routed it: a
// CONNECT, whose redirect the mux reports with the requested path as the
// pattern, and a request no pattern matched count as unmatched.
func TestRouteLabel(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /triggers/{id}", func(http.ResponseWriter, *http.Request) {})
	mux.HandleFunc("/things/{id}/", func(http.ResponseWriter, *http.Request) {})
	for _, tc := range []struct{ method, target, want string }{
		{http.MethodGet, "/triggers/t-1", "GET /triggers/{id}"},
		{http.MethodGet, "/elsewhere", metrics.UnmatchedRoute},
		{http.MethodConnect, "/things/x-42", metrics.UnmatchedRoute}, // the mux's pattern: "/things/x-42/"
	} {
		r := httptest.NewRequest(tc.method, tc.target, nil)
		mux.ServeHTTP(httptest.NewRecorder(), r)
		if got := routeLabel(r); got != tc.want {
			t.Errorf("%s %s: route %q, want %q (pattern %q)", tc.method, tc.target, got, tc.want, r.Pattern)
		}
	}
}
