package restapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func TestCamelToSnake(t *testing.T) {
	for in, want := range map[string]string{
		"name":                    "name",
		"scoreThreshold":          "score_threshold",
		"webhookURL":              "webhook_url",
		"webhookURLSecretRef":     "webhook_url_secret_ref",
		"webhookSigningSecretRef": "webhook_signing_secret_ref",
		"leadID":                  "lead_id",
		"emailPreheader":          "email_preheader",
		"URL":                     "url",
		"a1B":                     "a1_b",
		"":                        "",
	} {
		if got := camelToSnake(in); got != want {
			t.Errorf("camelToSnake(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestAPIFieldToSnake(t *testing.T) {
	for in, want := range map[string]string{
		"spec.scoreThreshold":          "score_threshold",
		"spec.emails[1]":               "emails[1]",
		"spec.webhookURLSecretRef.key": "webhook_url_secret_ref.key",
		"spec.slack.webhookURL":        "slack.webhook_url",
		"spec.teams":                   "teams",
		"spec":                         "body",
		"metadata.name":                "id",
		"metadata.labels[app.kubernetes.io/name]": "metadata.labels[app.kubernetes.io/name]",
	} {
		if got := apiFieldToSnake(in); got != want {
			t.Errorf("apiFieldToSnake(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTranslateText(t *testing.T) {
	for in, want := range map[string]string{
		"spec.eventType in body should match '^[A-Za-z0-9]$'":                            "event_type should match '^[A-Za-z0-9]$'",
		"webhookURL and webhookURLSecretRef are mutually exclusive: set one of them":     "webhook_url and webhook_url_secret_ref are mutually exclusive: set one of them",
		"webhookSigningSecretRef needs a webhook: set webhookURL or webhookURLSecretRef": "webhook_signing_secret_ref needs a webhook: set webhook_url or webhook_url_secret_ref",
		"emailSubject must be a single line":                                             "email_subject must be a single line",
		"spec.scoreThreshold in body must be of type integer: \"string\"":                "score_threshold must be of type integer: \"string\"",
	} {
		if got := translateText(in); got != want {
			t.Errorf("translateText(%q) = %q, want %q", in, got, want)
		}
	}
}

// The causes are built as the API server builds them, so their messages
// have the API server's format.
func TestInvalidFromKube(t *testing.T) {
	secretURL := "https://hooks.example.com/services/T000/B000/s3cr3t-token"
	spec := field.NewPath("spec")
	err := apierrors.NewInvalid(schema.GroupKind{Group: resourceGroup, Kind: "MilestoneTrigger"}, "trigger-x", field.ErrorList{
		field.Required(spec.Child("scoreThreshold"), ""),
		field.Invalid(spec.Child("webhookURL"), secretURL, "must be an absolute http or https URL"),
		field.Invalid(spec.Child("emails").Index(1), "not-an-email", "must be an email address such as sales@example.com"),
		field.Duplicate(spec.Child("emails").Index(2), "a@example.com"),
		field.TooLong(spec.Child("name"), "", 200),
		field.TooMany(spec.Child("emails"), 51, 50),
		field.Invalid(spec.Child("scoreThreshold"), int64(5000000000), "spec.scoreThreshold in body should be less than or equal to 1000000000"),
		field.Invalid(spec.Child("slack"), map[string]any{"webhookURL": secretURL}, "set exactly one of webhookURL and webhookURLSecretRef"),
		field.NotSupported(spec.Child("channel"), "fax", []string{"webhook", "email"}),
		field.Invalid(spec.Child("emailSubject"), "x", ""),
	})
	e := fromKube(err, "ou-a", "trigger-x")
	if e.Status != http.StatusBadRequest {
		t.Fatalf("status = %d", e.Status)
	}
	want := []FieldError{
		{Field: "score_threshold", Message: "required"},
		{Field: "webhook_url", Message: "must be an absolute http or https URL"},
		{Field: "emails[1]", Message: "must be an email address such as sales@example.com"},
		{Field: "emails[2]", Message: "duplicate value"},
		{Field: "name", Message: "may not be more than 200 bytes"},
		{Field: "emails", Message: "must have at most 50 items"},
		{Field: "score_threshold", Message: "should be less than or equal to 1000000000"},
		{Field: "slack", Message: "set exactly one of webhook_url and webhook_url_secret_ref"},
		{Field: "channel", Message: `supported values: "webhook", "email"`},
		{Field: "email_subject", Message: "invalid value"},
	}
	if len(e.Fields) != len(want) {
		t.Fatalf("fields = %v, want %v", e.Fields, want)
	}
	for i := range want {
		if e.Fields[i] != want[i] {
			t.Errorf("field %d = %v, want %v", i, e.Fields[i], want[i])
		}
	}
	if strings.Contains(fmt.Sprint(e), "s3cr3t") || strings.Contains(e.Message, "not-an-email") {
		t.Errorf("a rejected value reached the error: %v", e)
	}
}

// The API server adds a cause without a field ("<nil>") when a schema
// error kept it from running the CRD's CEL rules: it is left out beside
// the real fields, and a lone cause without a field is the body's.
func TestInvalidFromKubeLeavesOutTheSkippedRulesNote(t *testing.T) {
	gk := schema.GroupKind{Group: resourceGroup, Kind: "MilestoneTrigger"}
	note := field.Invalid(nil, nil, "some validation rules were not checked because the object was invalid; correct the existing errors to complete validation")
	e := fromKube(apierrors.NewInvalid(gk, "trigger-x", field.ErrorList{
		field.TooLong(field.NewPath("spec", "emailSubject"), "", 200), note,
	}), "ou-a", "trigger-x")
	if want := []FieldError{{Field: "email_subject", Message: "may not be more than 200 bytes"}}; !slices.Equal(e.Fields, want) {
		t.Errorf("fields = %v, want %v", e.Fields, want)
	}
	if strings.Contains(e.Message, "<nil>") || strings.Contains(e.Message, "not checked") {
		t.Errorf("message = %q", e.Message)
	}
	alone := fromKube(apierrors.NewInvalid(gk, "trigger-x", field.ErrorList{field.Invalid(nil, nil, "the object is wrong")}), "ou-a", "trigger-x")
	if want := []FieldError{{Field: "body", Message: "the object is wrong"}}; !slices.Equal(alone.Fields, want) {
		t.Errorf("fields = %v, want %v", alone.Fields, want)
	}
}

func TestFromKubeStatuses(t *testing.T) {
	gr := schema.GroupResource{Group: resourceGroup, Resource: resourceName}
	for _, tc := range []struct {
		err    error
		status int
	}{
		{apierrors.NewNotFound(gr, "trigger-x"), http.StatusNotFound},
		{apierrors.NewNotFound(schema.GroupResource{Resource: "namespaces"}, "ou-x"), http.StatusNotFound},
		{apierrors.NewAlreadyExists(gr, "trigger-x"), http.StatusConflict},
		{apierrors.NewConflict(gr, "trigger-x", errors.New("the object has been modified")), http.StatusConflict},
		{apierrors.NewForbidden(gr, "trigger-x", errors.New("namespace is terminating")), http.StatusForbidden},
		{apierrors.NewRequestEntityTooLargeError("too large"), http.StatusRequestEntityTooLarge},
		{apierrors.NewTooManyRequests("slow down", 3), http.StatusServiceUnavailable},
		{apierrors.NewServerTimeout(gr, "create", 1), http.StatusServiceUnavailable},
		{context.DeadlineExceeded, http.StatusServiceUnavailable},
		{apierrors.NewBadRequest("bad"), http.StatusBadRequest},
		{apierrors.NewInternalError(errors.New("etcd is down")), http.StatusInternalServerError},
		{errors.New("connection refused"), http.StatusInternalServerError},
		{notFound("ou", "x"), http.StatusNotFound},
	} {
		if got := fromKube(tc.err, "ou-x", "trigger-x"); got.Status != tc.status {
			t.Errorf("fromKube(%v) = %d, want %d", tc.err, got.Status, tc.status)
		}
	}
	if e := fromKube(apierrors.NewInternalError(errors.New("etcd is down")), "ou", "x"); strings.Contains(e.Message, "etcd") {
		t.Errorf("a 500 tells its cause: %q", e.Message)
	}
	if e := fromKube(apierrors.NewNotFound(schema.GroupResource{Resource: "namespaces"}, "ou-x"), "ou-x", ""); e.Message != `OU "ou-x" not found` {
		t.Errorf("missing namespace: %q", e.Message)
	}
}
