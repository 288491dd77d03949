package restapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	triggersv1alpha1 "github.com/leadvibe/milestone-triggers-operator/api/v1alpha1"
	"github.com/leadvibe/milestone-triggers-operator/internal/text"
)

const seedBody = `{
"name": "Hot Lead Alert",
"event_type": "demo_request",
"score_threshold": 75,
"webhook_url": "https://hooks.example.com/leadvibe",
"emails": ["sales@example.com"],
"email_subject": "Hot Lead Alert",
"email_message": "A lead just crossed the 75-point threshold!"
}`

func TestDecodeTriggerSeedBody(t *testing.T) {
	doc, err := decodeTrigger([]byte(seedBody), forCreate)
	if err != nil {
		t.Fatalf("decoding the seed's body: %v", err)
	}
	url := triggersv1alpha1.HTTPURL("https://hooks.example.com/leadvibe")
	want := triggersv1alpha1.MilestoneTriggerSpec{
		DisplayName:    "Hot Lead Alert",
		EventType:      "demo_request",
		ScoreThreshold: ptrTo[int64](75),
		WebhookURL:     &url,
		Emails:         []triggersv1alpha1.EmailAddress{"sales@example.com"},
		EmailSubject:   "Hot Lead Alert",
		EmailMessage:   "A lead just crossed the 75-point threshold!",
	}
	if !reflect.DeepEqual(doc.spec, want) {
		t.Errorf("spec = %+v, want %+v", doc.spec, want)
	}
}

func TestDecodeTriggerAllFields(t *testing.T) {
	body := `{"name":"n","score_threshold":-5,"active":false,"event_type":"page_view",
		"webhook_url_secret_ref":{"name":"hook","key":"url"},
		"webhook_signing_secret_ref":{"name":"hook","key":"signing"},
		"email_preheader":"p","slack":{"webhook_url":"https://hooks.slack.com/x"},
		"teams":{"webhook_url_secret_ref":{"name":"chat","key":"teams"}},
		"rearm_below":-20,"cooldown":"1h30m"}`
	doc, err := decodeTrigger([]byte(body), forCreate)
	if err != nil {
		t.Fatal(err)
	}
	s := doc.spec
	slack := triggersv1alpha1.HTTPURL("https://hooks.slack.com/x")
	want := triggersv1alpha1.MilestoneTriggerSpec{
		DisplayName:             "n",
		EventType:               "page_view",
		ScoreThreshold:          ptrTo[int64](-5),
		Active:                  ptrTo(false),
		WebhookURLSecretRef:     &triggersv1alpha1.SecretKeyRef{Name: "hook", Key: "url"},
		WebhookSigningSecretRef: &triggersv1alpha1.SecretKeyRef{Name: "hook", Key: "signing"},
		EmailPreheader:          "p",
		Slack:                   &triggersv1alpha1.ChatDestination{WebhookURL: &slack},
		Teams:                   &triggersv1alpha1.ChatDestination{WebhookURLSecretRef: &triggersv1alpha1.SecretKeyRef{Name: "chat", Key: "teams"}},
		RearmBelow:              ptrTo[int64](-20),
		Cooldown:                &metav1.Duration{Duration: 90 * time.Minute},
	}
	if !reflect.DeepEqual(s, want) {
		t.Errorf("spec = %+v, want %+v", s, want)
	}
}

func TestDecodeTriggerNullsAndEmptiesAreAbsent(t *testing.T) {
	body := `{"name":"n","score_threshold":1,"event_type":null,"webhook_url":"","emails":null,
		"active":null,"slack":null,"email_subject":null,"webhook_url_secret_ref":null,
		"rearm_below":null,"cooldown":""}`
	doc, err := decodeTrigger([]byte(body), forCreate)
	if err != nil {
		t.Fatal(err)
	}
	want := triggersv1alpha1.MilestoneTriggerSpec{DisplayName: "n", ScoreThreshold: ptrTo[int64](1)}
	if !reflect.DeepEqual(doc.spec, want) {
		t.Errorf("spec = %+v, want %+v", doc.spec, want)
	}
}

