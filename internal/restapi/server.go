package restapi

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/go-logr/logr"
	authenticationv1client "k8s.io/client-go/kubernetes/typed/authentication/v1"
	authorizationv1client "k8s.io/client-go/kubernetes/typed/authorization/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/leadvibe/milestone-triggers-operator/internal/kubeauth"
)

// The RBAC the shim needs: it writes triggers with the operator's own
// identity, after checking the caller's rights with a SubjectAccessReview.
//
// +kubebuilder:rbac:groups=triggers.leadvibe.io,resources=milestonetriggers,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=authentication.k8s.io,resources=tokenreviews,verbs=create
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create

// Defaults of Options.
const (
	DefaultAddr              = ":8080"
	DefaultMaxBodyBytes      = 1 << 20
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultReadTimeout       = 30 * time.Second
	DefaultWriteTimeout      = 60 * time.Second
	DefaultIdleTimeout       = 120 * time.Second
	DefaultRequestTimeout    = 30 * time.Second
	DefaultShutdownTimeout   = 20 * time.Second
	DefaultCacheSyncTimeout  = 5 * time.Second
	DefaultAuthCacheTTL      = kubeauth.DefaultCacheTTL
	DefaultAuthCacheSize     = kubeauth.DefaultCacheSize
	maxHeaderBytes           = 64 << 10
)

// Options configure a Server. Cache, APIReader and Writer are required,
// and so are TokenReviews (or Authenticator) and SubjectAccessReviews (or
// Authorizer); zero values of the rest take the defaults above.
type Options struct {
	// Addr is the address the shim listens on, such as ":8080".
	Addr string
	// CertFile and KeyFile, when both set, make the shim serve HTTPS.
	CertFile, KeyFile string

	// Cache serves reads: the manager's cache (mgr.GetCache()) or cached
	// client (mgr.GetClient()).
	Cache client.Reader
	// APIReader reads straight from the API server, for read-modify-write
	// (mgr.GetAPIReader()).
	APIReader client.Reader
	// Writer creates, updates and deletes triggers (mgr.GetClient()).
	Writer client.Writer
	// TokenReviews authenticates bearer tokens (clientset.AuthenticationV1()).
	TokenReviews authenticationv1client.TokenReviewsGetter
	// SubjectAccessReviews authorizes calls (clientset.AuthorizationV1()).
	SubjectAccessReviews authorizationv1client.SubjectAccessReviewsGetter
	// TokenAudiences, when set, are the audiences a token must be valid
	// for; empty means the API server's own.
	TokenAudiences []string
	// Authenticator and Authorizer, when set, are shared with the other
	// front doors of the operator (the stream listener), caches and
	// failed-authentication limiter included; they replace TokenReviews,
	// TokenAudiences, SubjectAccessReviews and the AuthCache settings.
	// Unset, the shim builds its own, without a limiter.
	Authenticator *kubeauth.Authenticator
	Authorizer    *kubeauth.Authorizer

	// Routes are further endpoints, served behind the same authentication
	// and authorization.
	Routes []Route

	// Logger receives the shim's logs; by default controller-runtime's
	// logger named "restapi".
	Logger logr.Logger

	// MaxBodyBytes bounds request bodies; a larger one is refused with 413.
	MaxBodyBytes int64
	// ReadHeaderTimeout, ReadTimeout, WriteTimeout and IdleTimeout are the
	// http.Server's timeouts.
	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	// RequestTimeout bounds the work of one request, calls to the API
	// server included.
	RequestTimeout time.Duration
	// ShutdownTimeout bounds the wait for requests in flight when the
	// manager stops.
	ShutdownTimeout time.Duration
	// CacheSyncTimeout bounds the wait, after a write, for the cache to show
	// it (see read-your-writes in consistency.go).
	CacheSyncTimeout time.Duration
	// AuthCacheTTL is how long TokenReview and SubjectAccessReview answers
	// are reused; AuthCacheSize bounds how many of each are kept. A
	// negative TTL disables the caches.
	AuthCacheTTL  time.Duration
	AuthCacheSize int
}

// Route is an endpoint served behind the shim's authentication and
// authorization.
type Route struct {
	// Pattern is an http.ServeMux pattern with a method, such as
	// "POST /triggers/{id}/simulate".
	Pattern string
	// Verb is the RBAC verb the call needs on Resource in the OU. When the
	// pattern has an {id} wildcard, it names the resource authorized.
	Verb string
	// Resource and Subresource are what the call is authorized on, in the
	// triggers.leadvibe.io group; Resource defaults to milestonetriggers.
	Resource, Subresource string
	// Handler serves the call. CallerFrom(r.Context()) returns the caller
	// and its OU; errors are written with WriteError.
	Handler http.Handler
}

