package stream

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
)

// freePort returns a loopback port free at the time of asking.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startCluster runs a real three-node JetStream cluster on loopback and
// returns its client URLs.
func startCluster(t *testing.T) string {
	t.Helper()
	routePorts := []int{freePort(t), freePort(t), freePort(t)}
	var routes []*url.URL
	for _, p := range routePorts {
		routes = append(routes, &url.URL{Scheme: "nats", Host: fmt.Sprintf("127.0.0.1:%d", p)})
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

// Every stream and bucket the operator creates on an external cluster gets
// the configured replicas; one created with replicas of its own keeps them.
func TestReplicasApplyToEveryAsset(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-node cluster")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	servers := startCluster(t)

	var conn *Conn
	deadline := time.Now().Add(30 * time.Second)
	for {
		attempt, cancelAttempt := context.WithTimeout(ctx, 2*time.Second)
		var err error
		conn, err = Open(attempt, Config{URL: servers, Replicas: 3})
		cancelAttempt()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the cluster did not become available: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	defer conn.Close()

	// The cluster elects its meta leader in its own time.
	var streams *Streams
	for {
		attempt, cancelAttempt := context.WithTimeout(ctx, 5*time.Second)
		var err error
		streams, err = Ensure(attempt, conn.JS, Layout{})
		cancelAttempt()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("creating the streams: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	defer streams.Close()
	for _, name := range []string{EventsStream, FiringsStream, HistoryStream, BucketStream(LeadsBucket), BucketStream(DeliveriesBucket)} {
		st, err := conn.JS.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if got := st.CachedInfo().Config.Replicas; got != 3 {
			t.Errorf("%s has %d replicas, want 3", name, got)
		}
	}
	// Atomic batches commit on a replicated stream too, checks included.
	msgs := []Msg{
		{Subject: FiringSubject("acme", "f1"), Data: []byte("1"), ExpectNew: true},
		{Subject: FiringSubject("acme", "f2"), Data: []byte("2"), ExpectNew: true},
	}
	if _, err := streams.Firings.Write(ctx, msgs...); err != nil {
		t.Fatalf("writing a batch to a replicated stream: %v", err)
	}
	res, err := streams.Firings.Write(ctx, append(msgs, Msg{Subject: FiringSubject("acme", "f3"), Data: []byte("3"), ExpectNew: true})...)
	if err != nil {
		t.Fatal(err)
	}
	if !res[0].Exists || !res[1].Exists || res[2].Exists {
		t.Errorf("results %+v, want the first two already there and the third new", res)
	}
	kv, err := conn.JS.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "REPLICAS_TEST"})
	if err != nil {
		t.Fatal(err)
	}
	status, err := kv.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := status.(*jetstream.KeyValueBucketStatus).StreamInfo().Config.Replicas; got != 3 {
		t.Errorf("bucket has %d replicas, want 3", got)
	}
	one, err := conn.JS.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: "REPLICAS_ONE", Subjects: []string{"replicas.one"}, Replicas: 1})
	if err != nil {
		t.Fatal(err)
	}
	if got := one.CachedInfo().Config.Replicas; got != 1 {
		t.Errorf("a stream asking for 1 replica has %d", got)
	}
}

func TestReplicasNeedAnExternalCluster(t *testing.T) {
	_, err := Open(context.Background(), Config{DataDir: t.TempDir(), Replicas: 3})
	if err == nil || !strings.Contains(err.Error(), "external NATS cluster") {
		t.Fatalf("Open = %v, want a refusal naming the external cluster", err)
	}
}
