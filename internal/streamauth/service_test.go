package streamauth

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/leadvibe/milestone-triggers-operator/internal/event"
	"github.com/leadvibe/milestone-triggers-operator/internal/stream"
)

// authViolation is all NATS tells a refused client.
const authViolation = "Authorization Violation"

// publish publishes an event to subject with a JetStream acknowledgement.
func publish(c *natsClient, subject string) (*jetstream.PubAck, error) {
	js, err := jetstream.New(c.nc)
	Expect(err).NotTo(HaveOccurred())
	ctx, cancel := context.WithTimeout(suiteCtx, 3*time.Second)
	defer cancel()
	id := fmt.Sprintf("evt-%d", next())
	ev := event.Event{ID: id, LeadID: "ld_1", EventType: "page_view", Score: 10, CreatedAt: time.Now().UTC()}
	return js.Publish(ctx, subject, ev.Encode(), jetstream.WithMsgID(id))
}

// storedOn counts the events the stream holds on subject (a filter: on every subject it matches), as the
// operator's own connection sees them.
func storedOn(subject string) uint64 {
	GinkgoHelper()
	s, err := operator.JS.Stream(suiteCtx, stream.EventsStream)
	Expect(err).NotTo(HaveOccurred())
	info, err := s.Info(suiteCtx, jetstream.WithSubjectFilter(subject))
	Expect(err).NotTo(HaveOccurred())
	var n uint64
	for _, count := range info.State.Subjects {
		n += count
	}
	return n
}