// Server is the REST shim: the seed's /triggers API over MilestoneTrigger
// resources, as a manager.Runnable.
type Server struct {
	opts    Options
	log     logr.Logger
	authn   *authenticator
	authz   *authorizer
	handler http.Handler
}

var (
	_ manager.Runnable               = (*Server)(nil)
	_ manager.LeaderElectionRunnable = (*Server)(nil)
)

// New builds a Server from opts.
func New(opts Options) (*Server, error) {
	switch {
	case opts.Cache == nil:
		return nil, errors.New("restapi: Options.Cache is required")
	case opts.APIReader == nil:
		return nil, errors.New("restapi: Options.APIReader is required")
	case opts.Writer == nil:
		return nil, errors.New("restapi: Options.Writer is required")
	case opts.TokenReviews == nil && opts.Authenticator == nil:
		return nil, errors.New("restapi: Options.TokenReviews is required")
	case opts.SubjectAccessReviews == nil && opts.Authorizer == nil:
		return nil, errors.New("restapi: Options.SubjectAccessReviews is required")
	case (opts.CertFile == "") != (opts.KeyFile == ""):
		return nil, errors.New("restapi: HTTPS needs both a certificate and a key file")
	}
	setDefaults(&opts)
	authn, authz := opts.Authenticator, opts.Authorizer
	if authn == nil {
		authn = kubeauth.NewAuthenticator(opts.TokenReviews, kubeauth.AuthenticatorOptions{
			Audiences: opts.TokenAudiences,
			CacheTTL:  opts.AuthCacheTTL,
			CacheSize: opts.AuthCacheSize,
		})
	}
	if authz == nil {
		authz = kubeauth.NewAuthorizer(opts.SubjectAccessReviews, opts.AuthCacheTTL, opts.AuthCacheSize)
	}
	s := &Server{
		opts:  opts,
		log:   opts.Logger,
		authn: &authenticator{kube: authn},
		authz: &authorizer{kube: authz},
	}
	mux, err := s.routes()
	if err != nil {
		return nil, err
	}
	s.handler = s.middleware(mux)
	return s, nil
}

func setDefaults(o *Options) {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if o.Addr == "" {
		o.Addr = DefaultAddr
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	def(&o.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	def(&o.ReadTimeout, DefaultReadTimeout)
	def(&o.WriteTimeout, DefaultWriteTimeout)
	def(&o.IdleTimeout, DefaultIdleTimeout)
	def(&o.RequestTimeout, DefaultRequestTimeout)
	def(&o.ShutdownTimeout, DefaultShutdownTimeout)
	def(&o.CacheSyncTimeout, DefaultCacheSyncTimeout)
	def(&o.AuthCacheTTL, DefaultAuthCacheTTL)
	if o.AuthCacheSize == 0 {
		o.AuthCacheSize = DefaultAuthCacheSize
	}
	if o.Logger.GetSink() == nil {
		o.Logger = ctrllog.Log.WithName("restapi")
	}
}

// Handler returns the shim's HTTP handler, with every route and
// middleware; Start serves it.
func (s *Server) Handler() http.Handler { return s.handler }

// NeedLeaderElection is false: every replica serves the API.
func (s *Server) NeedLeaderElection() bool { return false }

// Start serves the API on Options.Addr until ctx is done, then stops
// accepting connections and waits, at most ShutdownTimeout, for the
// requests in flight.
func (s *Server) Start(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.opts.Addr)
	if err != nil {
		return fmt.Errorf("restapi: listening on %s: %w", s.opts.Addr, err)
	}
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: s.opts.ReadHeaderTimeout,
		ReadTimeout:       s.opts.ReadTimeout,
		WriteTimeout:      s.opts.WriteTimeout,
		IdleTimeout:       s.opts.IdleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          log.New(logWriter{s.log}, "", 0),
	}
	served := make(chan error, 1)
	go func() {
		if s.opts.CertFile != "" && s.opts.KeyFile != "" {
			served <- srv.ServeTLS(ln, s.opts.CertFile, s.opts.KeyFile)
		} else {
			served <- srv.Serve(ln)
		}
	}()
	s.log.Info("Serving the REST API", "addr", ln.Addr().String(), "tls", s.opts.CertFile != "")

	select {
	case err := <-served:
		return fmt.Errorf("restapi: serving: %w", err)
	case <-ctx.Done():
	}
	s.log.Info("Stopping the REST API")
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		_ = srv.Close()
		<-served
		return fmt.Errorf("restapi: shutting down: %w", err)
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("restapi: serving: %w", err)
	}
	return nil
}

// logWriter sends the http.Server's own error messages (TLS handshakes,
// malformed requests) to the shim's logger.
type logWriter struct{ log logr.Logger }

func (w logWriter) Write(p []byte) (int, error) {
	w.log.V(1).Info(strings.TrimSpace(string(p)))
	return len(p), nil
}
