package restapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus/testutil"
	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/leadvibe/milestone-triggers-operator/internal/event"
	"github.com/leadvibe/milestone-triggers-operator/internal/metrics"
	"github.com/leadvibe/milestone-triggers-operator/internal/stream"
)

const publisherRole = "milestonetrigger-event-publisher"

var _ = Describe("POST /events", func() {
	lastOnSubject := func(ou string) event.Event {
		GinkgoHelper()
		st, err := eventStream.JS.Stream(suiteCtx, stream.EventsStream)
		Expect(err).NotTo(HaveOccurred())
		msg, err := st.GetLastMsgForSubject(suiteCtx, stream.EventOUFilter(ou))
		Expect(err).NotTo(HaveOccurred())
		ev, err := event.DecodeEvent(msg.Data, msg.Time)
		Expect(err).NotTo(HaveOccurred())
		return ev
	}

	It("publishes one event or a batch to the caller's OU", func() {
		ou := newOU()
		tool := newServiceAccount(ou, "")
		grantPublisher(tool, ou)

		r := tool.do(http.MethodPost, "/events", `{"id":"evt-789","lead_id":"ld_123","event_type":"demo_request","score":82,"metadata":{"source":"website"}}`)
		Expect(r.status).To(Equal(http.StatusAccepted), string(r.body))
		Expect(lastOnSubject(ou).ID).To(Equal("evt-789"))

		r = tool.do(http.MethodPost, "/events", `{"events":[
			{"id":"b1","lead_id":"ld_1","event_type":"page_view","score":10},
			{"id":"b2","lead_id":"ld_1","event_type":"page_view","score":20},
			{"id":"evt-789","lead_id":"ld_123","event_type":"demo_request","score":82}]}`)
		Expect(r.status).To(Equal(http.StatusAccepted), string(r.body))
		var got ingestResponse
		Expect(json.Unmarshal(r.body, &got)).To(Succeed())
		Expect(got.Accepted).To(Equal(2))
		Expect(got.Events).To(HaveLen(3))
		Expect(got.Events[2]).To(Equal(acceptedEvent{ID: "evt-789", Duplicate: true}))
		Expect(lastOnSubject(ou).ID).To(Equal("b2"))
	})

	It("commits a request's events as one atomic batch, in order", func() {
		ou := newOU()
		tool := newServiceAccount(ou, "")
		grantPublisher(tool, ou)
		var body strings.Builder
		body.WriteString(`{"events":[`)
		for i := range 500 {
			if i > 0 {
				body.WriteString(",")
			}
			fmt.Fprintf(&body, `{"id":"many-%d","lead_id":"ld_%d","event_type":"page_view","score":%d}`, i, i%7, i)
		}
		body.WriteString(`]}`)
		batches := func() float64 { return testutil.ToFloat64(metrics.StreamBatches.WithLabelValues(stream.EventsStream)) }
		before := batches()
		r := tool.do(http.MethodPost, "/events", body.String())
		Expect(r.status).To(Equal(http.StatusAccepted), string(r.body))
		var got ingestResponse
		Expect(json.Unmarshal(r.body, &got)).To(Succeed())
		Expect(got.Accepted).To(Equal(500))
		Expect(batches()-before).To(Equal(1.0), "500 events, one commit")
		Expect(lastOnSubject(ou).ID).To(Equal("many-499"))
	})

	It("refuses a batch with an invalid event, naming the event and the field, and publishes none of it", func() {
		ou := newOU()
		tool := newServiceAccount(ou, "")
		grantPublisher(tool, ou)
		r := tool.do(http.MethodPost, "/events", `[
			{"id":"ok-1","lead_id":"ld_1","event_type":"page_view","score":10},
			{"id":"bad","lead_id":"ld_1","event_type":"page_view","score":"high","color":"red"}]`)
		e := r.apiError(http.StatusBadRequest)
		Expect(fieldNames(e)).To(ContainElements("events[1].score", "events[1].color"))
		st, err := eventStream.JS.Stream(suiteCtx, stream.EventsStream)
		Expect(err).NotTo(HaveOccurred())
		_, err = st.GetLastMsgForSubject(suiteCtx, stream.EventOUFilter(ou))
		Expect(err).To(HaveOccurred(), "nothing of a refused batch is published")
	})

	It("needs create on milestonetriggers/events in the OU", func() {
		ou := newOU()
		viewer := newServiceAccount(ou, viewerRole)
		r := viewer.do(http.MethodPost, "/events", `{"id":"e","lead_id":"l","event_type":"page_view","score":1}`)
		r.apiError(http.StatusForbidden)
		do(http.MethodPost, "/events", "", `{"id":"e","lead_id":"l","event_type":"page_view","score":1}`).apiError(http.StatusUnauthorized)
	})
})

// grantPublisher binds the caller to the publisher role in ou and waits
// until the API server's authorizer lets it create events there.
func grantPublisher(c caller, ou string) {
	GinkgoHelper()
	Expect(k8sClient.Create(suiteCtx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: ou, GenerateName: publisherRole + "-"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: publisherRole},
		Subjects:   []rbacv1.Subject{c.subject},
	})).To(Succeed())
	Eventually(func(g Gomega) {
		sar, err := clientset.AuthorizationV1().SubjectAccessReviews().Create(suiteCtx, &authorizationv1.SubjectAccessReview{
			Spec: authorizationv1.SubjectAccessReviewSpec{
				User: c.user, Groups: c.groups,
				ResourceAttributes: &authorizationv1.ResourceAttributes{
					Namespace: ou, Verb: "create", Group: "triggers.leadvibe.io", Resource: "milestonetriggers", Subresource: EventsSubresource,
				},
			},
		}, metav1.CreateOptions{})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(sar.Status.Allowed).To(BeTrue())
	}).Should(Succeed())
}
