package restapi

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// handlerFunc serves an authenticated and authorized call and returns the
// error to write, if any.
type handlerFunc func(w http.ResponseWriter, r *http.Request, c Caller) error

// routes builds the shim's mux: the /triggers routes, the extra routes of
// Options.Routes, the OpenAPI document (unauthenticated), a JSON 405 for
// every known path asked with another method, and a JSON 404 for every
// other path.
func (s *Server) routes() (*http.ServeMux, error) {
	mux := http.NewServeMux()
	own := []struct {
		pattern, verb string
		h             handlerFunc
	}{
		{"GET /triggers", "list", s.listTriggers},
		{"POST /triggers", "create", s.createTrigger},
		{"GET /triggers/{id}", "get", s.getTrigger},
		{"PUT /triggers/{id}", "update", s.replaceTrigger},
		{"PATCH /triggers/{id}", "patch", s.patchTrigger},
		{"DELETE /triggers/{id}", "delete", s.deleteTrigger},
	}
	allowed := map[string][]string{} // path -> methods
	var paths []string
	add := func(pattern string, h http.Handler) error {
		method, path, ok := strings.Cut(pattern, " ")
		if !ok || method == "" || !strings.HasPrefix(path, "/") {
			return fmt.Errorf("restapi: route %q: want a pattern such as \"GET /path\"", pattern)
		}
		if _, seen := allowed[path]; !seen {
			paths = append(paths, path)
		}
		allowed[path] = append(allowed[path], method)
		mux.Handle(pattern, h)
		return nil
	}
	for _, rt := range own {
		h := rt.h
		if err := add(rt.pattern, s.protect(rt.verb, resourceName, "", func(w http.ResponseWriter, r *http.Request, c Caller) {
			if err := h(w, r, c); err != nil {
				WriteError(w, err)
			}
		})); err != nil {
			return nil, err
		}
	}
	for _, rt := range s.opts.Routes {
		if rt.Verb == "" || rt.Handler == nil {
			return nil, fmt.Errorf("restapi: route %q needs a verb and a handler", rt.Pattern)
		}
		resource := rt.Resource
		if resource == "" {
			resource = resourceName
		}
		h := rt.Handler
		if err := add(rt.Pattern, s.protect(rt.Verb, resource, rt.Subresource, func(w http.ResponseWriter, r *http.Request, _ Caller) {
			h.ServeHTTP(w, r)
		})); err != nil {
			return nil, err
		}
	}
	if err := add(openAPIPattern, http.HandlerFunc(serveOpenAPI)); err != nil {
		return nil, err
	}
	for _, path := range paths {
		methods := allowed[path]
		if slices.Contains(methods, http.MethodGet) && !slices.Contains(methods, http.MethodHead) {
			methods = append(methods, http.MethodHead)
		}
		allow := strings.Join(methods, ", ")
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allow)
			WriteError(w, newError(http.StatusMethodNotAllowed, fmt.Sprintf("method %s is not allowed on %s; allowed: %s", r.Method, path, allow)))
		})
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, newError(http.StatusNotFound, "no such endpoint"))
	})
	return mux, nil
}

// protect authenticates the caller (TokenReview), resolves the OU and
// authorizes verb on resource in it (SubjectAccessReview) before calling
// h. The {id} path wildcard, when there is one, names the object
// authorized.
func (s *Server) protect(verb, resource, subresource string, h func(http.ResponseWriter, *http.Request, Caller)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		user, err := s.authn.authenticate(ctx, r.Header.Get("Authorization"))
		if err != nil {
			WriteError(w, err)
			return
		}
		ou, e := resolveOU(r.Header, user)
		if e != nil {
			WriteError(w, e)
			return
		}
		if rec, ok := w.(*statusRecorder); ok {
			rec.ou, rec.user = ou, user.Username
		}
		acc := access{ou: ou, verb: verb, resource: resource, subresource: subresource, name: r.PathValue("id")}
		if err := s.authz.authorize(ctx, user, acc); err != nil {
			WriteError(w, err)
			return
		}
		c := Caller{User: user, OU: ou}
		h(w, r.WithContext(withCaller(ctx, c)), c)
	})
}
