package streamauth

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
	authenticationv1 "k8s.io/api/authentication/v1"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/leadvibe/milestone-triggers-operator/internal/kubeauth"
)

// Defaults of Service.
const (
	// DefaultWorkers is how many requests are checked at once.
	DefaultWorkers = 8
	// DefaultQueue is how many requests wait for a worker; past that the
	// NATS client library drops them and those clients time out.
	DefaultQueue = 1024
	// DefaultMaxExpiry bounds the life of an admitted user: the client
	// reconnects, and is checked again.
	DefaultMaxExpiry = time.Hour
	// DefaultRequestTimeout bounds the reviews of one request, under the
	// server's authorization timeout (stream.AuthTimeout).
	DefaultRequestTimeout = 4 * time.Second
)

// Service answers the embedded NATS server's auth callout requests
// ($SYS.REQ.USER.AUTH) on the operator's own connection, as a
// manager.Runnable. Conn, Issuer, Authenticator and Authorizer are
// required.
type Service struct {
	// Conn is the operator's connection (stream.Conn.NC), an auth user
	// that bypasses the callout.
	Conn *nats.Conn
	// Issuer signs the answers and the admitted users
	// (stream.Conn.CalloutIssuer).
	Issuer nkeys.KeyPair
	// Authenticator and Authorizer are the operator's shared Kubernetes
	// checks, those of the REST API.
	Authenticator *kubeauth.Authenticator
	Authorizer    *kubeauth.Authorizer
	// Log receives the service's logs; by default controller-runtime's
	// logger named "streamauth".
	Log logr.Logger
	// Throttle, when set, holds admitted publishers to their OUs' event
	// budget: the callout refuses the publishers of an OU over it.
	Throttle *Throttle
	// Workers, Queue, MaxExpiry and RequestTimeout: see the defaults.
	Workers, Queue int
	MaxExpiry      time.Duration
	RequestTimeout time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

var (
	_ manager.Runnable               = (*Service)(nil)
	_ manager.LeaderElectionRunnable = (*Service)(nil)
)

// NeedLeaderElection is false: every replica's listener admits clients.
func (s *Service) NeedLeaderElection() bool { return false }

// Start answers requests until ctx is done, then stops taking them and
// waits for the ones being checked.
func (s *Service) Start(ctx context.Context) error {
	if s.Conn == nil || s.Issuer == nil || s.Authenticator == nil || s.Authorizer == nil {
		return errors.New("streamauth: Conn, Issuer, Authenticator and Authorizer are required")
	}
	s.setDefaults()
	requests := make(chan *nats.Msg, s.Queue)
	sub, err := s.Conn.ChanSubscribe(server.AuthCalloutSubject, requests)
	if err != nil {
		return fmt.Errorf("streamauth: subscribing to %s: %w", server.AuthCalloutSubject, err)
	}
	if err := s.Conn.Flush(); err != nil {
		_ = sub.Unsubscribe()
		return fmt.Errorf("streamauth: subscribing to %s: %w", server.AuthCalloutSubject, err)
	}
	s.Log.Info("Authenticating stream clients", "workers", s.Workers)

	var wg sync.WaitGroup
	for range s.Workers {
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case m := <-requests:
					s.answer(ctx, m)
				}
			}
		})
	}
	<-ctx.Done()
	err = sub.Unsubscribe()
	wg.Wait()
	s.Log.Info("Stopped authenticating stream clients")
	if err != nil && !errors.Is(err, nats.ErrConnectionClosed) && !errors.Is(err, nats.ErrConnectionDraining) {
		return fmt.Errorf("streamauth: unsubscribing: %w", err)
	}
	return nil
}

func (s *Service) setDefaults() {
	if s.Workers <= 0 {
		s.Workers = DefaultWorkers
	}
	if s.Queue <= 0 {
		s.Queue = DefaultQueue
	}
	if s.MaxExpiry <= 0 {
		s.MaxExpiry = DefaultMaxExpiry
	}
	if s.RequestTimeout <= 0 {
		s.RequestTimeout = DefaultRequestTimeout
	}
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.Log.GetSink() == nil {
		s.Log = ctrllog.Log.WithName("streamauth")
	}
}