func TestDecodeTriggerErrors(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		mode       decodeMode
		status     int
		fields     []FieldError // nil: check only the status
		inMessage  string
	}{
		{name: "missing name and threshold", body: `{"event_type":"x"}`, status: 400,
			fields: []FieldError{{Field: "name", Message: "required"}, {Field: "score_threshold", Message: "required"}}},
		{name: "null name", body: `{"name":null,"score_threshold":1}`, status: 400,
			fields: []FieldError{{Field: "name", Message: "required"}}},
		{name: "unknown field", body: `{"name":"n","score_threshold":1,"scoreThreshold":1,"colour":"red"}`, status: 400,
			fields: []FieldError{{Field: "colour", Message: "unknown field"}, {Field: "scoreThreshold", Message: "unknown field"}}},
		{name: "string threshold", body: `{"name":"n","score_threshold":"75"}`, status: 400,
			fields: []FieldError{{Field: "score_threshold", Message: "must be an integer"}}, inMessage: "score_threshold: must be an integer"},
		{name: "fractional threshold", body: `{"name":"n","score_threshold":75.5}`, status: 400,
			fields: []FieldError{{Field: "score_threshold", Message: "must be an integer"}}},
		{name: "exponent threshold", body: `{"name":"n","score_threshold":1e2}`, status: 400,
			fields: []FieldError{{Field: "score_threshold", Message: "must be an integer"}}},
		{name: "huge threshold", body: `{"name":"n","score_threshold":123456789012345678901234567890}`, status: 400,
			fields: []FieldError{{Field: "score_threshold", Message: "must be an integer between -1000000000 and 1000000000"}}},
		{name: "string rearm_below", body: `{"name":"n","score_threshold":75,"rearm_below":"60"}`, status: 400,
			fields: []FieldError{{Field: "rearm_below", Message: "must be an integer"}}},
		{name: "fractional rearm_below", body: `{"name":"n","score_threshold":75,"rearm_below":59.5}`, status: 400,
			fields: []FieldError{{Field: "rearm_below", Message: "must be an integer"}}},
		{name: "huge rearm_below", body: `{"name":"n","score_threshold":75,"rearm_below":-99999999999999999999}`, status: 400,
			fields: []FieldError{{Field: "rearm_below", Message: "must be an integer between -1000000000 and 1000000000"}}},
		{name: "cooldown not a duration", body: `{"name":"n","score_threshold":75,"cooldown":"soon"}`, status: 400,
			fields: []FieldError{{Field: "cooldown", Message: `must be a duration such as "30m" or "1h" (units h, m, s, ms, us, ns)`}}},
		{name: "cooldown in days", body: `{"name":"n","score_threshold":75,"cooldown":"1d"}`, status: 400,
			fields: []FieldError{{Field: "cooldown", Message: `must be a duration such as "30m" or "1h" (units h, m, s, ms, us, ns)`}}},
		{name: "cooldown without a unit", body: `{"name":"n","score_threshold":75,"cooldown":"30"}`, status: 400,
			fields: []FieldError{{Field: "cooldown", Message: `must be a duration such as "30m" or "1h" (units h, m, s, ms, us, ns)`}}},
		{name: "cooldown beyond a duration's range", body: `{"name":"n","score_threshold":75,"cooldown":"9999999999h"}`, status: 400,
			fields: []FieldError{{Field: "cooldown", Message: `must be a duration such as "30m" or "1h" (units h, m, s, ms, us, ns)`}}},
		{name: "cooldown in seconds as a number", body: `{"name":"n","score_threshold":75,"cooldown":1800}`, status: 400,
			fields: []FieldError{{Field: "cooldown", Message: `must be a string holding a duration such as "30m" or "1h"`}}},
		{name: "number name", body: `{"name":5,"score_threshold":1}`, status: 400,
			fields: []FieldError{{Field: "name", Message: "must be a string"}}},
		{name: "string active", body: `{"name":"n","score_threshold":1,"active":"yes"}`, status: 400,
			fields: []FieldError{{Field: "active", Message: "must be a boolean"}}},
		{name: "emails not a list", body: `{"name":"n","score_threshold":1,"emails":"a@example.com"}`, status: 400,
			fields: []FieldError{{Field: "emails", Message: "must be an array of strings"}}},
		{name: "email not a string", body: `{"name":"n","score_threshold":1,"emails":["a@example.com",7]}`, status: 400,
			fields: []FieldError{{Field: "emails[1]", Message: "must be a string"}}},
		{name: "secret ref not an object", body: `{"name":"n","score_threshold":1,"webhook_url_secret_ref":"hook"}`, status: 400,
			fields: []FieldError{{Field: "webhook_url_secret_ref", Message: "must be an object"}}},
		{name: "secret ref without key, with unknown field", body: `{"name":"n","score_threshold":1,"webhook_url_secret_ref":{"name":"h","namespace":"x"}}`, status: 400,
			fields: []FieldError{{Field: "webhook_url_secret_ref.namespace", Message: "unknown field"}, {Field: "webhook_url_secret_ref.key", Message: "required"}}},
		{name: "slack unknown field", body: `{"name":"n","score_threshold":1,"slack":{"webhookURL":"https://x"}}`, status: 400,
			fields: []FieldError{{Field: "slack.webhookURL", Message: "unknown field"}}},
		{name: "id on create", body: `{"id":"trigger-1","name":"n","score_threshold":1}`, status: 400,
			fields: []FieldError{{Field: "id", Message: "read-only: set by the server"}}},
		{name: "created_at on create", body: `{"created_at":"2025-01-15T10:00:00Z","name":"n","score_threshold":1}`, status: 400,
			fields: []FieldError{{Field: "created_at", Message: "read-only: set by the server"}}},
		{name: "status on create", body: `{"status":{},"name":"n","score_threshold":1}`, status: 400,
			fields: []FieldError{{Field: "status", Message: "read-only: set by the operator"}}},
		{name: "id of the wrong type on replace", body: `{"id":1,"name":"n","score_threshold":1}`, mode: forReplace, status: 400,
			fields: []FieldError{{Field: "id", Message: "must be a string"}}},
		{name: "duplicate key", body: `{"name":"n","score_threshold":1,"name":"m"}`, status: 400,
			fields: []FieldError{{Field: "name", Message: "duplicate field"}}},
		{name: "nested duplicate key", body: `{"name":"n","score_threshold":1,"slack":{"webhook_url":"a","webhook_url":"b"}}`, status: 400,
			fields: []FieldError{{Field: "slack.webhook_url", Message: "duplicate field"}}},
		{name: "array body", body: `[{"name":"n"}]`, status: 400, inMessage: "must be a JSON object"},
		{name: "null body", body: `null`, status: 400, inMessage: "must be a JSON object"},
		{name: "empty body", body: ``, status: 400, inMessage: "empty"},
		{name: "truncated", body: `{"name":"n"`, status: 400, inMessage: "invalid request body: invalid JSON at byte offset 11: unexpected end of JSON input"},
		{name: "trailing data", body: `{"name":"n","score_threshold":1} {}`, status: 400, inMessage: "invalid JSON at byte offset 34: invalid character '{' after top-level value"},
		{name: "syntax error", body: `{"name":"n",}`, status: 400, inMessage: "invalid JSON at byte offset 13: invalid character '}'"},
		{name: "too deep", body: strings.Repeat("[", 40) + strings.Repeat("]", 40), status: 400, inMessage: "invalid request body: nests deeper than 32 levels"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeTrigger([]byte(tc.body), tc.mode)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error = %v, want an *Error", err)
			}
			if e.Status != tc.status {
				t.Errorf("status = %d, want %d (%s)", e.Status, tc.status, e.Message)
			}
			if tc.fields != nil && !reflect.DeepEqual(e.Fields, tc.fields) {
				t.Errorf("fields = %v, want %v", e.Fields, tc.fields)
			}
			if !strings.Contains(e.Message, tc.inMessage) {
				t.Errorf("message %q does not contain %q", e.Message, tc.inMessage)
			}
		})
	}
}

