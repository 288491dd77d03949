package streamauth

import (
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/leadvibe/milestone-triggers-operator/internal/stream"
)

var _ = Describe("The stream listener's per-OU event rate", func() {
	It("closes the connections of an OU over its budget, refuses them until it is back within it, and leaves other OUs alone", func() {
		ou, other := newOU(), newOU()
		p, q := newPublisher(ou, ou), newPublisher(other, other)
		source := newSource()
		c := mustConnect(source, nats.Token(p.token), nats.CustomInboxPrefix(InboxPrefix(p.user)))
		calm := mustConnect(newSource(), nats.Token(q.token), nats.CustomInboxPrefix(InboxPrefix(q.user)))
		closed := make(chan struct{})
		c.nc.SetClosedHandler(func(*nats.Conn) { close(closed) })

		// Three times the burst at once: 2,000 events over a budget of a
		// thousand at once and a thousand a second.
		// The throttle may close the connection before the last of them
		// are sent.
		for i := range 3000 {
			if c.nc.Publish(stream.EventSubject(ou), fmt.Appendf(nil, `{"id":"t-%d"}`, i)) != nil {
				break
			}
		}
		_ = c.nc.Flush()
		Eventually(closed).WithTimeout(5*time.Second).Should(BeClosed(), "the OU's connection was not closed")
		// The stream stores what the server took in, after the close too.
		Eventually(func() uint64 { return storedOn(stream.EventSubject(ou)) }).WithTimeout(10*time.Second).
			Should(BeNumerically(">", 1000), "what was published before the count is kept")

		_, err := connect(source, nats.Token(p.token), nats.CustomInboxPrefix(InboxPrefix(p.user)))
		Expect(err).To(MatchError(ContainSubstring(authViolation)), "a publisher of the OU reconnecting at once")

		_, err = publish(calm, stream.EventSubject(other))
		Expect(err).NotTo(HaveOccurred(), "another OU's publisher is not throttled")

		// About two seconds of debt; then the OU's publishers are let in.
		Eventually(func() error {
			c, err := connect(source, nats.Token(p.token), nats.CustomInboxPrefix(InboxPrefix(p.user)))
			if err == nil {
				c.nc.Close()
			}
			return err
		}).WithTimeout(10 * time.Second).WithPolling(250 * time.Millisecond).Should(Succeed())
	})
})