// answer decides one request and responds: a user JWT, or a reason.
func (s *Service) answer(ctx context.Context, m *nats.Msg) {
	req, err := jwt.DecodeAuthorizationRequestClaims(string(m.Data))
	if err != nil {
		// Not the server's: nothing to answer.
		s.Log.V(1).Info("Ignored a malformed auth callout request", "error", err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(ctx, s.RequestTimeout)
	defer cancel()
	log := s.Log.WithValues("client", req.ClientInformation.Host, "name", req.ClientInformation.Name)
	ctx = logr.NewContext(ctx, log)

	resp := jwt.NewAuthorizationResponseClaims(req.UserNkey)
	resp.Audience = req.Server.ID
	user, ous, expires, err := s.decide(ctx, req)
	if err != nil {
		resp.Error = err.Error()
		var limited *kubeauth.LimitedError
		if errors.As(err, &limited) {
			log.V(1).Info("Refused a stream client", "reason", resp.Error)
		} else {
			log.Info("Refused a stream client", "reason", resp.Error)
		}
	} else {
		uc := userClaims(req.UserNkey, user.Username, ous, expires)
		userJWT, err := uc.Encode(s.Issuer)
		if err != nil {
			log.Error(err, "Encoding an admitted stream user")
			resp.Error = "internal error"
		} else {
			resp.Jwt = userJWT
			s.Throttle.admitted(req.ClientInformation.ID, ous)
			log.V(1).Info("Admitted a stream client", "user", user.Username, "ous", ous, "expires", expires.UTC().Format(time.RFC3339))
		}
	}
	answer, err := resp.Encode(s.Issuer)
	if err != nil {
		log.Error(err, "Encoding an auth callout answer")
		return
	}
	if err := m.Respond([]byte(answer)); err != nil {
		log.Error(err, "Answering an auth callout request")
	}
}

// decide authenticates and authorizes a request: the user, the OUs it may
// publish to and when its admission expires, or why it is refused.
func (s *Service) decide(ctx context.Context, req *jwt.AuthorizationRequestClaims) (authenticationv1.UserInfo, []string, time.Time, error) {
	var none authenticationv1.UserInfo
	creds, err := parseCredentials(req.ConnectOptions)
	if err != nil {
		return none, nil, time.Time{}, err
	}
	user, err := s.Authenticator.Authenticate(ctx, creds.token, req.ClientInformation.Host)
	if err != nil {
		return none, nil, time.Time{}, reason(err)
	}
	ous := creds.ous
	if len(ous) == 0 {
		ns, _, ok := kubeauth.ServiceAccount(user.Username)
		if !ok {
			return none, nil, time.Time{}, fmt.Errorf("%q is no service account: name the OUs as the user name, with the token as the password", user.Username)
		}
		ous = []string{ns}
	}
	for _, ou := range ous {
		acc := kubeauth.Access{OU: ou, Verb: "create", Resource: Resource, Subresource: Subresource}
		allowed, err := s.Authorizer.Allowed(ctx, user, acc)
		if err != nil {
			return none, nil, time.Time{}, reason(err)
		}
		if !allowed {
			return none, nil, time.Time{}, fmt.Errorf("%q is not allowed to create %s in OU %q", user.Username, acc.What(), ou)
		}
	}
	if err := s.Throttle.refusal(ous); err != nil {
		return none, nil, time.Time{}, err
	}
	expires := s.Now().Add(s.MaxExpiry)
	if exp, ok := tokenExpiry(creds.token); ok && exp.Before(expires) {
		expires = exp
	}
	if !expires.After(s.Now()) {
		return none, nil, time.Time{}, errors.New("the token has expired")
	}
	return user, ous, expires, nil
}

// reason is what a refused client is told of a kubeauth error: the
// reason, without the API server's own words.
func reason(err error) error {
	var limited *kubeauth.LimitedError
	var up *kubeauth.UpstreamError
	switch {
	case errors.Is(err, kubeauth.ErrUnauthenticated):
		return errors.New("invalid or expired token")
	case errors.As(err, &limited):
		return limited
	case errors.As(err, &up) && up.Temporary:
		return errors.New("the Kubernetes API did not answer in time; retry later")
	default:
		return errors.New("the operator could not check the token; see its log")
	}
}