func TestDecodeTriggerBoundsFieldErrors(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"name":"n","score_threshold":1`)
	for i := range 500 {
		b.WriteString(`,"x` + strings.Repeat("y", i) + `":1`)
	}
	b.WriteString("}")
	_, err := decodeTrigger([]byte(b.String()), forCreate)
	var e *Error
	if !errors.As(err, &e) || len(e.Fields) != maxFieldErrors {
		t.Fatalf("error = %v, want %d field errors", err, maxFieldErrors)
	}
	for _, f := range e.Fields {
		if len(f.Field) > 64+len(text.Ellipsis) {
			t.Errorf("field name of %d bytes repeated", len(f.Field))
		}
	}
}

func TestCheckReadOnly(t *testing.T) {
	created := metav1.NewTime(time.Date(2025, 1, 15, 10, 0, 0, 0, time.UTC))
	cur := &triggersv1alpha1.MilestoneTrigger{ObjectMeta: metav1.ObjectMeta{Name: "trigger-abc", CreationTimestamp: created}}
	for _, tc := range []struct {
		body   string
		fields []string
	}{
		{`{"name":"n","score_threshold":1}`, nil},
		{`{"id":"trigger-abc","created_at":"2025-01-15T10:00:00Z","name":"n","score_threshold":1}`, nil},
		{`{"created_at":"2025-01-15T11:00:00+01:00","name":"n","score_threshold":1}`, nil},
		{`{"id":"trigger-xyz","name":"n","score_threshold":1}`, []string{"id"}},
		{`{"id":"trigger-abc","created_at":"yesterday","name":"n","score_threshold":1}`, []string{"created_at"}},
		{`{"id":"x","created_at":"2024-01-15T10:00:00Z","name":"n","score_threshold":1}`, []string{"id", "created_at"}},
	} {
		doc, err := decodeTrigger([]byte(tc.body), forReplace)
		if err != nil {
			t.Fatalf("%s: %v", tc.body, err)
		}
		err = doc.checkReadOnly(cur)
		var got []string
		var e *Error
		if errors.As(err, &e) {
			if e.Status != http.StatusBadRequest {
				t.Errorf("%s: status %d", tc.body, e.Status)
			}
			for _, f := range e.Fields {
				got = append(got, f.Field)
			}
		}
		if !reflect.DeepEqual(got, tc.fields) {
			t.Errorf("%s: read-only errors on %v, want %v", tc.body, got, tc.fields)
		}
	}
}

// FuzzDecodeTrigger checks that the decoder of request bodies never
// panics, that every refusal is a 400 in the error shape, and that what it
// accepts survives the trip to the REST representation and back.
// checkText fails unless every free-text string of an accepted spec is
// free of control characters (tab and line breaks aside in emailMessage)
// and of U+FFFD.
func checkText(t *testing.T, s triggersv1alpha1.MilestoneTriggerSpec) {
	t.Helper()
	check := func(field, v string, multiline bool) {
		for _, r := range v {
			if r == utf8.RuneError || unicode.IsControl(r) && !(multiline && (r == '\t' || r == '\n' || r == '\r')) {
				t.Fatalf("accepted %s %q, which holds %U", field, v, r)
			}
		}
	}
	check("name", s.DisplayName, false)
	check("event_type", s.EventType, false)
	check("email_subject", s.EmailSubject, false)
	check("email_preheader", s.EmailPreheader, false)
	check("email_message", s.EmailMessage, true)
	for _, e := range s.Emails {
		check("emails", string(e), false)
	}
	if s.WebhookURL != nil {
		check("webhook_url", string(*s.WebhookURL), false)
	}
	for _, ref := range []*triggersv1alpha1.SecretKeyRef{s.WebhookURLSecretRef, s.WebhookSigningSecretRef} {
		if ref != nil {
			check("secret ref", ref.Name+ref.Key, false)
		}
	}
}

func FuzzDecodeTrigger(f *testing.F) {
	for _, seed := range []string{
		seedBody,
		`{"name":"n","score_threshold":1,"active":false,"slack":{"webhook_url_secret_ref":{"name":"a","key":"b"}}}`,
		`{"name":"n","score_threshold":-1000000000,"teams":{},"webhook_signing_secret_ref":{"name":"","key":""}}`,
		`{"id":"trigger-1","created_at":"2025-01-15T10:00:00Z","status":{"ready":true},"name":"n","score_threshold":1}`,
		`{"name":"n","score_threshold":1,"emails":[]}`,
		`{"name":"n","score_threshold":"1","emails":[1,null,"a"],"x":{}}`,
		`{"name":"n","name":"m"}`, `[]`, `null`, `{`, `"x"`, `{"a":[[[[[[]]]]]]}`,
		`{"name":"\u00e9\ud83d\ude00","score_threshold":0}`,
		`{"name":"a\u0000","score_threshold":0,"email_message":"a\n\tb\u0085"}`,
		"{\"name\":\"a\xff\",\"score_threshold\":0}", `{"name":"\ud800","score_threshold":0}`,
		`{"name":"n","score_threshold":75,"rearm_below":60,"cooldown":"30m"}`,
		`{"name":"n","score_threshold":75,"rearm_below":75,"cooldown":"2160h0m0.000000001s"}`,
		`{"name":"n","score_threshold":75,"rearm_below":-1000000001,"cooldown":"-1h30m"}`,
		`{"name":"n","score_threshold":75,"rearm_below":null,"cooldown":null}`,
		`{"name":"n","score_threshold":75,"cooldown":"1.5h"}`, `{"name":"n","score_threshold":75,"cooldown":"90s"}`,
		`{"name":"n","score_threshold":75,"cooldown":"500ms"}`, `{"name":"n","score_threshold":75,"cooldown":".5us"}`,
		`{"name":"n","score_threshold":75,"cooldown":"1d"}`, `{"name":"n","score_threshold":75,"cooldown":"0"}`,
		`{"name":"n","score_threshold":75,"cooldown":"9223372036854775807ns"}`, `{"name":"n","score_threshold":75,"cooldown":1800}`,
		`{"name":"n","score_threshold":75,"rearm_below":"60","cooldown":["30m"]}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, mode := range []decodeMode{forCreate, forReplace} {
			doc, err := decodeTrigger(body, mode)
			if err == nil && !utf8.Valid(body) {
				t.Fatalf("accepted a body that is not valid UTF-8")
			}
			if err == nil {
				checkText(t, doc.spec)
			}
			if err != nil {
				var e *Error
				if !errors.As(err, &e) || e.Status != http.StatusBadRequest {
					t.Fatalf("refusal %v is not a 400 *Error", err)
				}
				if len(e.Fields) > maxFieldErrors {
					t.Fatalf("%d field errors", len(e.Fields))
				}
				if _, err := json.Marshal(e); err != nil {
					t.Fatalf("error does not marshal: %v", err)
				}
				continue
			}
			if doc.spec.ScoreThreshold == nil {
				t.Fatalf("accepted a body without score_threshold")
			}
			mt := &triggersv1alpha1.MilestoneTrigger{Spec: doc.spec}
			out, err := json.Marshal(toTrigger(mt))
			if err != nil {
				t.Fatalf("marshalling the representation: %v", err)
			}
			again, err := decodeTrigger(out, forReplace)
			if err != nil {
				t.Fatalf("the representation %s of an accepted body does not decode: %v", out, err)
			}
			want := doc.spec
			if want.Active == nil {
				want.Active = ptrTo(true)
			}
			if !reflect.DeepEqual(again.spec, want) {
				t.Fatalf("round trip changed the spec:\n got %+v\nwant %+v", again.spec, want)
			}
		}
	})
}

