package controllers

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"

	triggersv1alpha1 "github.com/leadvibe/milestone-triggers-operator/api/v1alpha1"
	"github.com/leadvibe/milestone-triggers-operator/internal/history"
	"github.com/leadvibe/milestone-triggers-operator/internal/ledger"
	"github.com/leadvibe/milestone-triggers-operator/internal/notify"
	"github.com/leadvibe/milestone-triggers-operator/internal/record"
	"github.com/leadvibe/milestone-triggers-operator/internal/stream"
	"github.com/leadvibe/milestone-triggers-operator/internal/text"
)

// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// maxErrorLength bounds a delivery error kept in status.
const maxErrorLength = 1024

// failingWarningAfter is how many consecutive failed attempts of a channel
// make a DeliveryFailing Warning Event.
const failingWarningAfter = 2

// StatusProjector is the one writer of what a trigger has done: the
// firing summary (firedCount, lastFiredTime, lastFiring), from the firing
// outbox, and delivery health (status.deliveries and the Delivering
// condition), from the delivery history. It reads both streams in order,
// each from its own durable checkpoint (ledger.StatusCheckpoint,
// ledger.HistoryCheckpoint), and applies each busy trigger once per
// Interval, whatever it fired and attempted meanwhile, by server-side apply
// under StatusFieldManager. Each trigger's status records the positions it
// has folded up to (firingSequence, historySequence), so what a restart
// reads again is not counted twice; the checkpoints move once a flush has
// applied everything read before it. It records a Fired Event per apply
// that counted firings, and Warning Events for channels that fail
// repeatedly or give a firing up. It is a manager Runnable that needs
// leader election.
type StatusProjector struct {
	Client client.Client
	// Reader reads the trigger before an apply; an uncached reader (the
	// manager's APIReader), so that a cache behind the projector's own last
	// apply cannot make it fold onto older figures. Client when nil.
	Reader   client.Reader
	JS       jetstream.JetStream
	Ledger   *ledger.Ledger
	Recorder events.EventRecorder
	// Warnings records the Warning Events of failing deliveries and dead
	// letters (none when nil).
	Warnings *Warnings
	// EmailEnabled says the operator sends email (--smtp-addr); without
	// it, a trigger with emails is not Delivering (EmailDisabled).
	EmailEnabled bool
	Log          logr.Logger
	// Interval between applies to one trigger (default 2s).
	Interval time.Duration

	mu      sync.Mutex
	pending map[types.NamespacedName]*tally
	// read is how far each stream has been read into pending.
	readFirings, readHistory uint64
}

// tally is what one trigger did since its last apply: its firings (outbox
// sequences, and the newest firing, which is all the status shows of
// them) and its attempts (history sequences, in order).
type tally struct {
	uid        types.UID
	firingSeqs []uint64
	newest     ledger.Firing
	attempts   []seqAttempt
}

type seqAttempt struct {
	seq uint64
	a   history.Record
}

// NeedLeaderElection implements manager.LeaderElectionRunnable.
func (p *StatusProjector) NeedLeaderElection() bool { return true }

// Start reads both streams and applies until ctx ends.
func (p *StatusProjector) Start(ctx context.Context) error {
	if p.Interval <= 0 {
		p.Interval = 2 * time.Second
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	firings, err := p.open(ctx, stream.FiringsStream, ledger.StatusCheckpoint, false)
	if err != nil {
		return err
	}
	defer firings.Stop()
	attempts, err := p.open(ctx, stream.HistoryStream, ledger.HistoryCheckpoint, true)
	if err != nil {
		return err
	}
	defer attempts.Stop()

	errs := make(chan error, 2)
	var readers sync.WaitGroup
	readers.Add(2)
	go func() { defer readers.Done(); errs <- p.read(ctx, firings, p.addFiring) }()
	go func() { defer readers.Done(); errs <- p.read(ctx, attempts, p.addAttempt) }()
	defer func() { cancel(); readers.Wait() }()

	tick := time.NewTicker(p.Interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-errs:
			if err != nil && ctx.Err() == nil {
				return err
			}
		case <-tick.C:
			p.flush(ctx)
		}
	}
}

