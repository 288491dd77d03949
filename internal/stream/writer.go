package stream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/leadvibe/milestone-triggers-operator/internal/metrics"
)

// MaxAtomicBatch is the most messages one atomic batch may hold: the NATS
// server's default limit (JetStream's max_batch_size).
const MaxAtomicBatch = 1000

// Headers of JetStream's atomic batch publish (ADR-50) and of the checks a
// message may carry.
const (
	hdrBatchID         = "Nats-Batch-Id"
	hdrBatchSeq        = "Nats-Batch-Sequence"
	hdrBatchCommit     = "Nats-Batch-Commit"
	hdrMsgID           = "Nats-Msg-Id"
	hdrExpectedLastSeq = "Nats-Expected-Last-Subject-Sequence"
)

// Msg is one message for a Writer.
type Msg struct {
	Subject string
	Data    []byte
	// Header holds further headers; the writer adds its own beside them.
	Header nats.Header
	// ID, when set, is the message id (Nats-Msg-Id): the stream drops a
	// second message with the same id within its duplicate window, and the
	// Result says Duplicate.
	ID string
	// ExpectNew asks the stream to store the message only if its subject
	// holds none yet (Nats-Expected-Last-Subject-Sequence: 0); when it
	// already does, nothing is written and the Result says Exists. This is
	// the check exactly-once rests on, and it has no time window.
	ExpectNew bool
	// ExpectRevision, when not 0, asks the stream to store the message only
	// if its subject's last message is at that stream sequence (a key's
	// revision: Nats-Expected-Last-Subject-Sequence); when it is not,
	// nothing is written and the Result says Conflict. It is the
	// compare-and-swap of a key written by several hands; a key not written
	// yet is expected with ExpectNew. Use Expect to set either.
	ExpectRevision uint64
}

// Expect returns m with the compare-and-swap of a key last seen at
// revision (0: not written yet, ExpectNew).
func (m Msg) Expect(revision uint64) Msg {
	m.ExpectNew, m.ExpectRevision = revision == 0, revision
	return m
}

// Result is what became of one Msg.
type Result struct {
	// Duplicate: the stream already held a message with the Msg's ID.
	Duplicate bool
	// Exists: ExpectNew, and the subject already held a message.
	Exists bool
	// Conflict: ExpectRevision, and the subject's last message was another
	// one (the key changed since it was read, or was never written).
	Conflict bool
}

// Refused reports whether the message was not stored because its subject
// was not as expected (Exists or Conflict).
func (r Result) Refused() bool { return r.Exists || r.Conflict }

// WriterOptions tune a Writer.
type WriterOptions struct {
	// MaxBatch bounds the messages of one atomic batch (default and
	// maximum MaxAtomicBatch).
	MaxBatch int
	// Linger is how long the writer, idle when a write arrives, waits for
	// more writes to group with it (0: none). Writes that arrive while a
	// batch is being committed are grouped into the next batch anyway.
	Linger time.Duration
	// Timeout bounds one commit: an acknowledgement that never comes fails
	// the writes of that batch, which their callers retry (default 20s).
	Timeout time.Duration
	// MinBatch is the fewest messages written as an atomic batch (default
	// DefaultMinBatch); fewer are written one at a time. The server stages
	// each atomic batch in a store of its own, which costs about as much
	// as storing that many messages one by one (BenchmarkWriterBatchSize).
	MinBatch int
}

// DefaultMinBatch is WriterOptions.MinBatch's default.
const DefaultMinBatch = 24

// Writer is the one write path of one stream. It groups the messages its
// callers hand it, in the order they arrive, into atomic batches of at
// most MaxBatch messages, and commits one batch at a time: with fsync on
// every write (--stream-sync=always) the server stores a whole batch with
// one fsync. The messages of one Write go into one batch when they fit,
// and into consecutive batches otherwise, so their order holds. A group
// smaller than MinBatch is written one message at a time, pipelined, in
// order: for so few, that is cheaper than a batch.
//
// The server refuses a whole batch when one of its messages is a
// duplicate (ID) or fails its ExpectNew or ExpectRevision check: the rare
// path after a crash, a redelivery or a concurrent change of a key. The writer then writes that batch's messages one at a
// time, each with the same checks, and reports each one's Result.
type Writer struct {
	js     jetstream.JetStream
	nc     *nats.Conn
	stream string
	opts   WriterOptions

	queue    chan *pending
	quit     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
}

