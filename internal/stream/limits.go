package stream

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
	"k8s.io/apimachinery/pkg/api/resource"
)

// ByteLimits bounds how much each stream and bucket of the layout may
// hold on disk, in bytes (the --stream-max-bytes flag). When one is full:
//
//   - events, the firing outbox, re-sends and both buckets refuse new
//     writes (DiscardNew): a publisher is told (POST /events answers 507),
//     the evaluator and the dispatcher wait and retry, and nothing already
//     stored is dropped to make room;
//   - the history and the rejected events drop their oldest records
//     (DiscardOld): they are records of what happened, and losing the
//     oldest is better than stopping deliveries.
type ByteLimits struct {
	Events, Rejected, Firings, History, Resends, Leads, Deliveries int64
}

// DefaultByteLimits fit the manager's 10Gi volume (config/manager) with
// room for the server's own files: 8.5Gi in all.
var DefaultByteLimits = ByteLimits{
	Events:     4 << 30,
	Rejected:   256 << 20,
	Firings:    1 << 30,
	History:    2 << 30,
	Resends:    64 << 20,
	Leads:      1 << 30,
	Deliveries: 256 << 20,
}

// fields names each limit as the flag does.
func (b *ByteLimits) fields() map[string]*int64 {
	return map[string]*int64{
		"events": &b.Events, "rejected": &b.Rejected, "firings": &b.Firings, "history": &b.History,
		"resends": &b.Resends, "leads": &b.Leads, "deliveries": &b.Deliveries,
	}
}

// limitNames are the names ParseByteLimits takes, sorted.
func limitNames() []string {
	var b ByteLimits
	names := make([]string, 0, 7)
	for n := range b.fields() {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ParseByteLimits reads --stream-max-bytes: comma-separated name=size
// pairs, such as "events=20Gi,history=5Gi", with Kubernetes quantities;
// a name left out keeps its default (DefaultByteLimits).
func ParseByteLimits(s string) (ByteLimits, error) {
	limits := DefaultByteLimits
	fields := limits.fields()
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, size, ok := strings.Cut(part, "=")
		name = strings.TrimSpace(name)
		field := fields[name]
		if !ok || field == nil {
			return ByteLimits{}, fmt.Errorf("stream byte limit %q: want name=size with a name among %s", part, strings.Join(limitNames(), ", "))
		}
		q, err := resource.ParseQuantity(strings.TrimSpace(size))
		if err != nil {
			return ByteLimits{}, fmt.Errorf("stream byte limit %s=%q: not a size such as 4Gi or 500Mi", name, size)
		}
		v, ok := q.AsInt64()
		if !ok || v < 1<<20 {
			return ByteLimits{}, fmt.Errorf("stream byte limit %s=%s: must be at least 1Mi", name, size)
		}
		*field = v
	}
	return limits, nil
}

// String is the flag form of the limits.
func (b ByteLimits) String() string {
	fields := b.fields()
	parts := make([]string, 0, len(fields))
	for _, n := range limitNames() {
		parts = append(parts, n+"="+resource.NewQuantity(*fields[n], resource.BinarySI).String())
	}
	return strings.Join(parts, ",")
}

func (b ByteLimits) withDefaults() ByteLimits {
	d := DefaultByteLimits
	got, def := b.fields(), d.fields()
	for n, v := range got {
		if *v <= 0 {
			*v = *def[n]
		}
	}
	return b
}

// ErrFull says a write was refused because its stream or bucket holds as
// many bytes as its limit allows. Writers wrap it with the stream's name.
var ErrFull = errors.New("the stream is full (its --stream-max-bytes limit is reached)")

// IsFull reports whether err is a write refused by a full stream or
// bucket (DiscardNew at its byte limit).
func IsFull(err error) bool {
	if errors.Is(err, ErrFull) {
		return true
	}
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	return apiErr.ErrorCode == errCodeStoreFailed &&
		slices.ContainsFunc(fullMessages, func(m string) bool { return strings.Contains(apiErr.Description, m) })
}

// errCodeStoreFailed is nats-server's JSStreamStoreFailedF: a message the
// stream could not store, with the store's reason as the description.
const errCodeStoreFailed jetstream.ErrorCode = 10077

// fullMessages are the server's descriptions of a store refused for room
// (nats-server's ErrMaxBytes and ErrStoreResourcesExceeded).
var fullMessages = []string{"maximum bytes exceeded", "insufficient resources"}
