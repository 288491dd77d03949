package restapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/leadvibe/milestone-triggers-operator/docs"
)

// Every exchange of the envtest suite with the shim is checked against
// docs/openapi.json: the specs call the shim through apiClient, whose
// transport finds each request's operation in the document and validates
// the response (status, headers and body) against it, and, when the shim
// accepted the request (2xx), the request too. Requests the specs send
// wrong on purpose are refused by the shim, so only their responses are
// checked. A request for a path or method the document does not have
// must get the shim's 404 "no such endpoint" or 405, in the error shape.
// The helper that made the request fails the spec with what did not
// conform (see expectConformant).

// openAPICheck holds the document, its router and what did not conform.
type openAPICheck struct {
	doc    *openapi3.T
	router routers.Router
	opts   *openapi3filter.Options

	mu       sync.Mutex
	problems []string
}

var (
	openAPIClientOnce sync.Once
	openAPIClient     *http.Client
	openAPIChecker    *openAPICheck
	openAPIClientErr  error
)

// apiClient returns the client the specs call the shim with: the test
// server's own, with every exchange checked against docs/openapi.json.
func apiClient() *http.Client {
	GinkgoHelper()
	openAPIClientOnce.Do(func() {
		openAPIChecker, openAPIClientErr = newOpenAPICheck(docs.OpenAPI)
		if openAPIClientErr != nil {
			return
		}
		base := apiServer.Client()
		openAPIClient = &http.Client{
			Transport: &conformingTransport{next: base.Transport, check: openAPIChecker},
			Timeout:   base.Timeout,
		}
	})
	Expect(openAPIClientErr).NotTo(HaveOccurred(), "loading docs/openapi.json")
	return openAPIClient
}

// expectConformant fails the spec when an exchange since the last call did
// not conform to docs/openapi.json.
func expectConformant() {
	GinkgoHelper()
	if openAPIChecker == nil {
		return
	}
	if problems := openAPIChecker.take(); len(problems) > 0 {
		Fail("not as docs/openapi.json documents it:\n" + strings.Join(problems, "\n"))
	}
}

func newOpenAPICheck(data []byte) (*openAPICheck, error) {
	doc, err := openapi3.NewLoader().LoadFromData(data)
	if err != nil {
		return nil, err
	}
	router, err := legacy.NewRouter(doc)
	if err != nil {
		return nil, err
	}
	return &openAPICheck{
		doc:    doc,
		router: router,
		opts: &openapi3filter.Options{
			// The shim authenticated the call already; kin is not to
			// check the bearer token again.
			AuthenticationFunc:                openapi3filter.NoopAuthenticationFunc,
			IncludeResponseStatus:             true,
			RejectWhenRequestBodyNotSpecified: true,
			MultiError:                        true,
		},
	}, nil
}

func (c *openAPICheck) record(problem string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.problems = append(c.problems, problem)
}

func (c *openAPICheck) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.problems
	c.problems = nil
	return p
}

// exchange is one request and its response, bodies read.
type exchange struct {
	req      *http.Request
	reqBody  []byte
	status   int
	header   http.Header
	respBody []byte
}

// check validates an exchange against the document.
func (c *openAPICheck) check(ctx context.Context, x exchange) error {
	method := x.req.Method
	if method == http.MethodHead {
		// HEAD is served for every GET route; its response has no body.
		method = http.MethodGet
	}
	route, params, ok := c.findRoute(ctx, x.req, method)
	if !ok {
		return c.checkUndocumented(ctx, x)
	}

	req := x.req.Clone(ctx)
	req.Body = io.NopCloser(bytes.NewReader(x.reqBody))
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: c.opts}
	if x.status >= 200 && x.status < 300 {
		if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
			return fmt.Errorf("the shim accepted a request the document does not allow: %w", err)
		}
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 x.status,
		Header:                 x.header,
		Body:                   io.NopCloser(bytes.NewReader(x.respBody)),
		Options:                c.opts,
	}
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		return fmt.Errorf("response: %w", err)
	}
	return nil
}

// findRoute returns the document's operation for a request made with
// method. (The legacy router matches a path parameter to an empty
// segment, as in DELETE /triggers for /triggers/{id}; the shim's mux does
// not, so neither does findRoute.)
func (c *openAPICheck) findRoute(ctx context.Context, req *http.Request, method string) (*routers.Route, map[string]string, bool) {
	find := req.Clone(ctx)
	find.Method = method
	route, params, err := c.router.FindRoute(find)
	if err != nil {
		return nil, nil, false
	}
	for _, v := range params {
		if v == "" {
			return nil, nil, false
		}
	}
	return route, params, true
}

// checkUndocumented checks the answer to a request the document has no
// operation for: the shim's 405 for a documented path asked with another
// method, or its 404 for any other path, in the one error shape.
func (c *openAPICheck) checkUndocumented(ctx context.Context, x exchange) error {
	want := http.StatusNotFound
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		if _, _, ok := c.findRoute(ctx, x.req, m); ok {
			want = http.StatusMethodNotAllowed
			break
		}
	}
	if x.status != want {
		return fmt.Errorf("the document has no such operation, so the shim should answer %d; it answered %d", want, x.status)
	}
	var value any
	if err := json.Unmarshal(x.respBody, &value); err != nil {
		return fmt.Errorf("the %d is not JSON: %w", x.status, err)
	}
	if err := c.doc.Components.Schemas["Error"].Value.VisitJSON(value); err != nil {
		return fmt.Errorf("the %d does not match the Error schema: %w", x.status, err)
	}
	var body struct {
		Error Error `json:"error"`
	}
	_ = json.Unmarshal(x.respBody, &body)
	switch {
	case want == http.StatusNotFound && body.Error.Message != "no such endpoint":
		// A route the document lacks answered.
		return fmt.Errorf("the document has no such path, yet a route answered 404: %s", body.Error.Message)
	case want == http.StatusMethodNotAllowed && x.header.Get("Allow") == "":
		return errors.New("a 405 without an Allow header")
	}
	return nil
}

// conformingTransport checks each exchange it carries, recording what did
// not conform.
type conformingTransport struct {
	next  http.RoundTripper
	check *openAPICheck
}

func (t *conformingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var reqBody []byte
	if req.Body != nil {
		var err error
		reqBody, err = io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		req = req.Clone(req.Context())
		req.Body = io.NopCloser(bytes.NewReader(reqBody))
	}
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	respBody, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(respBody))
	x := exchange{req: req, reqBody: reqBody, status: resp.StatusCode, header: resp.Header, respBody: respBody}
	if err := t.check.check(req.Context(), x); err != nil {
		t.check.record(fmt.Sprintf("%s %s -> %d: %v", req.Method, req.URL.RequestURI(), resp.StatusCode, err))
	}
	return resp, nil
}
