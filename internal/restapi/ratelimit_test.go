package restapi

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/leadvibe/milestone-triggers-operator/internal/event"
	"github.com/leadvibe/milestone-triggers-operator/internal/ratelimit"
	"github.com/leadvibe/milestone-triggers-operator/internal/stream"
)

// suiteEventLimits is the suite's per-OU budget of POST /events: three
// full requests at once, then a slow refill. Every spec publishes in an OU
// of its own, so only the spec below comes near it.
var suiteEventLimits = ratelimit.New(ratelimit.Rate{PerSecond: 100, Burst: 3000}, event.MaxBatchEvents, nil)

var _ = Describe("POST /events rate limit", func() {
	batch := func(from int) string {
		var b strings.Builder
		b.WriteString(`{"events":[`)
		for i := range 1000 {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"id":"rl-%d","lead_id":"ld_%d","event_type":"page_view","score":1}`, from+i, i%7)
		}
		b.WriteString(`]}`)
		return b.String()
	}

	It("answers 429 with Retry-After once an OU has used its burst, and publishes nothing of the refused request", func() {
		ou, other := newOU(), newOU()
		tool := newServiceAccount(ou, "")
		grantPublisher(tool, ou)
		for n := range 3 {
			r := tool.do(http.MethodPost, "/events", batch(n*1000))
			Expect(r.status).To(Equal(http.StatusAccepted), string(r.body))
		}
		r := tool.do(http.MethodPost, "/events", batch(3000))
		Expect(r.status).To(Equal(http.StatusTooManyRequests), string(r.body))
		Expect(string(r.body)).To(ContainSubstring("over its event rate limit"))
		after, err := strconv.Atoi(r.header.Get("Retry-After"))
		Expect(err).NotTo(HaveOccurred(), "Retry-After %q", r.header.Get("Retry-After"))
		// 1000 events at 100 a second need up to 10 s, less what the
		// budget refilled while the requests ran (a slow machine refills
		// more).
		Expect(after).To(And(BeNumerically(">", 0), BeNumerically("<=", 10)), "1000 events at 100 a second")
		st, err := eventStream.JS.Stream(suiteCtx, stream.EventsStream)
		Expect(err).NotTo(HaveOccurred())
		msg, err := st.GetLastMsgForSubject(suiteCtx, stream.EventOUFilter(ou))
		Expect(err).NotTo(HaveOccurred())
		ev, err := event.DecodeEvent(msg.Data, msg.Time)
		Expect(err).NotTo(HaveOccurred())
		Expect(ev.ID).To(Equal("rl-2999"), "the refused request published nothing")

		otherTool := newServiceAccount(other, "")
		grantPublisher(otherTool, other)
		r = otherTool.do(http.MethodPost, "/events", batch(0))
		Expect(r.status).To(Equal(http.StatusAccepted), "another OU has its own limit: %s", r.body)
	})
})
