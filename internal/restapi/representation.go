package restapi

import (
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	triggersv1alpha1 "github.com/leadvibe/milestone-triggers-operator/api/v1alpha1"
	"github.com/leadvibe/milestone-triggers-operator/internal/record"
)

// Trigger is a milestone trigger as the REST API shows it: the seed's
// snake_case fields, one to one with the MilestoneTrigger's spec, plus the
// resource's name as id, its creation time and a read-only status.
// Optional fields that are not set are left out.
type Trigger struct {
	// ID is the resource's metadata.name. Read-only.
	ID             string   `json:"id"`
	Name           string   `json:"name"`
	EventType      string   `json:"event_type,omitempty"`
	ScoreThreshold int64    `json:"score_threshold"`
	WebhookURL     string   `json:"webhook_url,omitempty"`
	Emails         []string `json:"emails,omitempty"`
	Active         bool     `json:"active"`
	// CreatedAt is metadata.creationTimestamp in RFC 3339. Read-only.
	CreatedAt string `json:"created_at"`

	EmailSubject            string           `json:"email_subject,omitempty"`
	EmailPreheader          string           `json:"email_preheader,omitempty"`
	EmailMessage            string           `json:"email_message,omitempty"`
	WebhookURLSecretRef     *SecretKeyRef    `json:"webhook_url_secret_ref,omitempty"`
	WebhookSigningSecretRef *SecretKeyRef    `json:"webhook_signing_secret_ref,omitempty"`
	Slack                   *ChatDestination `json:"slack,omitempty"`
	Teams                   *ChatDestination `json:"teams,omitempty"`

	// RearmBelow is the spec's rearmBelow: the score a lead must drop
	// below before the trigger can fire for it again.
	RearmBelow *int64 `json:"rearm_below,omitempty"`
	// Cooldown is the spec's cooldown as a Go duration, shortest form
	// ("30m", "1h30m").
	Cooldown string `json:"cooldown,omitempty"`

	// Status is what the operator observed. Read-only; ignored in request
	// bodies of PUT and PATCH.
	Status *TriggerStatus `json:"status,omitempty"`
}

// SecretKeyRef selects a key of a Secret in the trigger's OU.
type SecretKeyRef struct {
	Name string `json:"name"`
	Key  string `json:"key"`
}

// ChatDestination is a Slack or Teams webhook: an inline URL or a Secret
// reference, exactly one of them.
type ChatDestination struct {
	WebhookURL          string        `json:"webhook_url,omitempty"`
	WebhookURLSecretRef *SecretKeyRef `json:"webhook_url_secret_ref,omitempty"`
}

