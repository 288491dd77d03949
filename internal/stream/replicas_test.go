package stream_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/leadvibe/milestone-triggers-operator/internal/stream"
	"github.com/leadvibe/milestone-triggers-operator/internal/stream/streamtest"
)

// Every stream and bucket the operator creates on an external cluster gets
// the configured replicas; one created with replicas of its own keeps them.
func TestReplicasApplyToEveryAsset(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-node cluster")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	servers := streamtest.StartCluster(t, 3)

	var conn *stream.Conn
	deadline := time.Now().Add(30 * time.Second)
	for {
		attempt, cancelAttempt := context.WithTimeout(ctx, 2*time.Second)
		var err error
		conn, err = stream.Open(attempt, stream.Config{URL: servers, Replicas: 3})
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
	var streams *stream.Streams
	for {
		attempt, cancelAttempt := context.WithTimeout(ctx, 5*time.Second)
		var err error
		streams, err = stream.Ensure(attempt, conn.JS, stream.Layout{})
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
	for _, name := range []string{stream.EventsStream, stream.FiringsStream, stream.HistoryStream, stream.BucketStream(stream.LeadsBucket), stream.BucketStream(stream.DeliveriesBucket)} {
		st, err := conn.JS.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if got := st.CachedInfo().Config.Replicas; got != 3 {
			t.Errorf("%s has %d replicas, want 3", name, got)
		}
	}
	// Atomic batches commit on a replicated stream too, checks included.
	msgs := []stream.Msg{
		{Subject: stream.FiringSubject("acme", "f1"), Data: []byte("1"), ExpectNew: true},
		{Subject: stream.FiringSubject("acme", "f2"), Data: []byte("2"), ExpectNew: true},
	}
	if _, err := streams.Firings.Write(ctx, msgs...); err != nil {
		t.Fatalf("writing a batch to a replicated stream: %v", err)
	}
	res, err := streams.Firings.Write(ctx, append(msgs, stream.Msg{Subject: stream.FiringSubject("acme", "f3"), Data: []byte("3"), ExpectNew: true})...)
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
	_, err := stream.Open(context.Background(), stream.Config{DataDir: t.TempDir(), Replicas: 3})
	if err == nil || !strings.Contains(err.Error(), "external NATS cluster") {
		t.Fatalf("Open = %v, want a refusal naming the external cluster", err)
	}
}
