package restapi

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/go-logr/logr"

	"github.com/leadvibe/milestone-triggers-operator/internal/metrics"
)

// middleware wraps the mux: a logger, a deadline and the client's address
// (for the failed-authentication limiter: the connection's own, never a
// forwarded header a client could forge) in each request's context,
// panics turned into 500s, every 5xx logged with its cause whichever
// route answered it, one log line per request (V(1), and never the
// Authorization header or a body), and the request counted in the REST
// metrics by route pattern and status.
func (s *Server) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		ctx, cancel := context.WithTimeout(r.Context(), s.opts.RequestTimeout)
		defer cancel()
		reqLog := s.log.WithValues("method", r.Method, "path", r.URL.Path)
		r = r.WithContext(withClientAddr(logr.NewContext(ctx, reqLog), r.RemoteAddr))

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
			if !rec.wroteHeader {
				rec.status = http.StatusOK // a handler that wrote nothing: net/http sends a 200
			}
			logFailure(reqLog, rec.failure)
			elapsed := time.Since(start)
			metrics.RESTRequest(routeLabel(r), rec.status, elapsed)
			reqLog.V(1).Info("Served request", "status", rec.status, "ou", rec.ou, "user", rec.user,
				"duration", elapsed.String())
		}()
		next.ServeHTTP(rec, r)
	})
}

// routeLabel is the route of a served request for the metrics: the mux
// pattern that matched, which http.ServeMux sets on the very request it
// is given (r here, once next.ServeHTTP has run), never the raw path,
// which is unbounded. A request the mux did not match, and a CONNECT
// (whose redirect the mux reports with the requested path as its
// pattern), count as UnmatchedRoute.
func routeLabel(r *http.Request) string {
	if r.Pattern == "" || r.Method == http.MethodConnect {
		return metrics.UnmatchedRoute
	}
	return r.Pattern
}

// statusRecorder remembers the status of a response, and the OU and user
// of the request once known, for the request log.
type statusRecorder struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
	ou, user    string
	// failure is the error WriteError answered with, if any: the
	// middleware logs it, whatever route wrote it.
	failure *Error
}

// logFailure logs the server faults among the errors answered (with their
// cause, never sent), and the refusals the Kubernetes API gave a reason
// for.
func logFailure(log logr.Logger, e *Error) {
	switch {
	case e == nil:
	case e.Status >= 500:
		log.Error(e.cause, "Request failed", "status", e.Status, "message", e.Message)
	case e.cause != nil:
		log.Info("Request refused by the Kubernetes API", "status", e.Status, "error", e.cause.Error())
	}
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
