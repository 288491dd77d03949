package v1alpha1

// Condition types of a MilestoneTrigger.
const (
	// ReadyCondition is True when the trigger's definition was accepted and
	// handed to the evaluator, and False when it cannot be (see the reason).
	ReadyCondition = "Ready"
	// DeliveringCondition is True while every notification channel of the
	// trigger delivers, and False with a reason while one keeps failing.
	// It appears once the trigger has had a delivery attempt, or at once
	// when one of its channels cannot work on this operator (EmailDisabled).
	DeliveringCondition = "Delivering"
)

// Reasons of the Ready condition.
const (
	// ReasonAccepted: the trigger is active and evaluated on every event of its OU.
	ReasonAccepted = "Accepted"
	// ReasonInactive: the trigger is accepted but has active: false, so it
	// neither fires nor keeps pending crossings.
	ReasonInactive = "Inactive"
	// ReasonSecretNotFound: a Secret the trigger references does not exist
	// in its namespace. The trigger does not fire until it does.
	ReasonSecretNotFound = "SecretNotFound"
	// ReasonSecretNotReferenceable: a referenced Secret does not carry the
	// label ReferenceableLabel with the value "true", so triggers may not
	// use it. The trigger does not fire until the Secret is labelled.
	ReasonSecretNotReferenceable = "SecretNotReferenceable"
	// ReasonSecretKeyNotFound: a referenced Secret exists but lacks the key.
	ReasonSecretKeyNotFound = "SecretKeyNotFound"
	// ReasonInvalidSecretValue: a referenced Secret key holds a value the
	// destination cannot use (for example a URL that is not http or https).
	ReasonInvalidSecretValue = "InvalidSecretValue"
)

// ReferenceableLabel is the label a Secret carries, with the value "true"
// (ReferenceableValue), to let MilestoneTriggers of its namespace reference
// it. Without it, anyone allowed to edit triggers could make the operator
// use (sign with, send to) a Secret they may not read themselves.
const (
	ReferenceableLabel = "triggers.leadvibe.io/referenceable"
	ReferenceableValue = "true"
)

// Reasons of the Delivering condition.
const (
	// ReasonDelivered: the last attempt on every channel succeeded.
	ReasonDelivered = "Delivered"
	// ReasonDeliveryFailing: a channel's recent attempts failed; it is
	// being retried (the message names the channel and the error).
	ReasonDeliveryFailing = "DeliveryFailing"
	// ReasonDeadLettered: a channel gave a firing up (failed for good or
	// retries exhausted) and has not delivered since.
	ReasonDeadLettered = "DeadLettered"
	// ReasonEmailDisabled: the trigger has emails, but this operator sends
	// no email (it runs without --smtp-addr); its emails are never sent.
	ReasonEmailDisabled = "EmailDisabled"
)
