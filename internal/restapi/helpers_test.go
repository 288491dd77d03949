package restapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	triggersv1alpha1 "github.com/leadvibe/milestone-triggers-operator/api/v1alpha1"
)

// The ClusterRoles given to REST callers, as in the report's manifests.
const (
	viewerRole = "milestonetrigger-viewer"
	editorRole = "milestonetrigger-editor"
)

var counter atomic.Int64

func next() int64 { return counter.Add(1) }

// createClusterRoles installs the ClusterRoles config/rbac ships for REST
// callers, so the tests check the shipped roles themselves.
func createClusterRoles() {
	for _, file := range []string{
		"milestonetrigger_viewer_role.yaml",
		"milestonetrigger_editor_role.yaml",
		"milestonetrigger_event_publisher_role.yaml",
	} {
		data, err := os.ReadFile(filepath.Join("..", "..", "config", "rbac", file))
		Expect(err).NotTo(HaveOccurred())
		role := &rbacv1.ClusterRole{}
		Expect(yaml.UnmarshalStrict(data, role)).To(Succeed(), file)
		Expect(k8sClient.Create(suiteCtx, role)).To(Succeed())
	}
}

// newOU creates a namespace, an OU, of its own for one test.
func newOU() string {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("rest-ou-%d", next())}}
	Expect(k8sClient.Create(suiteCtx, ns)).To(Succeed())
	return ns.Name
}

// caller is someone calling the REST API with a bearer token.
type caller struct {
	token  string
	user   string
	groups []string
	// subject binds roles to the caller.
	subject rbacv1.Subject
}

// newServiceAccount creates a service account in ou, gets it a token from
// the TokenRequest API, and binds it to role (when not empty) in ou.
func newServiceAccount(ou, role string) caller {
	GinkgoHelper()
	name := fmt.Sprintf("tool-%d", next())
	Expect(k8sClient.Create(suiteCtx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ou, Name: name}})).To(Succeed())
	expiry := int64(3600)
	tr, err := clientset.CoreV1().ServiceAccounts(ou).CreateToken(suiteCtx, name,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &expiry}}, metav1.CreateOptions{})
	Expect(err).NotTo(HaveOccurred())
	c := caller{
		token:   tr.Status.Token,
		user:    "system:serviceaccount:" + ou + ":" + name,
		groups:  []string{"system:serviceaccounts", "system:serviceaccounts:" + ou, "system:authenticated"},
		subject: rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: ou},
	}
	if role != "" {
		c.grant(ou, role)
	}
	return c
}

// alice is a person, not a service account: she has no default OU.
func alice() caller { return person(aliceToken, aliceName, aliceGroup) }

// bob is another person, in another group.
func bob() caller { return person(bobToken, bobName, bobGroup) }

// person is a static-token user; roles are bound to their group.
func person(token, name, group string) caller {
	return caller{
		token:   token,
		user:    name,
		groups:  []string{group, "system:authenticated"},
		subject: rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: group},
	}
}

var deleteNow = metav1.DeleteOptions{}

// bindEverywhere binds the caller to a ClusterRole in every namespace.
func (c caller) bindEverywhere(role string) {
	GinkgoHelper()
	Expect(k8sClient.Create(suiteCtx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{GenerateName: role + "-"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
		Subjects:   []rbacv1.Subject{c.subject},
	})).To(Succeed())
	c.waitAllowed("rest-ou-missing")
}

// grant binds the caller to a ClusterRole in ou, and waits until the API
// server's authorizer has seen the binding, so that the shim's
// authorization cache cannot remember a refusal from before it.
func (c caller) grant(ou, role string) {
	GinkgoHelper()
	Expect(k8sClient.Create(suiteCtx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: ou, GenerateName: role + "-"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
		Subjects:   []rbacv1.Subject{c.subject},
	})).To(Succeed())
	c.waitAllowed(ou)
}

// waitAllowed waits until the API server's authorizer lets the caller list
// triggers in ou.
func (c caller) waitAllowed(ou string) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		sar, err := clientset.AuthorizationV1().SubjectAccessReviews().Create(suiteCtx, &authorizationv1.SubjectAccessReview{
			Spec: authorizationv1.SubjectAccessReviewSpec{
				User:   c.user,
				Groups: c.groups,
				ResourceAttributes: &authorizationv1.ResourceAttributes{
					Namespace: ou, Verb: "list", Group: "triggers.leadvibe.io", Resource: "milestonetriggers",
				},
			},
		}, metav1.CreateOptions{})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(sar.Status.Allowed).To(BeTrue())
	}).Should(Succeed())
}