// open reads streamName from its checkpoint. Without one, fromEnd starts
// at the stream's end rather than its start: the history was folded into
// status in memory before it had a checkpoint, and an upgraded operator
// must not fold it again.
func (p *StatusProjector) open(ctx context.Context, streamName, checkpoint string, fromEnd bool) (jetstream.MessagesContext, error) {
	seq, err := p.Ledger.LoadCheckpoint(ctx, checkpoint)
	if err != nil {
		return nil, err
	}
	if seq == 0 && fromEnd {
		st, err := p.JS.Stream(ctx, streamName)
		if err != nil {
			return nil, fmt.Errorf("reading stream %s: %w", streamName, err)
		}
		seq = st.CachedInfo().State.LastSeq
	}
	consumer, err := ledger.OrderedFrom(ctx, p.JS, streamName, seq)
	if err != nil {
		return nil, err
	}
	return consumer.Messages(jetstream.PullMaxMessages(1000))
}

// read hands every message of msgs to add until ctx ends.
func (p *StatusProjector) read(ctx context.Context, msgs jetstream.MessagesContext, add func(seq uint64, data []byte)) error {
	for {
		msg, err := msgs.Next(jetstream.NextMaxWait(time.Second))
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, jetstream.ErrNoMessages), isTimeout(err):
			continue
		case err != nil:
			return fmt.Errorf("reading for status: %w", err)
		}
		md, err := msg.Metadata()
		if err != nil {
			continue
		}
		add(md.Sequence.Stream, msg.Data())
	}
}

// entry returns the tally of a trigger; called with p.mu held.
func (p *StatusProjector) entry(key types.NamespacedName) *tally {
	if p.pending == nil {
		p.pending = map[types.NamespacedName]*tally{}
	}
	t := p.pending[key]
	if t == nil {
		t = &tally{}
		p.pending[key] = t
	}
	return t
}

func (p *StatusProjector) addFiring(seq uint64, data []byte) {
	f, err := ledger.DecodeFiring(data)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.readFirings = seq
	if err != nil {
		p.Log.Error(err, "Skipping an unreadable firing", "sequence", seq)
		return
	}
	t := p.entry(types.NamespacedName{Namespace: f.OU, Name: f.Trigger})
	if t.uid != types.UID(f.TriggerUID) {
		// A trigger deleted and created again under the same name: its
		// firings so far were the old one's.
		t.uid, t.firingSeqs = types.UID(f.TriggerUID), nil
	}
	// The outbox is read in order, so each firing is the trigger's newest.
	t.firingSeqs = append(t.firingSeqs, seq)
	t.newest = f
}

func (p *StatusProjector) addAttempt(seq uint64, data []byte) {
	r, err := history.Decode(data)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.readHistory = seq
	switch {
	case err != nil:
		p.Log.Error(err, "Skipping an unreadable history record", "sequence", seq)
		return
	case r.Kind != record.KindAttempt, r.Channel == notify.WaitingForTrigger:
		return // a firing, or no channel: no health to report
	}
	t := p.entry(types.NamespacedName{Namespace: r.OU, Name: r.Trigger})
	t.attempts = append(t.attempts, seqAttempt{seq: seq, a: r})
}

// flush applies every trigger with a tally. Those that failed stay for
// the next flush; the checkpoints move to what was read before the flush
// only once every trigger was applied.
func (p *StatusProjector) flush(ctx context.Context) {
	p.mu.Lock()
	batch, firingsThrough, historyThrough := p.pending, p.readFirings, p.readHistory
	p.pending = nil
	p.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	failed := false
	for key, t := range batch {
		err := p.apply(ctx, key, t)
		switch {
		case err == nil, apierrors.IsNotFound(err):
		default:
			failed = true
			p.Log.V(1).Info("Status apply failed; retrying at the next interval", "trigger", key, "error", err.Error())
			p.mu.Lock()
			p.requeue(key, t)
			p.mu.Unlock()
		}
	}
	if failed {
		return
	}
	for name, seq := range map[string]uint64{ledger.StatusCheckpoint: firingsThrough, ledger.HistoryCheckpoint: historyThrough} {
		if seq == 0 {
			continue
		}
		if err := p.Ledger.SaveCheckpoint(ctx, name, seq); err != nil {
			p.Log.Error(err, "Saving a status checkpoint; a restart will re-read what was applied, and skip it", "checkpoint", name)
		}
	}
}

