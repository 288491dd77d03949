package e2e

import (
	"context"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/leadvibe/milestone-triggers-operator/internal/streamauth"
)

// tokenClient connects to the operator's stream listener as a tenant's
// publisher does: its token, the inbox prefix of its identity.
func tokenClient(opts ...nats.Option) (*nats.Conn, error) {
	return nats.Connect(operator.StreamURL(), append([]nats.Option{nats.Name("e2e-tenant"), nats.Timeout(5 * time.Second)}, opts...)...)
}

var _ = Describe("The stream listener, as tenants and strangers connect to it", func() {
	It("refuses anonymous and bad tokens, lets a token publish to its own OU only, and what it publishes fires", func() {
		const ouA, ouB = "e2e-nats-a", "e2e-nats-b"
		a, b := newOU(ouA), newOU(ouB)
		apply(ouA, trigger{Name: "hot", Threshold: 50, Webhook: true})

		By("an anonymous client and a garbage token")
		_, err := tokenClient()
		Expect(err).To(MatchError(ContainSubstring("Authorization Violation")))
		_, err = tokenClient(nats.Token("not-a-token"))
		Expect(err).To(MatchError(ContainSubstring("Authorization Violation")))

		By("another OU's token naming this OU")
		_, err = tokenClient(nats.UserInfo(ouA, b.api.token))
		Expect(err).To(MatchError(ContainSubstring("Authorization Violation")), "OU b's publisher is not allowed in OU a")

		By("the OU's own token")
		prefix := streamauth.InboxPrefix("system:serviceaccount:" + ouA + ":e2e-editor")
		nc, err := tokenClient(nats.Token(a.api.token), nats.CustomInboxPrefix(prefix))
		Expect(err).NotTo(HaveOccurred())
		defer nc.Close()
		js, err := jetstream.New(nc)
		Expect(err).NotTo(HaveOccurred())
		ctx, cancel := context.WithTimeout(suiteCtx, 10*time.Second)
		defer cancel()
		ev := event{ID: "nats-auth-1", LeadID: "ld_nats", EventType: "page_view", Score: 60}
		ack, err := js.Publish(ctx, eventSubject(ouA), ev.json(), jetstream.WithMsgID(ev.ID))
		Expect(err).NotTo(HaveOccurred())
		Expect(ack.Stream).To(Equal("LEADVIBE_EVENTS"))
		Eventually(func() (string, error) { return firedCount(ouA, "hot") }, 30*time.Second).Should(Equal("1"),
			"the event published with the token fires the OU's trigger")

		By("the same connection trying another OU, the other streams and the JetStream API")
		short, cancelShort := context.WithTimeout(suiteCtx, 2*time.Second)
		defer cancelShort()
		_, err = js.Publish(short, eventSubject(ouB), ev.json())
		Expect(err).To(HaveOccurred(), "published to another OU's subject")
		_, err = js.Stream(short, "LEADVIBE_FIRINGS")
		Expect(err).To(HaveOccurred(), "read stream info through the JetStream API")
		for _, subject := range []string{">", "_INBOX.>", "$KV.>", "leadvibe.firings.>"} {
			errs := make(chan error, 1)
			other, err := tokenClient(nats.Token(a.api.token), nats.CustomInboxPrefix(prefix),
				nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err }))
			Expect(err).NotTo(HaveOccurred())
			_, err = other.SubscribeSync(subject)
			Expect(err).NotTo(HaveOccurred()) // refused asynchronously
			Expect(other.Flush()).To(Succeed())
			var got error
			Eventually(errs, 5*time.Second).Should(Receive(&got), "subscribing to %s", subject)
			Expect(got.Error()).To(ContainSubstring("Permissions Violation"), "subscribing to %s", subject)
			other.Close()
		}
	})
})
