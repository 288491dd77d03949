package stream

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
)

// SyncPolicy says when the embedded server fsyncs what it stores.
type SyncPolicy struct {
	// Always fsyncs every write before it is acknowledged: an acknowledged
	// event or firing survives power loss. The default.
	Always bool
	// Interval, when Always is false, fsyncs on a timer (NATS's own default
	// is two minutes): faster, but a power loss can lose what was
	// acknowledged since the last fsync.
	Interval time.Duration
}

// ParseSyncPolicy reads --stream-sync: "always", or a duration such as "2m".
func ParseSyncPolicy(s string) (SyncPolicy, error) {
	if s == "always" {
		return SyncPolicy{Always: true}, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return SyncPolicy{}, fmt.Errorf("stream sync policy %q: want \"always\" or a positive duration such as 2m", s)
	}
	return SyncPolicy{Interval: d}, nil
}

// String is the flag form of the policy.
func (p SyncPolicy) String() string {
	if p.Always {
		return "always"
	}
	return p.Interval.String()
}

// Config says which NATS JetStream to use.
type Config struct {
	// URL of an external NATS server or cluster; empty runs one embedded in
	// this process.
	URL string
	// DataDir holds the embedded server's storage.
	DataDir string
	// Sync is the embedded server's fsync policy.
	Sync SyncPolicy
	// Listen, when not empty, lets NATS clients outside the process reach
	// the embedded server at this address (host:port; port 0 picks a free
	// one). Empty means no network listener at all: only this process
	// connects, in-process. With a listener, every client but this
	// process's own connection (and the admin user below) is authenticated
	// by the auth callout service (internal/streamauth), which must run on
	// NC with CalloutIssuer as its signing key: until it does, clients are
	// refused.
	Listen string
	// TLSCertFile and TLSKeyFile (PEM), when set, make the listener serve
	// TLS only; TLSClientCAFile, when also set, makes it require client
	// certificates signed by that CA.
	TLSCertFile, TLSKeyFile, TLSClientCAFile string
	// AdminPassword, when set with Listen, lets a client that connects as
	// the user AdminUser with this password in with every right, past the
	// auth callout: for the local system's tools and tests, never for
	// tenants.
	AdminPassword string
	// Name identifies this process's connection.
	Name string
	// Replicas is how many copies an external cluster keeps of every
	// stream and bucket the operator creates (1, 3 or 5). The embedded
	// server is a single node: more than 1 needs URL.
	Replicas int
}

// Conn is an open connection to JetStream, and the embedded server behind
// it when there is one.
type Conn struct {
	NC       *nats.Conn
	JS       jetstream.JetStream
	embedded *server.Server
	issuer   nkeys.KeyPair
	streams  *Streams
}

// Ensure ensures the layout on this connection (see the package-level
// Ensure); Close then stops its writers before it closes the connection.
func (c *Conn) Ensure(ctx context.Context, l Layout) (*Streams, error) {
	s, err := Ensure(ctx, c.JS, l)
	if err != nil {
		return nil, err
	}
	if c.streams != nil {
		c.streams.Close()
	}
	c.streams = s
	return s, nil
}

// Open starts the embedded server, or connects to the external one, and
// returns a connection to it. Close releases both.
func Open(ctx context.Context, cfg Config) (*Conn, error) {
	name := cfg.Name
	if name == "" {
		name = "milestone-triggers"
	}
	opts := []nats.Option{nats.Name(name), nats.MaxReconnects(-1)}

	if cfg.Replicas > 1 && cfg.URL == "" {
		return nil, fmt.Errorf("%d stream replicas need an external NATS cluster: the embedded server is a single node", cfg.Replicas)
	}
	c := &Conn{}
	url := cfg.URL
	if url == "" {
		auth, err := newListenerAuth(cfg)
		if err != nil {
			return nil, err
		}
		s, err := startEmbedded(cfg, auth)
		if err != nil {
			return nil, err
		}
		c.embedded = s
		opts = append(opts, nats.InProcessServer(s), nats.CustomInboxPrefix(OperatorInboxPrefix))
		if auth != nil {
			c.issuer = auth.issuer
			opts = append(opts, nats.UserInfo(OperatorUser, auth.operatorPassword))
		}
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("connecting to NATS: %w", err)
	}
	c.NC = nc
	// An acknowledgement that never arrives (a dropped reply) fails the
	// publish after a while instead of blocking its caller forever; every
	// writer of the operator retries, and its writes are idempotent.
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncTimeout(20*time.Second), jetstream.WithPublishAsyncMaxPending(16384))
	if err != nil {
		c.Close()
		return nil, err
	}
	c.JS = js
	if cfg.Replicas > 1 {
		c.JS = replicated{JetStream: js, replicas: cfg.Replicas}
	}
	if _, err := js.AccountInfo(ctx); err != nil {
		c.Close()
		return nil, fmt.Errorf("JetStream is not available: %w", err)
	}
	return c, nil
}

// ClientURL is where NATS clients outside this process can connect to the
// embedded server, or "" when it does not listen.
func (c *Conn) ClientURL() string {
	if c.embedded == nil || c.embedded.Addr() == nil {
		return ""
	}
	return c.embedded.ClientURL()
}

// CalloutIssuer is the key the auth callout service signs its answers and
// the users it admits with, or nil when the embedded server has no
// listener (or the server is external). It never leaves the process.
func (c *Conn) CalloutIssuer() nkeys.KeyPair { return c.issuer }

// Server is the embedded server, or nil with an external one: other
// in-process clients (a benchmark's publisher) connect to it with
// nats.InProcessServer.
func (c *Conn) Server() *server.Server { return c.embedded }

// Close drains the connection and shuts the embedded server down, waiting
// until its storage is flushed.
func (c *Conn) Close() {
	if c.streams != nil {
		c.streams.Close()
	}
	if c.NC != nil {
		_ = c.NC.Drain()
		for c.NC.IsDraining() {
			time.Sleep(10 * time.Millisecond)
		}
		c.NC.Close()
	}
	if c.embedded != nil {
		c.embedded.Shutdown()
		c.embedded.WaitForShutdown()
	}
}

func startEmbedded(cfg Config, auth *listenerAuth) (*server.Server, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("the embedded stream needs a data directory (--data-dir)")
	}
	opts := &server.Options{
		ServerName:   "milestone-triggers",
		JetStream:    true,
		StoreDir:     cfg.DataDir,
		SyncAlways:   cfg.Sync.Always,
		SyncInterval: cfg.Sync.Interval,
		NoSigs:       true,
		NoLog:        true,
		DontListen:   cfg.Listen == "",
	}
	if opts.SyncInterval == 0 {
		opts.SyncInterval = 2 * time.Minute
	}
	if cfg.Listen != "" {
		host, port, err := net.SplitHostPort(cfg.Listen)
		if err != nil {
			return nil, fmt.Errorf("stream listen address %q: %w", cfg.Listen, err)
		}
		if host == "" {
			host = "127.0.0.1"
		}
		p, err := strconv.Atoi(port)
		if err != nil || p < 0 || p > 65535 {
			return nil, fmt.Errorf("stream listen address %q: bad port", cfg.Listen)
		}
		if p == 0 {
			p = server.RANDOM_PORT
		}
		opts.Host, opts.Port = host, p
		if err := auth.apply(opts, cfg); err != nil {
			return nil, err
		}
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("configuring the embedded NATS server: %w", err)
	}
	s.Start()
	if !s.ReadyForConnections(30 * time.Second) {
		s.Shutdown()
		return nil, errors.New("the embedded NATS server did not become ready within 30s")
	}
	return s, nil
}