// requeue puts a tally that failed back before what was read since;
// called with p.mu held.
func (p *StatusProjector) requeue(key types.NamespacedName, old *tally) {
	t := p.entry(key)
	if t.uid == "" || t.uid == old.uid {
		t.uid = old.uid
		t.firingSeqs = append(old.firingSeqs, t.firingSeqs...)
		if len(t.firingSeqs) == len(old.firingSeqs) {
			t.newest = old.newest
		}
	}
	t.attempts = append(old.attempts, t.attempts...)
}

// apply folds t into the trigger's status and applies what the projector
// owns of it.
func (p *StatusProjector) apply(ctx context.Context, key types.NamespacedName, t *tally) error {
	obj := &triggersv1alpha1.MilestoneTrigger{}
	if err := p.reader().Get(ctx, key, obj); err != nil {
		return err
	}
	counted := p.foldFirings(obj, t)
	deadLettered := foldAttempts(obj, t)
	if counted == 0 && deadLettered == nil {
		return nil // all of it was applied before a restart
	}
	owned := triggersv1alpha1.MilestoneTriggerStatus{
		FiredCount:      obj.Status.FiredCount,
		LastFiredTime:   obj.Status.LastFiredTime,
		LastFiring:      obj.Status.LastFiring,
		FiringSequence:  obj.Status.FiringSequence,
		HistorySequence: obj.Status.HistorySequence,
		Deliveries:      obj.Status.Deliveries,
	}
	if cond := deliveringCondition(obj, p.EmailEnabled, deadLettered); cond != nil {
		meta.SetStatusCondition(&obj.Status.Conditions, *cond)
		owned.Conditions = []metav1.Condition{*meta.FindStatusCondition(obj.Status.Conditions, cond.Type)}
	}
	// The projector is the one owner of these fields, and reads them
	// uncached: no other write can interleave.
	if err := applyStatus(ctx, p.Client, obj, StatusFieldManager, owned); err != nil {
		return err
	}
	if counted > 0 && p.Recorder != nil {
		newest := t.newest
		note := fmt.Sprintf("Fired for lead %s (score %d, event %s)", newest.Event.LeadID, newest.Score, newest.Event.ID)
		if counted > 1 {
			note = fmt.Sprintf("Fired %d times; last for lead %s (score %d, event %s)", counted, newest.Event.LeadID, newest.Score, newest.Event.ID)
		}
		p.Recorder.Eventf(obj, nil, corev1.EventTypeNormal, "Fired", "Fire", "%s", note)
	}
	p.warn(obj, deadLettered)
	return nil
}

// foldFirings counts the firings of t not counted before (beyond the
// status's firingSequence) and returns how many.
func (p *StatusProjector) foldFirings(obj *triggersv1alpha1.MilestoneTrigger, t *tally) int64 {
	if len(t.firingSeqs) == 0 || obj.UID != t.uid {
		return 0 // none, or they belong to a deleted trigger of the same name
	}
	var counted int64
	for _, seq := range t.firingSeqs {
		if int64(seq) > obj.Status.FiringSequence {
			counted++
			obj.Status.FiringSequence = int64(seq)
		}
	}
	if counted == 0 {
		return 0
	}
	newest := t.newest
	firedAt := metav1.NewTime(newest.FiredAt)
	obj.Status.FiredCount += counted
	obj.Status.LastFiredTime = &firedAt
	obj.Status.LastFiring = &triggersv1alpha1.FiringSummary{
		LeadID:    newest.Event.LeadID,
		EventID:   newest.Event.ID,
		EventType: newest.Event.EventType,
		Score:     newest.Score,
		FiringID:  newest.ID,
	}
	return counted
}

