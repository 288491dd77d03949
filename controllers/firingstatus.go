package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"

	triggersv1alpha1 "github.com/leadvibe/milestone-triggers-operator/api/v1alpha1"
	"github.com/leadvibe/milestone-triggers-operator/internal/ledger"
	"github.com/leadvibe/milestone-triggers-operator/internal/stream"
)

// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// FiringStatusWriter folds the firing outbox into each trigger's status:
// firedCount, lastFiredTime and lastFiring, plus a Kubernetes Event. It
// patches each trigger at most once per Interval however often it fires,
// so a burst of firings costs a handful of API writes. Each trigger's
// status records the outbox position it has counted up to
// (firingSequence), so a firing redelivered after a restart is not
// counted twice, and the writer reads the outbox in order from its
// checkpoint, which it moves once a flush has patched everything before
// it. It is a manager Runnable that needs leader election.
type FiringStatusWriter struct {
	Client   client.Client
	JS       jetstream.JetStream
	Ledger   *ledger.Ledger
	Recorder events.EventRecorder
	Log      logr.Logger
	// Interval between status patches of one trigger (default 2s).
	Interval time.Duration
}

// NeedLeaderElection implements manager.LeaderElectionRunnable.
func (w *FiringStatusWriter) NeedLeaderElection() bool { return true }

// firingTally is what one trigger fired since its last patch: the outbox
// sequences of its firings (to skip those a restart re-reads) and the
// newest firing, which is all the status shows of them.
type firingTally struct {
	uid    types.UID
	seqs   []uint64
	newest ledger.Firing
}

// Start consumes the outbox until ctx ends.
func (w *FiringStatusWriter) Start(ctx context.Context) error {
	if w.Interval <= 0 {
		w.Interval = 2 * time.Second
	}
	checkpoint, err := w.Ledger.LoadCheckpoint(ctx, ledger.StatusCheckpoint)
	if err != nil {
		return err
	}
	consumer, err := ledger.OrderedFrom(ctx, w.JS, stream.FiringsStream, checkpoint)
	if err != nil {
		return err
	}
	msgs, err := consumer.Messages(jetstream.PullMaxMessages(1000))
	if err != nil {
		return err
	}
	defer msgs.Stop()

	pending := map[types.NamespacedName]*firingTally{}
	var last uint64 // outbox sequence of the newest firing read
	flushAt := time.Now().Add(w.Interval)
	for {
		msg, err := msgs.Next(jetstream.NextMaxWait(min(w.Interval, time.Until(flushAt)+time.Millisecond)))
		switch {
		case ctx.Err() != nil:
			return nil
		case err == nil:
			if seq := w.add(pending, msg); seq > last {
				last = seq
			}
		case !errors.Is(err, jetstream.ErrNoMessages) && !isTimeout(err):
			return fmt.Errorf("consuming firings: %w", err)
		}
		if time.Now().Before(flushAt) {
			continue
		}
		flushAt = time.Now().Add(w.Interval)
		if len(pending) == 0 {
			continue
		}
		if w.flush(ctx, pending) {
			if err := w.Ledger.SaveCheckpoint(ctx, ledger.StatusCheckpoint, last); err != nil {
				w.Log.Error(err, "Saving the status checkpoint; a restart will re-read firings already counted, and skip them")
			}
		}
	}
}

// add tallies one firing and returns its outbox sequence.
func (w *FiringStatusWriter) add(pending map[types.NamespacedName]*firingTally, msg jetstream.Msg) uint64 {
	meta, err := msg.Metadata()
	if err != nil {
		return 0
	}
	f, err := ledger.DecodeFiring(msg.Data())
	if err != nil {
		w.Log.Error(err, "Skipping an unreadable firing", "sequence", meta.Sequence.Stream)
		return meta.Sequence.Stream
	}
	key := types.NamespacedName{Namespace: f.OU, Name: f.Trigger}
	t := pending[key]
	if t == nil || t.uid != types.UID(f.TriggerUID) {
		t = &firingTally{uid: types.UID(f.TriggerUID)}
		pending[key] = t
	}
	// The outbox is read in order, so each firing is the trigger's newest.
	t.seqs = append(t.seqs, meta.Sequence.Stream)
	t.newest = f
	return meta.Sequence.Stream
}

// flush patches every trigger with a tally. It reports whether all
// succeeded; the tallies that failed stay for the next flush, and the
// outbox is acknowledged only once nothing is left.
func (w *FiringStatusWriter) flush(ctx context.Context, pending map[types.NamespacedName]*firingTally) bool {
	for key, t := range pending {
		err := w.patch(ctx, key, t)
		switch {
		case err == nil, apierrors.IsNotFound(err):
			delete(pending, key)
		default:
			w.Log.V(1).Info("Status patch failed; retrying at the next interval", "trigger", key, "error", err.Error())
		}
	}
	return len(pending) == 0
}

func (w *FiringStatusWriter) patch(ctx context.Context, key types.NamespacedName, t *firingTally) error {
	obj := &triggersv1alpha1.MilestoneTrigger{}
	if err := w.Client.Get(ctx, key, obj); err != nil {
		return err
	}
	if obj.UID != t.uid {
		return nil // the firings belong to a deleted trigger of the same name
	}
	base := obj.DeepCopy()
	var counted int64
	var last uint64
	for _, seq := range t.seqs {
		if int64(seq) > obj.Status.FiringSequence { // not counted before a restart
			counted++
			last = seq
		}
	}
	if counted == 0 {
		return nil
	}
	newest := t.newest
	obj.Status.FiredCount += counted
	obj.Status.FiringSequence = int64(last)
	firedAt := metav1.NewTime(newest.FiredAt)
	obj.Status.LastFiredTime = &firedAt
	obj.Status.LastFiring = &triggersv1alpha1.FiringSummary{
		LeadID:    newest.Event.LeadID,
		EventID:   newest.Event.ID,
		EventType: newest.Event.EventType,
		Score:     newest.Score,
		FiringID:  newest.ID,
	}
	if err := w.Client.Status().Patch(ctx, obj, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
		return err
	}
	if w.Recorder != nil {
		note := fmt.Sprintf("Fired for lead %s (score %d, event %s)", newest.Event.LeadID, newest.Score, newest.Event.ID)
		if counted > 1 {
			note = fmt.Sprintf("Fired %d times; last for lead %s (score %d, event %s)", counted, newest.Event.LeadID, newest.Score, newest.Event.ID)
		}
		w.Recorder.Eventf(obj, nil, corev1.EventTypeNormal, "Fired", "Fire", "%s", note)
	}
	return nil
}

func isTimeout(err error) bool {
	return errors.Is(err, nats.ErrTimeout) || errors.Is(err, context.DeadlineExceeded)
}