var _ = Describe("The stream listener", func() {
	It("refuses a client without a token", func() {
		_, err := connect(newSource())
		Expect(err).To(MatchError(ContainSubstring(authViolation)))
		_, err = connect(newSource(), nats.UserInfo("some-ou", ""))
		Expect(err).To(MatchError(ContainSubstring(authViolation)))
	})

	It("refuses a garbage token and a token of a deleted service account", func() {
		ou := newOU()
		_, err := connect(newSource(), nats.Token("not-a-token"))
		Expect(err).To(MatchError(ContainSubstring(authViolation)))

		gone := newPublisher(ou, ou)
		Expect(clientset.CoreV1().ServiceAccounts(ou).Delete(suiteCtx, gone.name, deleteNow)).To(Succeed())
		_, err = connect(newSource(), nats.Token(gone.token))
		Expect(err).To(MatchError(ContainSubstring(authViolation)))
	})

	It("refuses a token without the right to publish in its OU, or in an OU it names", func() {
		ou, other := newOU(), newOU()
		nobody := newPublisher(ou)
		_, err := connect(newSource(), nats.Token(nobody.token))
		Expect(err).To(MatchError(ContainSubstring(authViolation)))

		// Allowed at home only: naming another OU is refused whole.
		home := newPublisher(ou, ou)
		_, err = connect(newSource(), nats.UserInfo(ou+","+other, home.token))
		Expect(err).To(MatchError(ContainSubstring(authViolation)))
		_, err = connect(newSource(), nats.UserInfo(other, home.token))
		Expect(err).To(MatchError(ContainSubstring(authViolation)))
		// A user name that is no OU list.
		_, err = connect(newSource(), nats.UserInfo("OU_A", home.token))
		Expect(err).To(MatchError(ContainSubstring(authViolation)))
	})

	It("admits the right token to publish to its OU, with a JetStream acknowledgement, and nothing else", func() {
		ou, other := newOU(), newOU()
		p := newPublisher(ou, ou)
		c := mustConnect(newSource(), nats.Token(p.token), nats.CustomInboxPrefix(InboxPrefix(p.user)))

		ack, err := publish(c, stream.EventSubject(ou))
		Expect(err).NotTo(HaveOccurred())
		Expect(ack.Stream).To(Equal(stream.EventsStream))
		Expect(storedOn(stream.EventSubject(ou))).To(Equal(uint64(1)))

		// Another OU's subject: refused by the server, and not stored.
		Expect(c.nc.Publish(stream.EventSubject(other), []byte(`{}`))).To(Succeed())
		c.expectViolation("publish", stream.EventSubject(other))
		Expect(storedOn(stream.EventSubject(other))).To(BeZero())

		// The JetStream API, the lead states' bucket and the operator's
		// own subjects are out of reach.
		for _, subject := range []string{"$JS.API.INFO", "$JS.API.STREAM.INFO." + stream.EventsStream, "$KV.LEADVIBE_LEADS.x", "leadvibe.firings.x", "leadvibe.history.x"} {
			Expect(c.nc.Publish(subject, nil)).To(Succeed())
			c.expectViolation("publish", subject)
		}
		js, err := jetstream.New(c.nc)
		Expect(err).NotTo(HaveOccurred())
		ctx, cancel := context.WithTimeout(suiteCtx, time.Second)
		defer cancel()
		_, err = js.AccountInfo(ctx)
		Expect(err).To(HaveOccurred())

		// Nothing to read: every subject but its own inbox, the operator's
		// inbox and another client's inbox included.
		otherPublisher := newPublisher(other, other)
		for _, subject := range []string{">", "_INBOX.>", "$KV.>", "$JS.API.>", stream.EventSubject(ou), "leadvibe.>",
			stream.OperatorInboxPrefix + ".>", InboxPrefix(otherPublisher.user) + ".>"} {
			sub, err := c.nc.SubscribeSync(subject)
			Expect(err).NotTo(HaveOccurred())
			c.expectViolation("subscription", subject)
			Expect(sub.Unsubscribe()).To(Or(Succeed(), MatchError(nats.ErrBadSubscription)))
		}

		// Its own inbox it may use.
		sub, err := c.nc.SubscribeSync(InboxPrefix(p.user) + ".mine")
		Expect(err).NotTo(HaveOccurred())
		Expect(c.nc.Flush()).To(Succeed())
		Expect(operator.NC.Publish(InboxPrefix(p.user)+".mine", []byte("hi"))).To(Succeed())
		m, err := sub.NextMsg(5 * time.Second)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(m.Data)).To(Equal("hi"))
		Expect(c.nc.IsConnected()).To(BeTrue())
	})

	It("lets a publisher write atomic batches, as hack/publish --batch does", func() {
		ou := newOU()
		p := newPublisher(ou, ou)
		c := mustConnect(newSource(), nats.UserInfo(ou, p.token), nats.CustomInboxPrefix(InboxPrefix(p.user)))
		js, err := jetstream.New(c.nc)
		Expect(err).NotTo(HaveOccurred())
		w := stream.NewWriter(js, stream.EventsStream, stream.WriterOptions{MaxBatch: 10, MinBatch: 2, Timeout: 5 * time.Second})
		defer w.Close()
		evs := make([]event.Event, 5)
		for i := range evs {
			evs[i] = event.Event{ID: fmt.Sprintf("batch-%d-%d", next(), i), LeadID: "ld_1", EventType: "page_view", Score: int64(i), CreatedAt: time.Now().UTC()}
		}
		ctx, cancel := context.WithTimeout(suiteCtx, 10*time.Second)
		defer cancel()
		results, err := stream.Publish(ctx, w, ou, evs...)
		Expect(err).NotTo(HaveOccurred())
		Expect(results).To(HaveLen(5))
		Expect(storedOn(stream.EventOUFilter(ou))).To(Equal(uint64(5)))
		Consistently(c.errs, 200*time.Millisecond).ShouldNot(Receive())
	})

	It("does not deliver a JetStream acknowledgement to a client that keeps the default inbox prefix", func() {
		ou := newOU()
		p := newPublisher(ou, ou)
		c := mustConnect(newSource(), nats.Token(p.token))
		_, err := publish(c, stream.EventSubject(ou))
		Expect(err).To(HaveOccurred())
		c.expectViolationPrefix("subscription", "_INBOX.")
	})

	It("admits a publisher to every OU it names as its user name, when allowed in each", func() {
		home, a, b := newOU(), newOU(), newOU()
		p := newPublisher(home, a, b)
		c := mustConnect(newSource(), nats.UserInfo(a+","+b, p.token), nats.CustomInboxPrefix(InboxPrefix(p.user)))
		for _, ou := range []string{a, b} {
			_, err := publish(c, stream.EventSubject(ou))
			Expect(err).NotTo(HaveOccurred())
		}
		// Not its home OU, which it did not name (and may not publish to).
		Expect(c.nc.Publish(stream.EventSubject(home), nil)).To(Succeed())
		c.expectViolation("publish", stream.EventSubject(home))
	})

	It("refuses an address past its failed authentications without a TokenReview, and admits it again later", func() {
		ou := newOU()
		p := newPublisher(ou, ou)
		source := newSource()
		for i := range suiteFailureLimit {
			_, err := connect(source, nats.Token(fmt.Sprintf("random-token-%d", i)))
			Expect(err).To(MatchError(ContainSubstring(authViolation)))
		}
		before := tokenReviews.Count()
		for i := range 10 {
			_, err := connect(source, nats.Token(fmt.Sprintf("more-random-token-%d", i)))
			Expect(err).To(MatchError(ContainSubstring(authViolation)))
		}
		// Even the right token, from this address, until the window passes.
		_, err := connect(source, nats.Token(p.token))
		Expect(err).To(MatchError(ContainSubstring(authViolation)))
		Expect(tokenReviews.Count()).To(Equal(before), "a limited address caused TokenReviews")

		// Another address is not limited.
		mustConnect(newSource(), nats.Token(p.token), nats.CustomInboxPrefix(InboxPrefix(p.user)))
	})

	It("admits a user until its token expires, an hour at most", func() {
		ou := newOU()
		p := newPublisher(ou, ou)
		req := &jwt.AuthorizationRequestClaims{}
		req.ConnectOptions.Token = p.token
		req.ClientInformation.Host = newSource()
		_, ous, expires, err := service.decide(suiteCtx, req)
		Expect(err).NotTo(HaveOccurred())
		Expect(ous).To(Equal([]string{ou}))
		// The token lives an hour: the user, not longer.
		Expect(expires).To(BeTemporally("<=", time.Now().Add(time.Hour)))
		Expect(expires).To(BeTemporally(">", time.Now().Add(50*time.Minute)))

		expiry := int64(600)
		tr, err := clientset.CoreV1().ServiceAccounts(ou).CreateToken(suiteCtx, p.name,
			&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &expiry}}, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		req.ConnectOptions.Token = tr.Status.Token
		_, _, expires, err = service.decide(suiteCtx, req)
		Expect(err).NotTo(HaveOccurred())
		Expect(expires).To(BeTemporally("~", time.Now().Add(10*time.Minute), time.Minute))
	})

	It("keeps the operator's own connection's rights", func() {
		info, err := operator.JS.AccountInfo(suiteCtx)
		Expect(err).NotTo(HaveOccurred())
		Expect(info.Streams).To(BeNumerically(">", 0))
		Expect(strings.HasPrefix(operator.NC.NewRespInbox(), stream.OperatorInboxPrefix+".")).To(BeTrue())
		_, err = operator.JS.Publish(suiteCtx, stream.EventSubject("operator-ou"), []byte(`{}`))
		Expect(err).NotTo(HaveOccurred())
	})
})
