package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// MilestoneTriggerSpec is what a milestone trigger watches for and whom it
// notifies. Its fields mirror the request fields of the product's
// POST /triggers API, in camelCase.
//
// +kubebuilder:validation:XValidation:rule="!(has(self.webhookURL) && has(self.webhookURLSecretRef))",fieldPath=".webhookURLSecretRef",message="webhookURL and webhookURLSecretRef are mutually exclusive: set one of them"
// +kubebuilder:validation:XValidation:rule="!has(self.webhookSigningSecretRef) || has(self.webhookURL) || has(self.webhookURLSecretRef)",fieldPath=".webhookSigningSecretRef",message="webhookSigningSecretRef needs a webhook: set webhookURL or webhookURLSecretRef"
// +kubebuilder:validation:XValidation:rule="!has(self.rearmBelow) || self.rearmBelow < self.scoreThreshold",fieldPath=".rearmBelow",message="rearmBelow must be below scoreThreshold"
type MilestoneTriggerSpec struct {
	// name is the trigger's display name, shown in notifications and in the
	// REST API. It is not the resource name (metadata.name), which is the
	// trigger's id. One line of text: no control characters.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=200
	// +kubebuilder:validation:XValidation:rule="self.matches('\\\\S')",message="name must not be blank"
	// +kubebuilder:validation:XValidation:rule=`!self.matches('[\\x00-\\x1f\\x7f-\\x9f\\x{fffd}]')`,message="name must not contain control characters or invalid UTF-8"
	DisplayName string `json:"name"`

	// eventType, when set, limits firing to events of this type (for example
	// page_view, form_submit, demo_request): a crossing made by another type
	// of event stays pending until the lead's next event of this type. When
	// omitted, the trigger fires on any event that crosses the threshold.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9][A-Za-z0-9_.:/-]*$`
	EventType string `json:"eventType,omitempty"`

	// scoreThreshold is the lead score that fires the trigger when a lead's
	// score rises from below it to at or above it.
	// +required
	// +kubebuilder:validation:Minimum=-1000000000
	// +kubebuilder:validation:Maximum=1000000000
	ScoreThreshold *int64 `json:"scoreThreshold"`

	// rearmBelow, when set, is the score a lead must drop below, after it
	// reached scoreThreshold, before the trigger can fire for it again: a
	// lead whose score wobbles around the threshold fires once, not on
	// every rise. A crossing waiting for eventType stays pending down to
	// it. Must be below scoreThreshold. Defaults to scoreThreshold.
	// +optional
	// +kubebuilder:validation:Minimum=-1000000000
	// +kubebuilder:validation:Maximum=1000000000
	RearmBelow *int64 `json:"rearmBelow,omitempty"`

	// cooldown, when set, is how long after the trigger fires for a lead a
	// new crossing by that lead neither fires nor stays pending, measured
	// between the events' times (created_at). A duration such as 30m or
	// 1h, more than 0 and at most 90 days (2160h).
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^[-+]?(0|(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+)$`
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s') && duration(self) <= duration('2160h')",message="cooldown must be more than 0s and at most 90 days (2160h)"
	Cooldown *metav1.Duration `json:"cooldown,omitempty"`

	// active says whether the trigger fires. An inactive trigger neither
	// fires nor keeps pending crossings. Defaults to true.
	// +optional
	// +kubebuilder:default=true
	Active *bool `json:"active,omitempty"`

	// webhookURL receives the webhook payload (POST, JSON) when the trigger
	// fires. It must be an http or https URL. A URL that carries a token
	// belongs in a Secret: use webhookURLSecretRef instead.
	// +optional
	WebhookURL *HTTPURL `json:"webhookURL,omitempty"`

	// webhookURLSecretRef takes the webhook URL from a key of a Secret in the
	// trigger's namespace. Mutually exclusive with webhookURL. The Secret
	// must carry the label triggers.leadvibe.io/referenceable: "true"
	// (ReferenceableLabel) unless the operator runs with
	// --require-referenceable-secrets=false.
	// +optional
	WebhookURLSecretRef *SecretKeyRef `json:"webhookURLSecretRef,omitempty"`

	// webhookSigningSecretRef names a Secret key holding the Standard Webhooks
	// signing secret ("whsec_" followed by base64). During a rotation the key
	// may hold several secrets separated by spaces or newlines; every one
	// signs each delivery.
	// +optional
	WebhookSigningSecretRef *SecretKeyRef `json:"webhookSigningSecretRef,omitempty"`

	// emails are the addresses notified by email when the trigger fires.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=50
	Emails []EmailAddress `json:"emails,omitempty"`

	// emailSubject is the subject of the notification emails. Defaults to a
	// subject naming the trigger and the lead. One line of text: no
	// control characters.
	// +optional
	// +kubebuilder:validation:MaxLength=200
	// +kubebuilder:validation:XValidation:rule="!self.contains('\\n') && !self.contains('\\r')",message="emailSubject must be a single line"
	// +kubebuilder:validation:XValidation:rule=`!self.matches('[\\x00-\\x1f\\x7f-\\x9f\\x{fffd}]')`,message="emailSubject must not contain control characters or invalid UTF-8"
	EmailSubject string `json:"emailSubject,omitempty"`

	// emailPreheader is the preview text shown by mail clients next to the
	// subject; it is hidden in the body of the email. One line of text: no
	// control characters.
	// +optional
	// +kubebuilder:validation:MaxLength=200
	// +kubebuilder:validation:XValidation:rule="!self.contains('\\n') && !self.contains('\\r')",message="emailPreheader must be a single line"
	// +kubebuilder:validation:XValidation:rule=`!self.matches('[\\x00-\\x1f\\x7f-\\x9f\\x{fffd}]')`,message="emailPreheader must not contain control characters or invalid UTF-8"
	EmailPreheader string `json:"emailPreheader,omitempty"`

	// emailMessage is a message placed in the email before the lead's details.
	// It may hold tabs and line breaks, but no other control characters.
	// +optional
	// +kubebuilder:validation:MaxLength=4000
	// +kubebuilder:validation:XValidation:rule=`!self.matches('[\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f\\x{fffd}]')`,message="emailMessage must not contain control characters other than tab and line breaks, or invalid UTF-8"
	EmailMessage string `json:"emailMessage,omitempty"`

	// slack posts a message to a Slack incoming webhook when the trigger fires.
	// +optional
	Slack *ChatDestination `json:"slack,omitempty"`

	// teams posts an Adaptive Card to a Microsoft Teams Workflows webhook
	// when the trigger fires.
	// +optional
	Teams *ChatDestination `json:"teams,omitempty"`
}

// HTTPURL is an absolute http or https URL.
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=2048
// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getScheme() in ['http', 'https'] && url(self).getHostname().size() > 0",message="must be an absolute http or https URL"
// +kubebuilder:validation:XValidation:rule=`!self.matches('[\\x00-\\x20\\x7f-\\x9f\\x{fffd}]')`,message="must not contain spaces, control characters or invalid UTF-8"
type HTTPURL string

// EmailAddress is a single email address, such as sales@example.com.
// +kubebuilder:validation:MinLength=3
// +kubebuilder:validation:MaxLength=254
// +kubebuilder:validation:XValidation:rule=`self.matches("^[A-Za-z0-9._%+'-]+@[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?([.][A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)+$")`,message="must be an email address such as sales@example.com"
type EmailAddress string

// ChatDestination is a chat webhook (Slack or Microsoft Teams). Its URL is
// a credential: anyone holding it can post to the channel, so it is best
// kept in a Secret.
// +kubebuilder:validation:XValidation:rule="has(self.webhookURL) != has(self.webhookURLSecretRef)",message="set exactly one of webhookURL and webhookURLSecretRef"
type ChatDestination struct {
	// webhookURL is the chat webhook URL, inline.
	// +optional
	WebhookURL *HTTPURL `json:"webhookURL,omitempty"`

	// webhookURLSecretRef takes the chat webhook URL from a key of a Secret
	// in the trigger's namespace.
	// +optional
	WebhookURLSecretRef *SecretKeyRef `json:"webhookURLSecretRef,omitempty"`
}

// SecretKeyRef selects a key of a Secret in the trigger's namespace. The
// Secret must opt in to being referenced with the label
// triggers.leadvibe.io/referenceable: "true" (ReferenceableLabel), so that
// a trigger cannot borrow a credential its author may not read.
type SecretKeyRef struct {
	// name is the name of the Secret, in the trigger's namespace.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Name string `json:"name"`

	// key is the key within the Secret's data.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	Key string `json:"key"`
}

// MilestoneTriggerStatus is the observed state of a MilestoneTrigger: whether
// it was accepted, what it has fired and how its deliveries are doing.
type MilestoneTriggerStatus struct {
	// observedGeneration is the metadata.generation that the controller last
	// handled.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions hold the trigger's state; Ready is True when the trigger was
	// accepted by the evaluator.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// armedGeneration is the metadata.generation since which the trigger has
	// been accepted and active without interruption; 0 while it is not.
	// Crossings left pending before it are dropped (an inactive trigger
	// keeps no pending crossings).
	// +optional
	// +kubebuilder:validation:Minimum=0
	ArmedGeneration int64 `json:"armedGeneration,omitempty"`

	// firedCount is how many times the trigger has fired, over all leads.
	// +optional
	// +kubebuilder:default=0
	// +kubebuilder:validation:Minimum=0
	FiredCount int64 `json:"firedCount,omitempty"`

	// lastFiredTime is when the trigger last fired.
	// +optional
	LastFiredTime *metav1.Time `json:"lastFiredTime,omitempty"`

	// lastFiring describes the trigger's most recent firing.
	// +optional
	LastFiring *FiringSummary `json:"lastFiring,omitempty"`

	// firingSequence is the position, in the operator's firing outbox, of
	// the last firing counted in firedCount. It keeps the count exact when
	// the operator restarts; it is not meaningful outside the operator.
	// +optional
	// +kubebuilder:validation:Minimum=0
	FiringSequence int64 `json:"firingSequence,omitempty"`

	// historySequence is the position, in the operator's delivery history,
	// of the last attempt folded into deliveries. It keeps the figures
	// exact when the operator restarts; it is not meaningful outside the
	// operator.
	// +optional
	// +kubebuilder:validation:Minimum=0
	HistorySequence int64 `json:"historySequence,omitempty"`

	// deliveries reports the health of each notification channel.
	// +optional
	// +listType=map
	// +listMapKey=channel
	// +kubebuilder:validation:MaxItems=4
	Deliveries []DeliveryHealth `json:"deliveries,omitempty"`
}

// FiringSummary identifies one firing of a trigger.
type FiringSummary struct {
	// leadID is the lead whose score crossed the threshold.
	// +required
	// +kubebuilder:validation:MaxLength=256
	LeadID string `json:"leadID"`

	// eventID is the id of the event that fired the trigger.
	// +required
	// +kubebuilder:validation:MaxLength=256
	EventID string `json:"eventID"`

	// eventType is the type of the event that fired the trigger.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	EventType string `json:"eventType,omitempty"`

	// score is the lead's score carried by that event.
	// +required
	Score int64 `json:"score"`

	// firingID is the firing's id, which is also the delivery id of its
	// notifications (the webhook-id header).
	// +optional
	// +kubebuilder:validation:MaxLength=64
	FiringID string `json:"firingID,omitempty"`
}

// Channel is a kind of notification destination.
// +kubebuilder:validation:Enum=webhook;email;slack;teams
type Channel string

// Notification channels.
const (
	ChannelWebhook Channel = "webhook"
	ChannelEmail   Channel = "email"
	ChannelSlack   Channel = "slack"
	ChannelTeams   Channel = "teams"
)

// DeliveryHealth summarises the recent deliveries of one channel.
type DeliveryHealth struct {
	// channel is the notification channel these figures are about.
	// +required
	Channel Channel `json:"channel"`

	// lastSuccessTime is when a delivery on this channel last succeeded.
	// +optional
	LastSuccessTime *metav1.Time `json:"lastSuccessTime,omitempty"`

	// lastErrorTime is when a delivery attempt on this channel last failed.
	// +optional
	LastErrorTime *metav1.Time `json:"lastErrorTime,omitempty"`

	// lastError describes the last failed attempt, without credentials.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	LastError string `json:"lastError,omitempty"`

	// consecutiveFailures counts failed attempts since the last success.
	// +optional
	// +kubebuilder:validation:Minimum=0
	ConsecutiveFailures int32 `json:"consecutiveFailures,omitempty"`

	// deadLettered counts firings whose delivery on this channel was given up.
	// +optional
	// +kubebuilder:validation:Minimum=0
	DeadLettered int64 `json:"deadLettered,omitempty"`

	// destination is where the last attempt on this channel went, without
	// credentials (scheme and host of a URL, the number of recipients of
	// emails). An attempt to another destination starts the channel's
	// health over: the old lastError was about the old one.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	Destination string `json:"destination,omitempty"`
}

// MilestoneTrigger fires when a lead's score crosses a threshold, optionally
// on a given event type, and notifies a webhook, emails, Slack or Teams, once
// per crossing. Its namespace is its Organizational Unit (OU).
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=mt,categories=leadvibe
// +kubebuilder:printcolumn:name="Display Name",type=string,JSONPath=`.spec.name`
// +kubebuilder:printcolumn:name="Event Type",type=string,JSONPath=`.spec.eventType`
// +kubebuilder:printcolumn:name="Threshold",type=integer,JSONPath=`.spec.scoreThreshold`
// +kubebuilder:printcolumn:name="Active",type=boolean,JSONPath=`.spec.active`
// +kubebuilder:printcolumn:name="Fired",type=integer,JSONPath=`.status.firedCount`
// +kubebuilder:printcolumn:name="Last Fired",type=date,JSONPath=`.status.lastFiredTime`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Delivering",type=string,JSONPath=`.status.conditions[?(@.type=="Delivering")].status`
// +kubebuilder:printcolumn:name="Delivery Message",type=string,priority=1,JSONPath=`.status.conditions[?(@.type=="Delivering")].message`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type MilestoneTrigger struct {
	metav1.TypeMeta `json:",inline"`

	// metadata is the standard object metadata; metadata.name is the
	// trigger's id in the REST API.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the trigger's definition.
	// +required
	Spec MilestoneTriggerSpec `json:"spec"`

	// status is the trigger's observed state, written by the operator.
	// +optional
	Status MilestoneTriggerStatus `json:"status,omitempty"`
}

// IsActive reports whether the trigger fires (active defaults to true).
func (t *MilestoneTrigger) IsActive() bool {
	return t.Spec.Active == nil || *t.Spec.Active
}

// MilestoneTriggerList is a list of MilestoneTriggers.
//
// +kubebuilder:object:root=true
type MilestoneTriggerList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []MilestoneTrigger `json:"items"`
}
