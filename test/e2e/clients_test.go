package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/leadvibe/milestone-triggers-operator/internal/localsystem"
)

// kubectl runs kubectl with the suite's admin kubeconfig, with stdin as
// its input when not empty, and returns its standard output.
func kubectl(stdin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(suiteCtx, 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "kubectl", append([]string{"--kubeconfig", controlPlane.Kubeconfig}, args...)...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// mustKubectl is kubectl that fails the spec on an error.
func mustKubectl(stdin string, args ...string) string {
	GinkgoHelper()
	out, err := kubectl(stdin, args...)
	Expect(err).NotTo(HaveOccurred())
	return out
}

// kubectlTable runs kubectl with args and returns the table it prints: a
// row by line, each cell by column header.
func kubectlTable(args ...string) []map[string]string {
	GinkgoHelper()
	out := mustKubectl("", args...)
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	Expect(lines).NotTo(BeEmpty())
	header := lines[0]
	// A column starts at the start of the line and after two spaces.
	var starts []int
	for i := range header {
		if header[i] != ' ' && (i == 0 || i >= 2 && header[i-1] == ' ' && header[i-2] == ' ') {
			starts = append(starts, i)
		}
	}
	cell := func(line string, c int) string {
		if starts[c] >= len(line) {
			return ""
		}
		end := len(line)
		if c+1 < len(starts) && starts[c+1] < end {
			end = starts[c+1]
		}
		return strings.TrimSpace(line[starts[c]:end])
	}
	rows := make([]map[string]string, 0, len(lines)-1)
	for _, line := range lines[1:] {
		row := map[string]string{}
		for c := range starts {
			row[cell(header, c)] = cell(line, c)
		}
		rows = append(rows, row)
	}
	return rows
}

// testOU is an Organizational Unit (a namespace) of one spec, with a
// service account that edits its triggers and publishes its events, and
// the Secret holding the suite's webhook signing secret.
type testOU struct {
	name string
	// api calls the REST API as the OU's editor and event publisher.
	api apiClient
}

// newOU creates the namespace, the service account (bound to the editor
// and event-publisher ClusterRoles there) with a token, and the signing
// secret's Secret, created with kubectl as a user would.
func newOU(name string) testOU {
	GinkgoHelper()
	Expect(controlPlane.CreateOU(suiteCtx, name)).To(Succeed())
	token := serviceAccountToken(name, "e2e-editor", roles[localsystem.EditorRoleFile], roles[localsystem.EventPublisherRoleFile])
	mustKubectl("", "-n", name, "create", "secret", "generic", signingSecretName, "--from-literal=signing-secret="+signingSecret)
	mustKubectl("", "-n", name, "label", "secret", signingSecretName, "triggers.leadvibe.io/referenceable=true")
	return testOU{name: name, api: apiClient{token: token}}
}

// serviceAccountToken creates a service account bound to the ClusterRoles
// boundRoles in ou, waits until the API server's authorizer allows what
// each grants (the REST API caches a refusal for a few seconds), and
// returns its token.
func serviceAccountToken(ou, name string, boundRoles ...string) string {
	GinkgoHelper()
	token, err := controlPlane.ServiceAccountToken(suiteCtx, ou, name, boundRoles, time.Hour)
	Expect(err).NotTo(HaveOccurred())
	user := "system:serviceaccount:" + ou + ":" + name
	for _, role := range boundRoles {
		cr, err := controlPlane.Clientset.RbacV1().ClusterRoles().Get(suiteCtx, role, metav1.GetOptions{})
		Expect(err).NotTo(HaveOccurred())
		for _, rule := range cr.Rules {
			resource, subresource, _ := strings.Cut(rule.Resources[0], "/")
			attrs := &authorizationv1.ResourceAttributes{
				Namespace: ou, Verb: rule.Verbs[0], Group: rule.APIGroups[0], Resource: resource, Subresource: subresource,
			}
			Eventually(func(g Gomega) {
				sar, err := controlPlane.Clientset.AuthorizationV1().SubjectAccessReviews().Create(suiteCtx, &authorizationv1.SubjectAccessReview{
					Spec: authorizationv1.SubjectAccessReviewSpec{
						User:               user,
						Groups:             []string{"system:serviceaccounts", "system:serviceaccounts:" + ou, "system:authenticated"},
						ResourceAttributes: attrs,
					},
				}, metav1.CreateOptions{})
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(sar.Status.Allowed).To(BeTrue(), "%s may not %s %s/%s in %s yet", user, attrs.Verb, resource, subresource, ou)
			}).Should(Succeed())
		}
	}
	return token
}

// apiClient calls the REST API with a bearer token.
type apiClient struct {
	token string
	// ou, when set, is sent as X-LeadVibe-OU.
	ou string
	// base, when set, is the REST API to call instead of the suite's
	// operator's (another replica's).
	base string
}

// url is the REST API the client calls.
func (c apiClient) url() string {
	if c.base != "" {
		return c.base
	}
	return operator.APIURL()
}

// call sends a request with body (a string, []byte, or anything else as
// JSON; nil for none) and returns the status and the response body.
func (c apiClient) call(method, path string, body any) (int, []byte) {
	GinkgoHelper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	case []byte:
		r = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		Expect(err).NotTo(HaveOccurred())
		r = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(suiteCtx, method, c.url()+path, r)
	Expect(err).NotTo(HaveOccurred())
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if c.ou != "" {
		req.Header.Set("X-LeadVibe-OU", c.ou)
	}
	if r != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	Expect(err).NotTo(HaveOccurred())
	return resp.StatusCode, data
}

// callJSON is call expecting status, decoding the response into out.
func (c apiClient) callJSON(method, path string, body any, status int, out any) {
	GinkgoHelper()
	got, data := c.call(method, path, body)
	Expect(got).To(Equal(status), "%s %s answered %s", method, path, data)
	if out != nil {
		Expect(json.Unmarshal(data, out)).To(Succeed(), "%s", data)
	}
}

// event is an engagement event, as JSON.
type event struct {
	ID        string         `json:"id"`
	LeadID    string         `json:"lead_id"`
	EventType string         `json:"event_type"`
	Score     int64          `json:"score"`
	Metadata  map[string]any `json:"metadata,omitempty"`
	CreatedAt string         `json:"created_at,omitempty"`
}

func (e event) json() []byte {
	data, err := json.Marshal(e)
	Expect(err).NotTo(HaveOccurred())
	return data
}

// eventSubject is the documented subject of an OU's events.
func eventSubject(ou string) string { return "leadvibe.events." + ou }

// natsPublisher publishes to the operator's embedded stream from outside,
// as any NATS client does: to the OU's subject, with the event id as the
// message id. It reconnects when the operator restarts and retries each
// publish until the stream acknowledges it; the message id makes a retry
// of a publish that was stored a duplicate the stream drops.
type natsPublisher struct {
	nc *nats.Conn
	js jetstream.JetStream
}

func connectNATS() *natsPublisher {
	GinkgoHelper()
	nc, err := nats.Connect(operator.NATSURL(),
		nats.Name("e2e-publisher"),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(50*time.Millisecond),
		nats.RetryOnFailedConnect(true),
		nats.Timeout(2*time.Second),
	)
	Expect(err).NotTo(HaveOccurred())
	js, err := jetstream.New(nc)
	Expect(err).NotTo(HaveOccurred())
	return &natsPublisher{nc: nc, js: js}
}

func (p *natsPublisher) close() { p.nc.Close() }

// publish publishes data with the message id until it is acknowledged or
// ctx ends, and returns how many attempts failed.
func (p *natsPublisher) publish(ctx context.Context, ou, msgID string, data []byte) (retries int, err error) {
	for {
		attempt, cancel := context.WithTimeout(ctx, 3*time.Second)
		_, err := p.js.Publish(attempt, eventSubject(ou), data, jetstream.WithMsgID(msgID))
		cancel()
		if err == nil {
			return retries, nil
		}
		if ctx.Err() != nil {
			return retries, fmt.Errorf("publishing %s: %w (last error: %v)", msgID, ctx.Err(), err)
		}
		retries++
		time.Sleep(50 * time.Millisecond)
	}
}

// mustPublish publishes events in order, failing the spec on an error.
func (p *natsPublisher) mustPublish(ou string, events ...event) {
	GinkgoHelper()
	ctx, cancel := context.WithTimeout(suiteCtx, 60*time.Second)
	defer cancel()
	for _, ev := range events {
		_, err := p.publish(ctx, ou, ev.ID, ev.json())
		Expect(err).NotTo(HaveOccurred())
	}
}

// postEvents sends events to POST /events as one batch, in order.
func (c apiClient) postEvents(events ...event) {
	GinkgoHelper()
	var resp struct {
		Accepted int `json:"accepted"`
	}
	c.callJSON(http.MethodPost, "/events", map[string]any{"events": events}, http.StatusAccepted, &resp)
	Expect(resp.Accepted).To(Equal(len(events)))
}

// trigger is a MilestoneTrigger manifest, applied with kubectl.
type trigger struct {
	Name        string
	DisplayName string
	EventType   string
	Threshold   int64
	// Inactive sets active: false.
	Inactive bool
	// Webhook posts to the receiver, signed with the suite's secret.
	Webhook bool
	// WebhookURL, when set, is where Webhook posts instead of the receiver.
	WebhookURL   string
	Emails       []string
	EmailSubject string
	// RearmBelow and Cooldown, when set, are spec.rearmBelow and
	// spec.cooldown.
	RearmBelow *int64
	Cooldown   string
}

func (t trigger) manifest(ou string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: triggers.leadvibe.io/v1alpha1\nkind: MilestoneTrigger\nmetadata:\n  name: %s\n  namespace: %s\nspec:\n", t.Name, ou)
	display := t.DisplayName
	if display == "" {
		display = t.Name
	}
	fmt.Fprintf(&b, "  name: %q\n  scoreThreshold: %d\n  active: %t\n", display, t.Threshold, !t.Inactive)
	if t.EventType != "" {
		fmt.Fprintf(&b, "  eventType: %s\n", t.EventType)
	}
	if t.RearmBelow != nil {
		fmt.Fprintf(&b, "  rearmBelow: %d\n", *t.RearmBelow)
	}
	if t.Cooldown != "" {
		fmt.Fprintf(&b, "  cooldown: %s\n", t.Cooldown)
	}
	if t.Webhook {
		url := t.WebhookURL
		if url == "" {
			url = receiver.URL(ou)
		}
		fmt.Fprintf(&b, "  webhookURL: %s\n  webhookSigningSecretRef:\n    name: %s\n    key: signing-secret\n", url, signingSecretName)
	}
	if len(t.Emails) > 0 {
		b.WriteString("  emails:\n")
		for _, e := range t.Emails {
			fmt.Fprintf(&b, "  - %s\n", e)
		}
	}
	if t.EmailSubject != "" {
		fmt.Fprintf(&b, "  emailSubject: %q\n", t.EmailSubject)
	}
	return b.String()
}

// apply applies the triggers' manifests in ou with kubectl and waits until
// each is Ready.
func apply(ou string, triggers ...trigger) {
	GinkgoHelper()
	docs := make([]string, 0, len(triggers))
	for _, t := range triggers {
		docs = append(docs, t.manifest(ou))
	}
	mustKubectl(strings.Join(docs, "---\n"), "apply", "-f", "-")
	for _, t := range triggers {
		reason := "Accepted"
		if t.Inactive {
			reason = "Inactive"
		}
		waitReady(ou, t.Name, "True", reason)
	}
}

// readyCondition returns "<status> <reason>" of the trigger's Ready
// condition once it describes the trigger's current generation, or the
// empty string before.
func readyCondition(ou, name string) (string, error) {
	out, err := kubectl("", "-n", ou, "get", "mt", name, "-o",
		`jsonpath={.metadata.generation} {.status.conditions[?(@.type=="Ready")].observedGeneration} {.status.conditions[?(@.type=="Ready")].status} {.status.conditions[?(@.type=="Ready")].reason}`)
	if err != nil {
		return "", err
	}
	f := strings.Fields(out)
	if len(f) != 4 || f[0] != f[1] {
		return "", nil
	}
	return f[2] + " " + f[3], nil
}

// waitReady waits until kubectl shows the trigger's Ready condition, for
// its current generation, with the status and reason given.
func waitReady(ou, name, status, reason string) {
	GinkgoHelper()
	Eventually(func() (string, error) { return readyCondition(ou, name) }).Should(Equal(status+" "+reason), "trigger %s/%s", ou, name)
}

// firedCount is the trigger's status.firedCount, as kubectl shows it.
func firedCount(ou, name string) (string, error) {
	return kubectl("", "-n", ou, "get", "mt", name, "-o", "jsonpath={.status.firedCount}")
}
