package streamauth

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

const publisherRole = "milestonetrigger-event-publisher"

var counter atomic.Int64

func next() int64 { return counter.Add(1) }

// createPublisherRole installs the ClusterRole config/rbac ships for
// event publishers, so the tests check the shipped role itself.
func createPublisherRole() {
	data, err := os.ReadFile(filepath.Join("..", "..", "config", "rbac", "milestonetrigger_event_publisher_role.yaml"))
	Expect(err).NotTo(HaveOccurred())
	role := &rbacv1.ClusterRole{}
	Expect(yaml.UnmarshalStrict(data, role)).To(Succeed())
	Expect(k8sClient.Create(suiteCtx, role)).To(Succeed())
}

// newOU creates a namespace, an OU, of its own for one test.
func newOU() string {
	GinkgoHelper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("stream-ou-%d", next())}}
	Expect(k8sClient.Create(suiteCtx, ns)).To(Succeed())
	return ns.Name
}

// publisher is a service account with a token.
type publisher struct {
	ou, name, user, token string
}

// newPublisher creates a service account in ou with a token for
// audiences (none: the API server's), allowed to publish events in each
// of publishTo.
func newPublisher(ou string, publishTo ...string) publisher {
	GinkgoHelper()
	name := fmt.Sprintf("publisher-%d", next())
	Expect(k8sClient.Create(suiteCtx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ou, Name: name}})).To(Succeed())
	expiry := int64(3600)
	tr, err := clientset.CoreV1().ServiceAccounts(ou).CreateToken(suiteCtx, name,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &expiry}}, metav1.CreateOptions{})
	Expect(err).NotTo(HaveOccurred())
	p := publisher{ou: ou, name: name, user: "system:serviceaccount:" + ou + ":" + name, token: tr.Status.Token}
	for _, target := range publishTo {
		Expect(k8sClient.Create(suiteCtx, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Namespace: target, GenerateName: publisherRole + "-"},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: publisherRole},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: ou}},
		})).To(Succeed())
		p.waitAllowed(target)
	}
	return p
}

// waitAllowed waits until the API server's authorizer lets p publish in
// ou, so that the service's cache cannot remember a refusal from before.
func (p publisher) waitAllowed(ou string) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		sar, err := clientset.AuthorizationV1().SubjectAccessReviews().Create(suiteCtx, &authorizationv1.SubjectAccessReview{
			Spec: authorizationv1.SubjectAccessReviewSpec{
				User:   p.user,
				Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + p.ou, "system:authenticated"},
				ResourceAttributes: &authorizationv1.ResourceAttributes{
					Namespace: ou, Verb: "create", Group: "triggers.leadvibe.io", Resource: Resource, Subresource: Subresource,
				},
			},
		}, metav1.CreateOptions{})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(sar.Status.Allowed).To(BeTrue())
	}).Should(Succeed())
}

var lastSource atomic.Int64

// newSource is a loopback address of its own (127.0.1.x, 127.0.2.x, ...)
// for one test's clients to connect from.
func newSource() string {
	n := lastSource.Add(1)
	return fmt.Sprintf("127.0.%d.%d", 1+n/250, 1+n%250)
}

// client is a NATS connection from outside the operator, with the
// asynchronous errors the server sent it.
type natsClient struct {
	nc   *nats.Conn
	errs chan error
}

// connect connects to the listener from source with opts.
func connect(source string, opts ...nats.Option) (*natsClient, error) {
	c := &natsClient{errs: make(chan error, 64)}
	opts = append([]nats.Option{
		nats.Name("streamauth-test"),
		nats.NoReconnect(),
		nats.Timeout(5 * time.Second),
		nats.SetCustomDialer(&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(source)}, Timeout: 5 * time.Second}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			select {
			case c.errs <- err:
			default:
			}
		}),
	}, opts...)
	nc, err := nats.Connect(operator.ClientURL(), opts...)
	if err != nil {
		return nil, err
	}
	c.nc = nc
	DeferCleanup(nc.Close)
	return c, nil
}

// mustConnect connects, or fails the test.
func mustConnect(source string, opts ...nats.Option) *natsClient {
	GinkgoHelper()
	c, err := connect(source, opts...)
	Expect(err).NotTo(HaveOccurred())
	return c
}

// expectViolation waits for the server's permissions violation naming
// subject.
func (c *natsClient) expectViolation(kind, subject string) {
	GinkgoHelper()
	want := strings.ToLower(fmt.Sprintf("permissions violation for %s to %q", kind, subject))
	Eventually(c.errs).WithTimeout(5 * time.Second).Should(Receive(WithTransform(func(err error) string {
		return strings.ToLower(err.Error())
	}, ContainSubstring(want))))
}

var deleteNow = metav1.DeleteOptions{}

// expectViolationPrefix waits for the server's permissions violation for
// a subject starting with prefix.
func (c *natsClient) expectViolationPrefix(kind, prefix string) {
	GinkgoHelper()
	want := strings.ToLower(fmt.Sprintf("permissions violation for %s to %q", kind, prefix))
	want = strings.TrimSuffix(want, `"`)
	Eventually(c.errs).WithTimeout(5 * time.Second).Should(Receive(WithTransform(func(err error) string {
		return strings.ToLower(err.Error())
	}, ContainSubstring(want))))
}