// foldAttempts folds the attempts of t not folded before (beyond the
// status's historySequence) into the channels' health. It returns, per
// channel attempted, whether its last attempt gave the firing up; nil when
// there was none.
func foldAttempts(obj *triggersv1alpha1.MilestoneTrigger, t *tally) map[triggersv1alpha1.Channel]bool {
	var deadLettered map[triggersv1alpha1.Channel]bool
	for _, sa := range t.attempts {
		if int64(sa.seq) <= obj.Status.HistorySequence {
			continue
		}
		obj.Status.HistorySequence = int64(sa.seq)
		applyAttempt(&obj.Status, sa.a)
		if deadLettered == nil {
			deadLettered = map[triggersv1alpha1.Channel]bool{}
		}
		deadLettered[triggersv1alpha1.Channel(sa.a.Channel)] = sa.a.Outcome == notify.OutcomeDeadLettered
	}
	return deadLettered
}

// applyAttempt folds one attempt into the channel's health.
func applyAttempt(status *triggersv1alpha1.MilestoneTriggerStatus, a history.Record) {
	channel := triggersv1alpha1.Channel(a.Channel)
	var h *triggersv1alpha1.DeliveryHealth
	for i := range status.Deliveries {
		if status.Deliveries[i].Channel == channel {
			h = &status.Deliveries[i]
		}
	}
	if h == nil {
		status.Deliveries = append(status.Deliveries, triggersv1alpha1.DeliveryHealth{Channel: channel})
		h = &status.Deliveries[len(status.Deliveries)-1]
	}
	if a.Destination != "" && a.Destination != h.Destination {
		// A changed destination (the trigger was edited): the old error,
		// and the failures counted, were about the old one.
		if h.Destination != "" {
			h.LastError, h.LastErrorTime, h.ConsecutiveFailures = "", nil, 0
		}
		h.Destination = text.ClipBytes(a.Destination, 500)
	}
	at := metav1.NewTime(a.At.Truncate(time.Second))
	if a.Error == "" {
		h.LastSuccessTime = &at
		h.ConsecutiveFailures = 0
		return
	}
	h.LastErrorTime = &at
	h.LastError = clipError(a.Error)
	h.ConsecutiveFailures++
	if a.Outcome == notify.OutcomeDeadLettered {
		h.DeadLettered++
	}
}

// warn records what the attempts of one apply say is wrong, for each
// channel they were on (deadLettered has a key per channel): a dead
// letter, else repeated failures.
func (p *StatusProjector) warn(obj *triggersv1alpha1.MilestoneTrigger, deadLettered map[triggersv1alpha1.Channel]bool) {
	for _, h := range obj.Status.Deliveries {
		gaveUp, attempted := deadLettered[h.Channel]
		switch {
		case !attempted:
		case gaveUp:
			p.Warnings.Warn(obj, triggersv1alpha1.ReasonDeadLettered, "Deliver",
				fmt.Sprintf("Channel %s gave a firing up after %d consecutive failed attempts; last error: %s", h.Channel, h.ConsecutiveFailures, h.LastError))
		case h.ConsecutiveFailures >= failingWarningAfter:
			p.Warnings.Warn(obj, triggersv1alpha1.ReasonDeliveryFailing, "Deliver",
				fmt.Sprintf("Channel %s: %d consecutive failed attempts; last error: %s", h.Channel, h.ConsecutiveFailures, h.LastError))
		}
	}
}

func (p *StatusProjector) reader() client.Reader {
	if p.Reader != nil {
		return p.Reader
	}
	return p.Client
}

func clipError(s string) string {
	return text.ClipBytes(s, maxErrorLength-len(text.Ellipsis))
}

func isTimeout(err error) bool {
	return errors.Is(err, nats.ErrTimeout) || errors.Is(err, context.DeadlineExceeded)
}
