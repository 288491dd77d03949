package controllers

import (
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// DefaultWarningWindow is how long a trigger's Warning Event of one reason
// silences the next of the same reason.
const DefaultWarningWindow = 5 * time.Minute

// Warnings records Warning Events about triggers, at most one per trigger
// and reason per Window: a webhook failing on every firing, or a Secret
// missing at every resync, says so once in a while rather than on every
// attempt. The recorder aggregates what passes (an Event series). One
// Warnings is shared by the writers that warn, so that the limit holds
// per trigger whoever warns. A nil Warnings, or one without a Recorder,
// records nothing.
type Warnings struct {
	Recorder events.EventRecorder
	// Window between two Events of one trigger and reason
	// (DefaultWarningWindow when 0).
	Window time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Elected, when set, holds Events back until it is closed: only the
	// leader records them.
	Elected <-chan struct{}

	mu   sync.Mutex
	last map[warningKey]time.Time
}

type warningKey struct {
	trigger types.NamespacedName
	reason  string
}

// Warn records a Warning Event on obj with the reason, the action that
// failed and the note, unless one of that reason was recorded for obj
// within the window.
func (w *Warnings) Warn(obj client.Object, reason, action, note string) {
	if w == nil || w.Recorder == nil || !leading(w.Elected) || !w.allow(client.ObjectKeyFromObject(obj), reason) {
		return
	}
	w.Recorder.Eventf(obj, nil, corev1.EventTypeWarning, reason, action, "%s", note)
}

// allow reports whether an Event of the reason may be recorded for the
// trigger now, and if so counts it.
func (w *Warnings) allow(trigger types.NamespacedName, reason string) bool {
	now := time.Now
	if w.Now != nil {
		now = w.Now
	}
	window := w.Window
	if window <= 0 {
		window = DefaultWarningWindow
	}
	at := now()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.last == nil {
		w.last = map[warningKey]time.Time{}
	}
	key := warningKey{trigger: trigger, reason: reason}
	if prev, ok := w.last[key]; ok && at.Sub(prev) < window {
		return false
	}
	// Forget what the window no longer covers, so the map stays as large
	// as the triggers warned about lately.
	for k, t := range w.last {
		if at.Sub(t) >= window {
			delete(w.last, k)
		}
	}
	w.last[key] = at
	return true
}
