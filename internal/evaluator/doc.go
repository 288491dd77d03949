// Package evaluator decides which milestone triggers of one Organizational
// Unit (OU) fire for a lead's engagement event.
//
// It implements the firing semantics of SPEC section 4 as a pure function
// over its inputs: the OU's triggers (an [Index]), what is remembered of the
// lead (a [LeadState]) and the event. It does no I/O, reads no clock and
// starts no goroutines; storing lead state durably and delivering firings
// exactly once belong to the callers.
//
// For a trigger with threshold t, a lead whose score was p before the event
// and an event with score n:
//
//   - Crossing: p < t <= n fires the trigger when it has no event type or the
//     event is of its type; otherwise the crossing becomes pending.
//   - Pending: while the lead stays at or above t, the first later event of
//     the trigger's type fires it and clears the pending crossing.
//   - Re-arm: a score below t clears any pending crossing, so the next
//     crossing can fire again.
//   - Nothing else fires, and a lead never seen before counts as below every
//     threshold. Inactive triggers never fire and keep no pending crossings.
//
// A pending crossing remembers the trigger's name, UID and threshold. It is
// dropped without firing when the trigger it was recorded for no longer
// exists in the index with that UID, is inactive, or has another threshold,
// so a trigger re-created, deactivated or re-thresholded while the lead is
// above its threshold does not fire until a new crossing.
//
// Evaluating an event costs O(log T + k) for T triggers and k triggers
// crossed plus the lead's pending crossings, and allocates nothing beyond
// growing the caller's buffers.
package evaluator
