package ledger

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/leadvibe/milestone-triggers-operator/internal/stream"
)

// Checkpoints of the stream readers. A reader consumes its stream in order
// from its checkpoint and moves the checkpoint only after what it read is
// durable, so a restarted reader resumes exactly where the durable state
// ends, in order (a durable consumer would instead redeliver the
// unacknowledged messages after newer ones).
const (
	// EvaluatorCheckpoint names the checkpoints of the partitions'
	// evaluators (EvaluatorCheckpointOf): the events-stream sequence a
	// partition's lead states are committed through.
	EvaluatorCheckpoint = "evaluator"
	// StatusCheckpoint is the outbox sequence trigger statuses are
	// patched through.
	StatusCheckpoint = "status"
	// HistoryCheckpoint is the history-stream sequence trigger statuses'
	// delivery health is applied through.
	HistoryCheckpoint = "status-history"
)

// EvaluatorCheckpointOf is the checkpoint name of partition p's evaluator.
func EvaluatorCheckpointOf(p int) string { return EvaluatorCheckpoint + "." + strconv.Itoa(p) }

// checkpointKey keeps checkpoints apart from lead keys, which start with
// an OU name, and an OU name never starts with an underscore.
func checkpointKey(name string) string { return "_checkpoint." + name }

// LoadCheckpoint returns the sequence the named reader is durable through,
// or 0 when it has none yet.
func (l *Ledger) LoadCheckpoint(ctx context.Context, name string) (uint64, error) {
	entry, err := l.streams.LeadsKV.Get(ctx, checkpointKey(name))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("reading checkpoint %s: %w", name, err)
	}
	seq, err := strconv.ParseUint(string(entry.Value()), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("checkpoint %s holds %q: %w", name, entry.Value(), err)
	}
	return seq, nil
}

// SaveCheckpoint records that the named reader is durable through seq.
func (l *Ledger) SaveCheckpoint(ctx context.Context, name string, seq uint64) error {
	if _, err := l.streams.Leads.Write(ctx, checkpointMsg(name, seq)); err != nil {
		return fmt.Errorf("saving checkpoint %s: %w", name, err)
	}
	return nil
}

func checkpointMsg(name string, seq uint64) stream.Msg {
	return stream.Msg{Subject: stream.KeySubject(stream.LeadsBucket, checkpointKey(name)), Data: []byte(strconv.FormatUint(seq, 10))}
}

// OrderedFrom returns an ordered consumer of a stream that starts after
// seq: the reader of a checkpoint. Filters, when given, narrow it to those
// subjects.
func OrderedFrom(ctx context.Context, js jetstream.JetStream, streamName string, seq uint64, filters ...string) (jetstream.Consumer, error) {
	cfg := jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy}
	if seq > 0 {
		cfg = jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: seq + 1}
	}
	cfg.FilterSubjects = filters
	c, err := js.OrderedConsumer(ctx, streamName, cfg)
	if err != nil {
		return nil, fmt.Errorf("reading stream %s after %d: %w", streamName, seq, err)
	}
	return c, nil
}

// ReadFrom reads a stream in order after seq, as OrderedFrom does, with up
// to maxMessages fetched ahead; the messages stop when ctx ends or when
// the returned stop is called (defer it).
func ReadFrom(ctx context.Context, js jetstream.JetStream, streamName string, seq uint64, maxMessages int, filters ...string) (jetstream.MessagesContext, func(), error) {
	consumer, err := OrderedFrom(ctx, js, streamName, seq, filters...)
	if err != nil {
		return nil, nil, err
	}
	msgs, err := consumer.Messages(jetstream.PullMaxMessages(maxMessages))
	if err != nil {
		return nil, nil, fmt.Errorf("reading stream %s after %d: %w", streamName, seq, err)
	}
	stopped := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
		case <-stopped:
		}
		msgs.Stop()
	}()
	return msgs, func() { close(stopped) }, nil
}

// NextBatch reads the next batch of msgs into batch (reusing its array):
// it waits up to a second for one message, then gathers more while they
// arrive within linger, up to size. It returns an empty batch when the
// stream is idle.
func NextBatch(msgs jetstream.MessagesContext, batch []jetstream.Msg, size int, linger time.Duration) ([]jetstream.Msg, error) {
	batch = batch[:0]
	msg, err := msgs.Next(jetstream.NextMaxWait(time.Second))
	if errors.Is(err, nats.ErrTimeout) {
		return batch, nil
	}
	if err != nil {
		return nil, err
	}
	batch = append(batch, msg)
	for len(batch) < size {
		msg, err := msgs.Next(jetstream.NextMaxWait(linger))
		if err != nil {
			break // a timeout ends the batch; anything else shows on the next call
		}
		batch = append(batch, msg)
	}
	return batch, nil
}
