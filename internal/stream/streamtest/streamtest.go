// Package streamtest runs real embedded NATS JetStream servers for tests:
// each on a data directory of the test's, fsyncing every write, with no
// network listener, and the operator's streams and buckets ensured on it.
// A server is closed when its test (or the Ginkgo suite of GinkgoTB())
// ends.
package streamtest

import (
	"context"
	"testing"
	"time"

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