// pending is one Write: its messages, and where its outcome goes.
type pending struct {
	msgs    []Msg
	results []Result
	err     error
	done    chan struct{}
	// whole: the messages are one atomic batch on their own, stored all
	// together or not at all (WriteAll); lastSeq is then the stream
	// sequence of the last one.
	whole   bool
	lastSeq uint64
}

// ErrWriterClosed is returned for a write to, or left in, a closed Writer.
var ErrWriterClosed = errors.New("the stream writer is closed")

// ErrRefused is returned by WriteAll when the stream refused the batch
// because one of its ExpectNew or ExpectRevision checks failed: nothing of
// it was stored.
var ErrRefused = errors.New("the stream refused the batch")

// NewWriter starts the writer of a stream; Close stops it.
func NewWriter(js jetstream.JetStream, streamName string, o WriterOptions) *Writer {
	if o.MaxBatch <= 0 || o.MaxBatch > MaxAtomicBatch {
		o.MaxBatch = MaxAtomicBatch
	}
	if o.Timeout <= 0 {
		o.Timeout = 20 * time.Second
	}
	if o.MinBatch <= 1 {
		o.MinBatch = DefaultMinBatch
	}
	w := &Writer{
		js: js, nc: js.Conn(), stream: streamName, opts: o,
		queue: make(chan *pending, 1024),
		quit:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	metrics.InitStream(streamName)
	go w.run()
	return w
}

// Write stores msgs and returns a Result per message, in order. An error
// means some of them may not be stored: the caller writes them all again
// (every write of the operator is idempotent through ID, ExpectNew or
// ExpectRevision).
func (w *Writer) Write(ctx context.Context, msgs ...Msg) ([]Result, error) {
	return w.Start(msgs...)(ctx)
}

// WriteAll stores msgs as one atomic batch of their own, all of them or
// none, and returns the stream sequence of the last one. When a check of
// one of them fails the error wraps ErrRefused and nothing is stored:
// unlike Write, there is no falling back to one message at a time. It is
// the write of a fenced owner (a compare-and-swap of a fence key riding
// with the data it guards). At most MaxAtomicBatch messages.
func (w *Writer) WriteAll(ctx context.Context, msgs ...Msg) (uint64, error) {
	if len(msgs) == 0 || len(msgs) > MaxAtomicBatch {
		return 0, fmt.Errorf("writing to %s: an atomic batch holds 1 to %d messages, not %d", w.stream, MaxAtomicBatch, len(msgs))
	}
	p := &pending{msgs: msgs, results: make([]Result, len(msgs)), done: make(chan struct{}), whole: true}
	if _, err := w.enqueue(p)(ctx); err != nil {
		return 0, err
	}
	return p.lastSeq, nil
}

// Start hands msgs to the writer at once and returns the wait for their
// outcome, so that a caller can overlap writes with other work.
func (w *Writer) Start(msgs ...Msg) func(context.Context) ([]Result, error) {
	if len(msgs) == 0 {
		return func(context.Context) ([]Result, error) { return nil, nil }
	}
	return w.enqueue(&pending{msgs: msgs, results: make([]Result, len(msgs)), done: make(chan struct{})})
}

// enqueue queues p and returns the wait for its outcome.
func (w *Writer) enqueue(p *pending) func(context.Context) ([]Result, error) {
	closed := func(context.Context) ([]Result, error) { return nil, ErrWriterClosed }
	select {
	case <-w.quit:
		return closed
	default:
	}
	select {
	case w.queue <- p:
	case <-w.quit:
		return closed
	}
	return func(ctx context.Context) ([]Result, error) {
		select {
		case <-p.done:
			return p.results, p.err
		case <-w.done:
			// The writer stopped; a write it took up has its outcome, one
			// still queued never will.
			select {
			case <-p.done:
				return p.results, p.err
			default:
				return nil, ErrWriterClosed
			}
		case <-ctx.Done():
			return nil, fmt.Errorf("writing to %s: %w", w.stream, ctx.Err())
		}
	}
}

// Close stops the writer after the batch it is committing; writes still
// queued fail with ErrWriterClosed.
func (w *Writer) Close() {
	w.stopOnce.Do(func() { close(w.quit) })
	<-w.done
}

func (w *Writer) run() {
	defer close(w.done)
	var carry *pending // a write that did not fit in the previous group
	for {
		first := carry
		if first == nil {
			select {
			case first = <-w.queue:
			case <-w.quit:
				w.failQueued()
				return
			}
		}
		var group []*pending
		group, carry = w.gather(first)
		w.commitGroup(group)
	}
}

// gather groups first with the writes already queued, then those arriving
// within the linger, up to MaxBatch messages. It also returns a write that
// would overflow the group, for the next one.
func (w *Writer) gather(first *pending) (group []*pending, carry *pending) {
	group = []*pending{first}
	if first.whole {
		return group, nil // a batch of its own
	}
	n := len(first.msgs)
	var linger <-chan time.Time
	if w.opts.Linger > 0 {
		t := time.NewTimer(w.opts.Linger)
		defer t.Stop()
		linger = t.C
	}
	for n < w.opts.MaxBatch {
		var p *pending
		if linger == nil {
			select {
			case p = <-w.queue:
			default:
				return group, nil
			}
		} else {
			select {
			case p = <-w.queue:
			case <-linger:
				return group, nil
			case <-w.quit:
				return group, nil
			}
		}
		if p.whole || n+len(p.msgs) > w.opts.MaxBatch {
			return group, p
		}
		group = append(group, p)
		n += len(p.msgs)
	}
	return group, nil
}

func (w *Writer) failQueued() {
	for {
		select {
		case p := <-w.queue:
			p.err = ErrWriterClosed
			close(p.done)
		default:
			return
		}
	}
}

// slot is where one message of a group reports its outcome.
type slot struct {
	p *pending
	i int
}

// commitGroup commits the group's messages in batches of at most MaxBatch,
// in order, and tells every write its outcome. After a failed batch the
// rest are not tried: their writers retry, in order.
func (w *Writer) commitGroup(group []*pending) {
	if len(group) == 1 && group[0].whole {
		w.commitWhole(group[0])
		return
	}
	slots := make([]slot, 0, w.opts.MaxBatch)
	for _, p := range group {
		for i := range p.msgs {
			slots = append(slots, slot{p, i})
		}
	}
	var err error
	for len(slots) > 0 && err == nil {
		chunk := slots[:min(len(slots), w.opts.MaxBatch)]
		slots = slots[len(chunk):]
		if err = w.commit(chunk); err != nil {
			for _, s := range chunk {
				s.p.err = err
			}
			for _, s := range slots {
				s.p.err = err
			}
		}
	}
	for _, p := range group {
		close(p.done)
	}
}

// commit writes one chunk as an atomic batch, or one message at a time
// when the chunk is smaller than MinBatch or the stream refused the batch.
func (w *Writer) commit(chunk []slot) error {
	ctx, cancel := context.WithTimeout(context.Background(), w.opts.Timeout)
	defer cancel()
	if len(chunk) < w.opts.MinBatch {
		return w.oneByOne(ctx, chunk)
	}
	refused, err := w.atomic(ctx, chunk)
	if err != nil {
		return err
	}
	if refused != nil {
		metrics.StreamFellBack(w.stream)
		return w.oneByOne(ctx, chunk)
	}
	metrics.WroteStream(w.stream, len(chunk), 1)
	return nil
}

// commitWhole commits a WriteAll: one atomic batch, whatever its size, and
// no second try one by one.
func (w *Writer) commitWhole(p *pending) {
	defer close(p.done)
	ctx, cancel := context.WithTimeout(context.Background(), w.opts.Timeout)
	defer cancel()
	chunk := make([]slot, len(p.msgs))
	for i := range chunk {
		chunk[i] = slot{p, i}
	}
	refused, err := w.atomic(ctx, chunk)
	switch {
	case err != nil:
		p.err = err
	case refused != nil && (refused.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		refused.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant):
		p.err = fmt.Errorf("writing to %s: %w: %s", w.stream, ErrRefused, refused.Description)
	case refused != nil:
		p.err = fmt.Errorf("writing a batch of %d to %s: %w", len(chunk), w.stream, refused)
	default:
		metrics.WroteStream(w.stream, len(chunk), 1)
	}
}

// batchAck is the server's answer to a batch's commit.
type batchAck struct {
	Batch string              `json:"batch"`
	Count int                 `json:"count"`
	Seq   uint64              `json:"seq"`
	Error *jetstream.APIError `json:"error,omitempty"`
}

// atomic publishes chunk as one atomic batch. It returns the server's
// refusal when the stream refused the batch (nothing of it is stored),
// and an error when the outcome is unknown.
func (w *Writer) atomic(ctx context.Context, chunk []slot) (*jetstream.APIError, error) {
	batchID := nuid.Next()
	for i, s := range chunk {
		msg := w.message(s.p.msgs[s.i])
		msg.Header.Set(hdrBatchID, batchID)
		msg.Header.Set(hdrBatchSeq, strconv.Itoa(i+1))
		if i < len(chunk)-1 {
			// No reply: the server stages the message and answers the
			// commit for the whole batch.
			if err := w.nc.PublishMsg(msg); err != nil {
				return nil, fmt.Errorf("writing a batch to %s: %w", w.stream, err)
			}
			if i == (len(chunk)-1)/2 && crashArmed(w.stream, len(chunk)) {
				_ = w.nc.Flush() // half the batch staged on the server
				maybeCrash(w.stream)
			}
			continue
		}
		msg.Header.Set(hdrBatchCommit, "1")
		reply, err := w.nc.RequestMsgWithContext(ctx, msg)
		if err != nil {
			return nil, fmt.Errorf("committing a batch of %d to %s: %w", len(chunk), w.stream, err)
		}
		var ack batchAck
		if err := json.Unmarshal(reply.Data, &ack); err != nil {
			return nil, fmt.Errorf("committing a batch to %s: unreadable answer %q: %w", w.stream, reply.Data, err)
		}
		if ack.Error != nil {
			return ack.Error, nil
		}
		if ack.Batch != batchID || ack.Count != len(chunk) {
			return nil, fmt.Errorf("committing batch %s of %d to %s: the server acknowledged batch %q of %d", batchID, len(chunk), w.stream, ack.Batch, ack.Count)
		}
		s.p.lastSeq = ack.Seq
	}
	return nil, nil
}

// oneByOne writes chunk one message at a time, each with its own checks,
// pipelined on the connection (so in order), and records each outcome.
func (w *Writer) oneByOne(ctx context.Context, chunk []slot) error {
	if len(chunk) == 1 {
		// A lone message: a plain request is quicker than the
		// asynchronous machinery.
		s := chunk[0]
		ack, err := w.js.PublishMsg(ctx, w.message(s.p.msgs[s.i]))
		metrics.WroteStream(w.stream, 1, 1)
		return w.record(s, ack, err)
	}
	futures := make([]jetstream.PubAckFuture, len(chunk))
	for i, s := range chunk {
		f, err := w.js.PublishMsgAsync(w.message(s.p.msgs[s.i]))
		if err != nil {
			return fmt.Errorf("writing to %s: %w", w.stream, err)
		}
		futures[i] = f
	}
	var errs []error
	for i, f := range futures {
		select {
		case ack := <-f.Ok():
			errs = append(errs, w.record(chunk[i], ack, nil))
		case err := <-f.Err():
			errs = append(errs, w.record(chunk[i], nil, err))
		case <-ctx.Done():
			return fmt.Errorf("writing to %s: %w", w.stream, ctx.Err())
		}
	}
	metrics.WroteStream(w.stream, len(chunk), len(chunk))
	return errors.Join(errs...)
}

// record sets the Result of one message written on its own: stored (a
// duplicate or not), already there when it had to be new, or in conflict
// when its subject was not at the expected revision. Any other failure is
// returned.
func (w *Writer) record(s slot, ack *jetstream.PubAck, err error) error {
	m := s.p.msgs[s.i]
	switch {
	case err == nil:
		s.p.results[s.i] = Result{Duplicate: ack.Duplicate}
	case m.ExpectNew && wrongLastSequence(err):
		s.p.results[s.i] = Result{Exists: true}
	case m.ExpectRevision != 0 && wrongLastSequence(err):
		s.p.results[s.i] = Result{Conflict: true}
	default:
		return fmt.Errorf("writing to %s on %s: %w", w.stream, m.Subject, err)
	}
	return nil
}

// message builds the NATS message of m with its checks.
func (w *Writer) message(m Msg) *nats.Msg {
	msg := &nats.Msg{Subject: m.Subject, Data: m.Data, Header: nats.Header{}}
	for k, v := range m.Header {
		msg.Header[k] = v
	}
	if m.ID != "" {
		msg.Header.Set(hdrMsgID, m.ID)
	}
	switch {
	case m.ExpectNew:
		msg.Header.Set(hdrExpectedLastSeq, "0")
	case m.ExpectRevision != 0:
		msg.Header.Set(hdrExpectedLastSeq, strconv.FormatUint(m.ExpectRevision, 10))
	}
	return msg
}

// wrongLastSequence reports whether a publish was refused because its
// subject's last message was not the expected one (a message when none
// was expected, another one, or the subject busy in a batch under way).
func wrongLastSequence(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) &&
		(apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
			apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}
