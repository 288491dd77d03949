package restapi

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/go-logr/logr"
)

// middleware wraps the mux: a logger and a deadline in each request's
// context, panics turned into 500s, and one log line per request (V(1),
// and never the Authorization header or a body).
func (s *Server) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		ctx, cancel := context.WithTimeout(r.Context(), s.opts.RequestTimeout)
		defer cancel()
		reqLog := s.log.WithValues("method", r.Method, "path", r.URL.Path)
		r = r.WithContext(logr.NewContext(ctx, reqLog))

		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				reqLog.Error(fmt.Errorf("panic: %v", p), "Handler panicked")
				if !rec.wroteHeader {
					WriteError(rec, internalError(nil))
				}
			}
			reqLog.V(1).Info("Served request", "status", rec.status, "ou", rec.ou, "user", rec.user,
				"duration", time.Since(start).String())
		}()
		next.ServeHTTP(rec, r)
	})
}

// logFrom returns the request's logger.
func logFrom(r *http.Request) logr.Logger {
	return logr.FromContextOrDiscard(r.Context())
}

// statusRecorder remembers the status of a response, and the OU and user
// of the request once known, for the request log.
type statusRecorder struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
	ou, user    string
}

func (r *statusRecorder) WriteHeader(code int) {
	if !r.wroteHeader {
		r.status, r.wroteHeader = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if !r.wroteHeader {
		r.WriteHeader(http.StatusOK)
	}
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
