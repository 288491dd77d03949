// Package evaluator decides which milestone triggers of one Organizational
// Unit (OU) fire for a lead's engagement event.
//
// It implements the firing semantics of SPEC section 4 as a pure function
// over its inputs: the OU's triggers (an [Index]), what is remembered of the
// lead (a [LeadState]) and the event. It does no I/O, reads no clock (a
// cooldown is measured by the events' own times) and starts no goroutines;
// storing lead state durably and delivering firings exactly once belong to
// the callers.
//
// For a trigger with threshold t and rearm level r (its RearmBelow when set
// below t, else t), a lead whose score was p before the event and an event
// with score n:
//
//   - Armed: a lead never seen is armed; a lead at or above t is not; a
//     lead below t is armed unless it has not dropped below r since it was
//     last at or above t. With r = t that is simply p < t.
//   - Crossing: an armed lead with n >= t crosses. The crossing fires the
//     trigger when it has no event type or the event is of its type;
//     otherwise it becomes pending.
//   - Cooldown: a crossing within the trigger's Cooldown of its last firing
//     for the lead, by the events' times, neither fires nor becomes pending.
//   - Pending: while the lead stays at or above r, the first later event of
//     the trigger's type at a score at or above t fires it and clears the
//     pending crossing.
//   - Re-arm: a score below r clears any pending crossing, so the next
//     crossing can fire again.
//   - Nothing else fires. Inactive triggers never fire and keep no pending
//     crossings.
//
// A pending crossing remembers the trigger's name, UID and threshold. It is
// dropped without firing when the trigger it was recorded for no longer
// exists in the index with that UID, is inactive, or has another threshold,
// so a trigger re-created, deactivated or re-thresholded while the lead is
// above its threshold does not fire until a new crossing. The lead's
// Disarmed and Cooldowns entries are dropped the same way, and as soon as
// they no longer matter: a Disarmed entry when the lead re-arms or is back
// at or above the threshold, a Cooldown when it has run out at the lead's
// next event.
//
// Evaluating an event costs O(log T + k) for T triggers and k triggers
// crossed or dropped below plus the lead's pending, disarmed and cooldown
// entries, and allocates nothing beyond growing the caller's buffers.
package evaluator
