package backtest

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/leadvibe/milestone-triggers-operator/internal/stream"
	"github.com/leadvibe/milestone-triggers-operator/internal/stream/streamtest"
)

// BenchmarkBacktest replays 50,000 stored events of an OU (3,000 leads)
// through a backtest, beside the raw read of the same events by the same
// ordered consumer, in the same run: the difference is the decoding and
// the evaluation.
func BenchmarkBacktest(b *testing.B) {
	const n = 50_000
	srv := streamtest.Start(b)
	ctx := context.Background()
	evs := events(rand.New(rand.NewPCG(3, 3)), "acme", n)
	for i := range evs {
		evs[i].LeadID = evs[i].LeadID + "-" + string(rune('a'+i%50))
	}
	for i := 0; i < n; i += 1000 {
		if _, err := stream.Publish(ctx, srv.Streams.Events, "acme", evs[i:i+1000]...); err != nil {
			b.Fatal(err)
		}
	}
	src := Stream{JS: srv.Streams.JS}
	b.Run("read", func(b *testing.B) {
		for b.Loop() {
			read := 0
			if err := src.Read(ctx, "acme", func(Message) error { read++; return nil }); err != nil || read != n {
				b.Fatalf("read %d: %v", read, err)
			}
		}
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "events/s")
	})
	rearm := int64(35)
	for name, d := range map[string]Definition{
		"plain":    {Name: "t", UID: "u", Threshold: 50, EventType: "demo_request"},
		"policies": {Name: "t", UID: "u", Threshold: 50, EventType: "demo_request", RearmBelow: &rearm, Cooldown: time.Hour},
	} {
		b.Run(name, func(b *testing.B) {
			req := Request{OU: "acme", Definition: d, Since: start, Until: start.Add(n * time.Minute)}
			for b.Loop() {
				res, err := Run(ctx, src, req, Limits{})
				if err != nil || res.EventsScanned != n || res.Firings == 0 {
					b.Fatalf("%+v: %v", res, err)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
