package stream

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// usageStreams are the streams whose use UsageCollector reports: every
// stream and bucket of the layout.
var usageStreams = []string{
	EventsStream, RejectedStream, FiringsStream, HistoryStream, ResendsStream,
	BucketStream(LeadsBucket), BucketStream(DeliveriesBucket),
}

var (
	usageBytes = prometheus.NewDesc("milestone_triggers_stream_bytes",
		"Bytes a stream or bucket holds (its byte limit is milestone_triggers_stream_max_bytes).", []string{"stream"}, nil)
	usageMaxBytes = prometheus.NewDesc("milestone_triggers_stream_max_bytes",
		"A stream's or bucket's byte limit (--stream-max-bytes).", []string{"stream"}, nil)
	usageMessages = prometheus.NewDesc("milestone_triggers_stream_messages",
		"Messages a stream or bucket holds.", []string{"stream"}, nil)
)

// UsageCollector reports how full each stream and bucket is, read from
// the server at every scrape, so that an alert can fire before a full
// events stream refuses events.
type UsageCollector struct {
	js jetstream.JetStream
}

// NewUsageCollector returns the collector of the layout's streams on js.
func NewUsageCollector(js jetstream.JetStream) *UsageCollector { return &UsageCollector{js: js} }

// Describe implements prometheus.Collector.
func (c *UsageCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- usageBytes
	ch <- usageMaxBytes
	ch <- usageMessages
}

// Collect implements prometheus.Collector. A stream the server does not
// answer for within the scrape's bound is left out.
func (c *UsageCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, name := range usageStreams {
		s, err := c.js.Stream(ctx, name)
		if err != nil {
			continue
		}
		info := s.CachedInfo()
		ch <- prometheus.MustNewConstMetric(usageBytes, prometheus.GaugeValue, float64(info.State.Bytes), name)
		ch <- prometheus.MustNewConstMetric(usageMessages, prometheus.GaugeValue, float64(info.State.Msgs), name)
		if info.Config.MaxBytes > 0 {
			ch <- prometheus.MustNewConstMetric(usageMaxBytes, prometheus.GaugeValue, float64(info.Config.MaxBytes), name)
		}
	}
}