// TriggerStatus is the read-only status of a trigger.
type TriggerStatus struct {
	// Ready is true when the operator accepted the current version of the
	// trigger.
	Ready bool `json:"ready"`
	// Reason is the Ready condition's reason, or Pending while the operator
	// has not handled the current version yet.
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`

	FiredCount  int64            `json:"fired_count"`
	LastFiredAt string           `json:"last_fired_at,omitempty"`
	LastFiring  *FiringSummary   `json:"last_firing,omitempty"`
	Deliveries  []DeliveryHealth `json:"deliveries,omitempty"`
}

// FiringSummary identifies a trigger's last firing.
type FiringSummary struct {
	// FiringID is the firing's id: its webhook-id, and what a re-send
	// names.
	FiringID  string `json:"firing_id,omitempty"`
	LeadID    string `json:"lead_id"`
	EventID   string `json:"event_id"`
	EventType string `json:"event_type,omitempty"`
	Score     int64  `json:"score"`
}

// DeliveryHealth summarises the recent deliveries of one channel.
type DeliveryHealth struct {
	Channel             string `json:"channel"`
	LastSuccessAt       string `json:"last_success_at,omitempty"`
	LastErrorAt         string `json:"last_error_at,omitempty"`
	LastError           string `json:"last_error,omitempty"`
	ConsecutiveFailures int32  `json:"consecutive_failures,omitempty"`
	DeadLettered        int64  `json:"dead_lettered,omitempty"`
}

// TriggerList is the body of GET /triggers.
type TriggerList struct {
	Triggers []Trigger `json:"triggers"`
}

// ReasonPending is the status reason of a trigger whose current version
// the operator has not handled yet.
const ReasonPending = "Pending"

// toTrigger shows a MilestoneTrigger in the REST API's shape.
func toTrigger(mt *triggersv1alpha1.MilestoneTrigger) Trigger {
	s := mt.Spec
	t := Trigger{
		ID:                      mt.Name,
		Name:                    s.DisplayName,
		EventType:               s.EventType,
		Active:                  mt.IsActive(),
		CreatedAt:               formatTime(&mt.CreationTimestamp),
		EmailSubject:            s.EmailSubject,
		EmailPreheader:          s.EmailPreheader,
		EmailMessage:            s.EmailMessage,
		WebhookURLSecretRef:     fromSecretRef(s.WebhookURLSecretRef),
		WebhookSigningSecretRef: fromSecretRef(s.WebhookSigningSecretRef),
		Slack:                   fromChat(s.Slack),
		Teams:                   fromChat(s.Teams),
		Status:                  fromStatus(mt),
	}
	if s.ScoreThreshold != nil {
		t.ScoreThreshold = *s.ScoreThreshold
	}
	if s.RearmBelow != nil {
		t.RearmBelow = ptrTo(*s.RearmBelow)
	}
	if s.Cooldown != nil {
		t.Cooldown = formatDuration(s.Cooldown.Duration)
	}
	if s.WebhookURL != nil {
		t.WebhookURL = string(*s.WebhookURL)
	}
	for _, e := range s.Emails {
		t.Emails = append(t.Emails, string(e))
	}
	return t
}

func fromSecretRef(r *triggersv1alpha1.SecretKeyRef) *SecretKeyRef {
	if r == nil {
		return nil
	}
	return &SecretKeyRef{Name: r.Name, Key: r.Key}
}

func fromChat(c *triggersv1alpha1.ChatDestination) *ChatDestination {
	if c == nil {
		return nil
	}
	out := &ChatDestination{WebhookURLSecretRef: fromSecretRef(c.WebhookURLSecretRef)}
	if c.WebhookURL != nil {
		out.WebhookURL = string(*c.WebhookURL)
	}
	return out
}

func fromStatus(mt *triggersv1alpha1.MilestoneTrigger) *TriggerStatus {
	st := mt.Status
	out := &TriggerStatus{
		FiredCount:  st.FiredCount,
		LastFiredAt: formatTime(st.LastFiredTime),
	}
	if c := meta.FindStatusCondition(st.Conditions, triggersv1alpha1.ReadyCondition); c != nil && c.ObservedGeneration == mt.Generation {
		out.Ready = c.Status == metav1.ConditionTrue
		out.Reason, out.Message = c.Reason, c.Message
	} else {
		out.Reason = ReasonPending
		out.Message = "the operator has not handled this version of the trigger yet"
	}
	if f := st.LastFiring; f != nil {
		out.LastFiring = &FiringSummary{FiringID: f.FiringID, LeadID: f.LeadID, EventID: f.EventID, EventType: f.EventType, Score: f.Score}
	}
	for _, d := range st.Deliveries {
		out.Deliveries = append(out.Deliveries, DeliveryHealth{
			Channel:             string(d.Channel),
			LastSuccessAt:       formatTime(d.LastSuccessTime),
			LastErrorAt:         formatTime(d.LastErrorTime),
			LastError:           d.LastError,
			ConsecutiveFailures: d.ConsecutiveFailures,
			DeadLettered:        d.DeadLettered,
		})
	}
	return out
}

// formatDuration writes d as time.Duration.String does, without its
// trailing zero units: 30m, 1h, 1h30m, 90s as 1m30s. time.ParseDuration
// reads it back to d.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// formatTime writes a Kubernetes time in RFC 3339, UTC; unset is "".
func formatTime(t *metav1.Time) string {
	if t == nil || t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// milestoneEvent is one history record (record.Record, the one record type
// from the dispatcher to this answer) in the API's shape: the trigger as
// trigger_id, without the OU (the caller's), a firing's score and an
// attempt's duration always present, even when 0. fromRecord is the one
// conversion.
type milestoneEvent struct {
	Kind      string    `json:"kind"`
	FiringID  string    `json:"firing_id"`
	TriggerID string    `json:"trigger_id"`
	LeadID    string    `json:"lead_id"`
	At        time.Time `json:"at"`
	EventID   string    `json:"event_id,omitempty"`
	EventType string    `json:"event_type,omitempty"`
	Score     *int64    `json:"score,omitempty"`

	Channel     string `json:"channel,omitempty"`
	Destination string `json:"destination,omitempty"`
	Round       int    `json:"round,omitempty"`
	Attempt     int    `json:"attempt,omitempty"`
	StatusCode  int    `json:"status_code,omitempty"`
	Error       string `json:"error,omitempty"`
	Outcome     string `json:"outcome,omitempty"`
	DurationMS  *int64 `json:"duration_ms,omitempty"`
}

// historyPage is the answer of the history endpoints.
type historyPage struct {
	MilestoneEvents []milestoneEvent `json:"milestone_events"`
	NextCursor      string           `json:"next_cursor,omitempty"`
}

// fromRecord shows a history record in the API's shape.
func fromRecord(r record.Record) milestoneEvent {
	e := milestoneEvent{
		Kind: r.Kind, FiringID: r.FiringID, TriggerID: r.Trigger, LeadID: r.LeadID, At: r.At,
		EventID: r.EventID, EventType: r.EventType,
		Channel: r.Channel, Destination: r.Destination, Round: r.Round, Attempt: r.Attempt, StatusCode: r.StatusCode,
		Error: r.Error, Outcome: r.Outcome,
	}
	if r.Kind == record.KindFiring {
		score := r.Score
		e.Score = &score
	} else {
		d := r.DurationMS
		e.DurationMS = &d
	}
	return e
}
