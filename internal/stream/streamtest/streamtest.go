// Package streamtest runs real embedded NATS JetStream servers for tests:
// each on a data directory of the test's, fsyncing every write, with no
// network listener, and the operator's streams and buckets ensured on it.
// A server is closed when its test (or the Ginkgo suite of GinkgoTB())
// ends.
package streamtest

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/leadvibe/milestone-triggers-operator/internal/stream"
)

// setupTimeout bounds starting a server and ensuring its layout.
const setupTimeout = 30 * time.Second

// Option changes what Open and Start run.
type Option func(*settings)

type settings struct {
	config stream.Config
	layout stream.Layout
}

// WithLayout ensures l on the server instead of the default layout.
func WithLayout(l stream.Layout) Option {
	return func(s *settings) { s.layout = l }
}

// WithConfig edits the server's configuration: a listener, another sync
// policy, a data directory of the test's own.
func WithConfig(edit func(*stream.Config)) Option {
	return func(s *settings) { edit(&s.config) }
}

// Open starts a server and returns its connection and streams.
func Open(t testing.TB, opts ...Option) (*stream.Conn, *stream.Streams) {
	t.Helper()
	s := Start(t, opts...)
	return s.Conn, s.Streams
}

// Server is a server whose data directory outlives it, so that a test can
// restart it on the same data. Conn and Streams are the running server's;
// Restart replaces them.
type Server struct {
	Conn    *stream.Conn
	Streams *stream.Streams

	t        testing.TB
	settings settings
}

// Start starts a server on a new temporary directory (unless WithConfig
// names one) and closes whichever server is running when t ends.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := &Server{t: t, settings: settings{config: stream.Config{DataDir: t.TempDir(), Sync: stream.SyncPolicy{Always: true}}}}
	for _, opt := range opts {
		opt(&s.settings)
	}
	s.open()
	t.Cleanup(s.close)
	return s
}

// Restart closes the server, waiting until its storage is flushed, and
// starts another on the same data directory with the same layout.
func (s *Server) Restart() {
	s.t.Helper()
	s.close()
	s.open()
}

func (s *Server) open() {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	conn, err := stream.Open(ctx, s.settings.config)
	if err != nil {
		s.t.Fatalf("opening the embedded stream: %v", err)
	}
	streams, err := conn.Ensure(ctx, s.settings.layout)
	if err != nil {
		conn.Close()
		s.t.Fatalf("ensuring the stream layout: %v", err)
	}
	s.Conn, s.Streams = conn, streams
}

func (s *Server) close() {
	if s.Conn != nil {
		s.Conn.Close()
		s.Conn, s.Streams = nil, nil
	}
}

// StartCluster runs a real JetStream cluster of n nodes on loopback, each
// storing in a directory of t's, and returns its client URLs joined by
// commas (what --nats-url takes). The nodes stop when t ends. The cluster
// elects its meta leader in its own time: a client's first requests may
// fail for a few seconds.
func StartCluster(t testing.TB, n int) string {
	t.Helper()
	routePorts := make([]int, n)
	var routes []*url.URL
	for i := range routePorts {
		routePorts[i] = freePort(t)
		routes = append(routes, &url.URL{Scheme: "nats", Host: fmt.Sprintf("127.0.0.1:%d", routePorts[i])})
	}
	var urls []string
	for i, p := range routePorts {
		s, err := server.NewServer(&server.Options{
			ServerName: fmt.Sprintf("n%d", i),
			Host:       "127.0.0.1",
			Port:       -1,
			JetStream:  true,
			StoreDir:   t.TempDir(),
			Cluster:    server.ClusterOpts{Name: "test", Host: "127.0.0.1", Port: p},
			Routes:     routes,
			NoSigs:     true,
		})
		if err != nil {
			t.Fatal(err)
		}
		go s.Start()
		t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
		if !s.ReadyForConnections(10 * time.Second) {
			t.Fatalf("server n%d did not start", i)
		}
		urls = append(urls, s.ClientURL())
	}
	return strings.Join(urls, ",")
}

// freePort returns a loopback port free at the time of asking.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}