// Go's encoding/json turns invalid UTF-8 into U+FFFD without a word; the
// decoder checks the body's own bytes and names the field.
func TestDecodeTriggerRefusesBadText(t *testing.T) {
	const rest = `,"score_threshold":1}`
	cases := []struct{ body, field, want string }{
		{"{\"name\":\"a\xff\"" + rest, "name", "must be valid UTF-8"},
		{"{\"name\":\"n\",\"slack\":{\"webhook_url\":\"https://x.example.com/\xc3\"}" + rest, "slack.webhook_url", "must be valid UTF-8"},
		{"{\"name\":\"n\",\"\xff\":1" + rest, "body", "field names must be valid UTF-8"},
		{"{\"name\":\"n\",\"slack\":{\"\xff\":1}" + rest, "slack", "field names must be valid UTF-8"},
		{`{"name":"a\ud800"` + rest, "name", "must be valid UTF-8 (found U+FFFD"},
		{`{"name":"a\u0000"` + rest, "name", "must not contain control characters (found U+0000 at byte 1)"},
		{`{"name":"n","email_subject":"a\r"` + rest, "email_subject", "must be a single line"},
		{`{"name":"n","email_message":"a\u007f"` + rest, "email_message", "other than tab and line breaks (found U+007F"},
		{`{"name":"n","emails":["a@b.c\u0009"]` + rest, "emails[0]", "must not contain control characters"},
		{`{"name":"n","webhook_signing_secret_ref":{"name":"s\u0000","key":"k"},"webhook_url":"https://x.example.com"` + rest, "webhook_signing_secret_ref.name", "control characters"},
	}
	for _, tc := range cases {
		_, err := decodeTrigger([]byte(tc.body), forCreate)
		var e *Error
		if !errors.As(err, &e) || len(e.Fields) != 1 || e.Fields[0].Field != tc.field || !strings.Contains(e.Fields[0].Message, tc.want) {
			t.Errorf("decodeTrigger(%q) = %v, want one error on %s containing %q", tc.body, err, tc.field, tc.want)
		}
	}
	doc, err := decodeTrigger([]byte(`{"name":"Café 🔥","email_message":"a\n\tb\r\n"`+rest), forCreate)
	if err != nil || doc.spec.DisplayName != "Café 🔥" || doc.spec.EmailMessage != "a\n\tb\r\n" {
		t.Errorf("decodeTrigger of good text = %+v, %v", doc, err)
	}
}
