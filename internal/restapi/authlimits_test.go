package restapi

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/leadvibe/milestone-triggers-operator/internal/kubeauth"
	"github.com/leadvibe/milestone-triggers-operator/internal/kubeauth/kubeauthtest"
)

// shimWith serves another shim, over the suite's API server, with authn
// as its authenticator; the specs call it over loopback, so that its
// requests come from 127.0.0.1.
func shimWith(authn *kubeauth.Authenticator) *httptest.Server {
	GinkgoHelper()
	srv, err := New(Options{
		Cache:                k8sClient,
		APIReader:            k8sClient,
		Writer:               k8sClient,
		Authenticator:        authn,
		SubjectAccessReviews: clientset.AuthorizationV1(),
		Logger:               logf.Log.WithName("restapi-limits"),
	})
	Expect(err).NotTo(HaveOccurred())
	ts := httptest.NewServer(srv.Handler())
	DeferCleanup(ts.Close)
	return ts
}

// listTriggers calls GET /triggers on ts with token.
func listTriggers(ts *httptest.Server, token string) *http.Response {
	GinkgoHelper()
	req, err := http.NewRequest(http.MethodGet, ts.URL+"/triggers", nil)
	Expect(err).NotTo(HaveOccurred())
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	Expect(err).NotTo(HaveOccurred())
	resp.Body.Close()
	return resp
}

// tokenFor mints a token of c's service account for audiences.
func tokenFor(ou string, c caller, audiences ...string) string {
	GinkgoHelper()
	expiry := int64(3600)
	tr, err := clientset.CoreV1().ServiceAccounts(ou).CreateToken(suiteCtx, c.subject.Name,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{Audiences: audiences, ExpirationSeconds: &expiry}}, metav1.CreateOptions{})
	Expect(err).NotTo(HaveOccurred())
	return tr.Status.Token
}

var _ = Describe("Token audiences and the failed-authentication limiter", func() {
	It("accepts only tokens minted for the configured audiences", func() {
		ou := newOU()
		c := newServiceAccount(ou, viewerRole)
		ts := shimWith(kubeauth.NewAuthenticator(clientset.AuthenticationV1(), kubeauth.AuthenticatorOptions{
			Audiences: []string{"milestone-triggers"},
		}))
		Expect(listTriggers(ts, tokenFor(ou, c, "milestone-triggers")).StatusCode).To(Equal(http.StatusOK))
		// The API server's own audience, and another one: refused.
		Expect(listTriggers(ts, c.token).StatusCode).To(Equal(http.StatusUnauthorized))
		Expect(listTriggers(ts, tokenFor(ou, c, "someone-else")).StatusCode).To(Equal(http.StatusUnauthorized))
		// The suite's shim, with no audiences configured, takes the API
		// server's own, and refuses a token minted for the operator only.
		c.do(http.MethodGet, "/triggers", "").list()
		Expect(listTriggers(apiServer, tokenFor(ou, c, "milestone-triggers")).StatusCode).To(Equal(http.StatusUnauthorized))
	})

	It("answers 429 with Retry-After, without a TokenReview, to an address past its failures", func() {
		ou := newOU()
		c := newServiceAccount(ou, viewerRole)
		reviews := &kubeauthtest.CountingReviews{Next: clientset.AuthenticationV1()}
		const limit = 3
		ts := shimWith(kubeauth.NewAuthenticator(reviews, kubeauth.AuthenticatorOptions{
			Limiter: kubeauth.NewFailureLimiter(limit, time.Minute, 0, nil),
		}))
		Expect(listTriggers(ts, c.token).StatusCode).To(Equal(http.StatusOK))
		for i := range limit {
			Expect(listTriggers(ts, fmt.Sprintf("random-%d", i)).StatusCode).To(Equal(http.StatusUnauthorized))
		}
		before := reviews.Count()
		Expect(before).To(Equal(int64(1 + limit)))
		for i := range 20 {
			resp := listTriggers(ts, fmt.Sprintf("more-random-%d", i))
			Expect(resp.StatusCode).To(Equal(http.StatusTooManyRequests))
			retry, err := strconv.Atoi(resp.Header.Get("Retry-After"))
			Expect(err).NotTo(HaveOccurred())
			Expect(retry).To(BeNumerically("~", 60, 2))
		}
		// The right token too, from this address, until the window passes.
		Expect(listTriggers(ts, c.token).StatusCode).To(Equal(http.StatusTooManyRequests))
		Expect(reviews.Count()).To(Equal(before), "a limited address caused TokenReviews")
	})
})