// response is an answer of the REST API.
type response struct {
	status int
	header http.Header
	body   []byte
}

// do calls the REST API. body, when not empty, is sent as JSON; headers are
// name, value pairs, and may override the Content-Type. The exchange must
// conform to docs/openapi.json (see openapivalidate_test.go).
func do(method, path, token, body string, headers ...string) response {
	GinkgoHelper()
	var rd io.Reader
	if body != "" {
		rd = bytes.NewBufferString(body)
	}
	req, err := http.NewRequestWithContext(suiteCtx, method, apiServer.URL+path, rd)
	Expect(err).NotTo(HaveOccurred())
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := apiClient().Do(req)
	Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	Expect(err).NotTo(HaveOccurred())
	expectConformant()
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

func (c caller) do(method, path, body string, headers ...string) response {
	GinkgoHelper()
	return do(method, path, c.token, body, headers...)
}

// in calls the REST API in a given OU.
func (c caller) in(ou, method, path, body string, headers ...string) response {
	GinkgoHelper()
	return do(method, path, c.token, body, append([]string{OUHeader, ou}, headers...)...)
}

// fields decodes a JSON object body into a generic map, to check its keys.
func (r response) fields() map[string]any {
	GinkgoHelper()
	var m map[string]any
	Expect(json.Unmarshal(r.body, &m)).To(Succeed(), "body: %s", r.body)
	return m
}

// trigger decodes a trigger, expecting status.
func (r response) trigger(status int) Trigger {
	GinkgoHelper()
	Expect(r.status).To(Equal(status), "body: %s", r.body)
	Expect(r.header.Get("Content-Type")).To(Equal("application/json; charset=utf-8"))
	var t Trigger
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	Expect(dec.Decode(&t)).To(Succeed(), "body: %s", r.body)
	return t
}

// list decodes the body of GET /triggers.
func (r response) list() []Trigger {
	GinkgoHelper()
	Expect(r.status).To(Equal(http.StatusOK), "body: %s", r.body)
	Expect(r.fields()).To(HaveKey("triggers"))
	var l TriggerList
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	Expect(dec.Decode(&l)).To(Succeed())
	Expect(l.Triggers).NotTo(BeNil())
	return l.Triggers
}

// apiError checks that the response is an error of the given status in the
// one error shape, and returns it.
func (r response) apiError(status int) Error {
	GinkgoHelper()
	Expect(r.status).To(Equal(status), "body: %s", r.body)
	Expect(r.header.Get("Content-Type")).To(Equal("application/json; charset=utf-8"))
	var body struct {
		Error *Error `json:"error"`
	}
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	Expect(dec.Decode(&body)).To(Succeed(), "body: %s", r.body)
	Expect(body.Error).To(HaveOccurred(), "body: %s", r.body)
	Expect(body.Error.Status).To(Equal(status))
	Expect(body.Error.Message).NotTo(BeEmpty())
	return *body.Error
}

// ids returns the ids of triggers.
func ids(ts []Trigger) []string {
	out := make([]string, 0, len(ts))
	for _, t := range ts {
		out = append(out, t.ID)
	}
	return out
}

// create makes a trigger through the REST API and returns it.
func (c caller) create(ou, body string) Trigger {
	GinkgoHelper()
	return c.in(ou, http.MethodPost, "/triggers", body).trigger(http.StatusCreated)
}

// getResource reads a trigger through the Kubernetes API.
func getResource(ou, id string) *triggersv1alpha1.MilestoneTrigger {
	GinkgoHelper()
	mt := &triggersv1alpha1.MilestoneTrigger{}
	Expect(k8sClient.Get(suiteCtx, types.NamespacedName{Namespace: ou, Name: id}, mt)).To(Succeed())
	return mt
}

// fieldNames lists the fields of a validation error.
func fieldNames(e Error) []string {
	out := make([]string, 0, len(e.Fields))
	for _, f := range e.Fields {
		out = append(out, f.Field)
	}
	return out
}
