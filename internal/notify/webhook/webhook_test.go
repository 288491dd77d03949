package webhook

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/leadvibe/milestone-triggers-operator/internal/notify"
	"github.com/leadvibe/milestone-triggers-operator/internal/notify/notifytest"
	"github.com/leadvibe/milestone-triggers-operator/internal/notify/safehttp"
	"github.com/leadvibe/milestone-triggers-operator/internal/notify/safehttp/safehttptest"
	"github.com/leadvibe/milestone-triggers-operator/internal/triggerset"
)

// received is one request a test receiver got.
type received struct {
	header http.Header
	body   []byte
}

// receiver starts a webhook receiver answering status, with Retry-After
// when retryAfter is set, and recording what it gets.
func receiver(t *testing.T, status int, retryAfter string) (*httptest.Server, <-chan received) {
	t.Helper()
	got := make(chan received, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got <- received{header: r.Header.Clone(), body: body}
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	return srv, got
}

func delivery(url string, secrets ...string) notify.Delivery {
	creds := make([]triggerset.Credential, len(secrets))
	for i, s := range secrets {
		creds[i] = triggerset.NewCredential(s)
	}
	return notify.Delivery{
		Firing: notifytest.Firing(),
		Trigger: notifytest.Trigger(triggerset.Destinations{
			Webhook:               triggerset.NewCredential(url),
			WebhookSigningSecrets: creds,
		}),
		Attempt: 1,
		Now:     time.Now().Truncate(time.Second),
	}
}

func newNotifier() *Notifier { return New(safehttp.NewClient(safehttptest.Policy(), 5*time.Second)) }

func TestSendPostsSignedPayload(t *testing.T) {
	srv, got := receiver(t, http.StatusOK, "")
	other := "whsec_" + base64.StdEncoding.EncodeToString([]byte("the next key, during a rotation"))
	d := delivery(srv.URL+"/hooks/leadvibe?token=s3cr3t", specSecret, other)

	if _, err := newNotifier().Send(context.Background(), d); err != nil {
		t.Fatalf("Send: %v", err)
	}
	r := <-got
	want, _ := Payload(d.Firing)
	if string(r.body) != string(want) {
		t.Fatalf("body = %s\nwant %s", r.body, want)
	}
	for name, value := range map[string]string{
		"Content-Type":      "application/json",
		"User-Agent":        "milestone-triggers/1",
		"webhook-id":        d.Firing.ID,
		"webhook-timestamp": strconv.FormatInt(d.Now.Unix(), 10),
	} {
		if g := r.header.Get(name); g != value {
			t.Errorf("header %s = %q, want %q", name, g, value)
		}
	}
	if r.header.Get("x-leadvibe-test") != "" {
		t.Errorf("a real delivery is marked as a test")
	}
	sigs := strings.Fields(r.header.Get("webhook-signature"))
	if len(sigs) != 2 {
		t.Fatalf("webhook-signature = %q, want two signatures during a rotation", r.header.Get("webhook-signature"))
	}
	for _, secret := range []string{specSecret, other} {
		if err := Verify(secret, r.header, r.body, time.Now(), 5*time.Minute); err != nil {
			t.Errorf("verifying with one of the rotating secrets: %v", err)
		}
	}
	if err := Verify("whsec_"+base64.StdEncoding.EncodeToString([]byte("a key nobody configured")), r.header, r.body, time.Now(), 5*time.Minute); err == nil {
		t.Errorf("a foreign secret verifies the webhook")
	}
}

func TestSendStableIDAndTestMarker(t *testing.T) {
	srv, got := receiver(t, http.StatusNoContent, "")
	d := delivery(srv.URL)
	n := newNotifier()
	if res, err := n.Send(context.Background(), d); err != nil || res.StatusCode != http.StatusNoContent {
		t.Fatalf("result %+v, %v; want the receiver's 204", res, err)
	}
	d.Attempt, d.Now, d.Test = 2, d.Now.Add(5*time.Second), true
	if _, err := n.Send(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	first, second := <-got, <-got
	if first.header.Get("webhook-id") != second.header.Get("webhook-id") || first.header.Get("webhook-id") != d.Firing.ID {
		t.Errorf("webhook-id differs between attempts: %q, %q", first.header.Get("webhook-id"), second.header.Get("webhook-id"))
	}
	if first.header.Get("webhook-timestamp") == second.header.Get("webhook-timestamp") {
		t.Errorf("webhook-timestamp is the same on both attempts")
	}
	if first.header.Get("webhook-signature") != "" {
		t.Errorf("signed without a signing secret")
	}
	if second.header.Get("x-leadvibe-test") != "true" {
		t.Errorf("x-leadvibe-test = %q on a test delivery, want true", second.header.Get("x-leadvibe-test"))
	}
}

func TestSendClassifiesStatuses(t *testing.T) {
	tests := []struct {
		status     int
		retryAfter string
		retryable  bool
		wantAfter  time.Duration
	}{
		{500, "", true, 0},
		{503, "30", true, 30 * time.Second},
		{408, "", true, 0},
		{429, time.Now().Add(time.Hour).UTC().Format(http.TimeFormat), true, time.Hour},
		{400, "", false, 0},
		{404, "", false, 0},
		{410, "", false, 0},
		{301, "", false, 0},
	}
	for _, tt := range tests {
		srv, _ := receiver(t, tt.status, tt.retryAfter)
		_, err := newNotifier().Send(context.Background(), delivery(srv.URL+"/hook?token=s3cr3t"))
		if err == nil {
			t.Errorf("status %d: success, want a failure", tt.status)
			continue
		}
		if notify.IsRetryable(err) != tt.retryable {
			t.Errorf("status %d: retryable = %v, want %v", tt.status, notify.IsRetryable(err), tt.retryable)
		}
		// An HTTP-date is only to the second; allow for the test's run time.
		if got := notify.RetryAfter(err); got > tt.wantAfter || got < tt.wantAfter-3*time.Second {
			t.Errorf("status %d: RetryAfter = %v, want %v", tt.status, got, tt.wantAfter)
		}
		if notify.StatusCode(err) != tt.status {
			t.Errorf("status %d: StatusCode = %d", tt.status, notify.StatusCode(err))
		}
		if strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("status %d: error %q leaks the token", tt.status, err)
		}
	}
}

func TestSendTransportFailures(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + l.Addr().String() + "/hook?token=s3cr3t"
	l.Close()

	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer slow.Close()
	defer close(release)

	tests := []struct {
		name      string
		url       string
		timeout   time.Duration
		retryable bool
		is        error
	}{
		{"connection refused", refused, 5 * time.Second, true, nil},
		{"slow server", slow.URL + "/hook?token=s3cr3t", 100 * time.Millisecond, true, context.DeadlineExceeded},
		{"denied target", "http://169.254.169.254/latest?token=s3cr3t", 5 * time.Second, false, safehttp.ErrDenied},
		{"malformed URL", "http://exa mple.com/?token=s3cr3t", 5 * time.Second, false, nil},
	}
	for _, tt := range tests {
		ctx, cancel := context.WithTimeout(context.Background(), tt.timeout)
		_, err := newNotifier().Send(ctx, delivery(tt.url))
		cancel()
		if err == nil {
			t.Errorf("%s: success, want a failure", tt.name)
			continue
		}
		if notify.IsRetryable(err) != tt.retryable {
			t.Errorf("%s: retryable = %v, want %v (%v)", tt.name, notify.IsRetryable(err), tt.retryable, err)
		}
		if tt.is != nil && !errors.Is(err, tt.is) {
			t.Errorf("%s: err = %v, want one matching %v", tt.name, err, tt.is)
		}
		if strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("%s: error %q leaks the token", tt.name, err)
		}
	}
}

func TestSendBadSecretIsPermanent(t *testing.T) {
	srv, got := receiver(t, http.StatusOK, "")
	_, err := newNotifier().Send(context.Background(), delivery(srv.URL, "whsec_!!not-base64!!"))
	if err == nil || notify.IsRetryable(err) || strings.Contains(err.Error(), "not-base64") {
		t.Fatalf("err = %v, want a permanent failure that does not reveal the secret", err)
	}
	if len(got) != 0 {
		t.Fatal("an unsigned request was sent")
	}
}

func TestNotifierDescribesDestination(t *testing.T) {
	n := newNotifier()
	d := delivery("https://user:pw@hooks.example.com/leadvibe?token=s3cr3t")
	if n.Channel() != notify.ChannelWebhook || !n.Configured(d.Trigger) {
		t.Fatalf("Channel = %q, Configured = %v", n.Channel(), n.Configured(d.Trigger))
	}
	if got := n.Destination(d.Trigger); got != "https://hooks.example.com/<redacted>" {
		t.Fatalf("Destination = %q", got)
	}
	if n.Configured(triggerset.Definition{}) {
		t.Fatal("a trigger without a webhook URL is configured")
	}
}
