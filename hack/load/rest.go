package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	triggersv1alpha1 "github.com/leadvibe/milestone-triggers-operator/api/v1alpha1"
	"github.com/leadvibe/milestone-triggers-operator/internal/event"
	"github.com/leadvibe/milestone-triggers-operator/internal/kubeauth"
	"github.com/leadvibe/milestone-triggers-operator/internal/localsystem"
)

// With --via rest the tool publishes through the REST API's POST /events,
// as an outside publisher that cannot reach NATS does: --rest-callers
// concurrent callers, each sending the events of its share of the leads
// (by a hash of the lead id, so that a lead's events are always sent by
// the same caller, in order) in requests of up to --rest-batch events of
// one OU, {"events":[...]}, with X-LeadVibe-OU and a bearer token allowed
// to publish there. A request answered 202 holds events durably in the
// stream; its answer says per event whether it was a duplicate.

const (
	// publisherRole is the shipped ClusterRole that lets a caller publish
	// events in an OU (create on milestonetriggers/events).
	publisherRole = "milestonetrigger-event-publisher"
	// loadServiceAccount is the service account the tool creates in its
	// first OU when --token-file is not given.
	loadServiceAccount = "hack-load"
	// publisherBinding is the RoleBinding the tool creates in each OU.
	publisherBinding = "hack-load-event-publisher"
)

// restIdentity is who the REST callers are.
type restIdentity struct {
	token string
	user  string // as the API server authenticates the token
	where string // how the token was obtained, for the report
}

// restToken returns a bearer token allowed to publish events in every OU
// of ous: the one in tokenFile (the local system writes the demo
// service account's to bin/local-state/token), or else a token of the
// service account hack-load, created in the first OU. Either way it binds
// the token's user to the shipped event-publisher ClusterRole in each OU
// (creating the ClusterRole from rbacDir when the cluster has none, as on
// a control plane the tool started), and waits until the API server's
// authorizer allows it there, so that the operator never caches a refusal.
func restToken(ctx context.Context, cs kubernetes.Interface, tokenFile, rbacDir string, ous []ouTriggers) (restIdentity, error) {
	if err := ensurePublisherRole(ctx, cs, rbacDir); err != nil {
		return restIdentity{}, err
	}
	var id restIdentity
	var user authenticationv1.UserInfo
	var subject rbacv1.Subject
	if tokenFile != "" {
		b, err := os.ReadFile(tokenFile)
		if err != nil {
			return id, fmt.Errorf("reading the token: %w", err)
		}
		id.token = strings.TrimSpace(string(b))
		review, err := cs.AuthenticationV1().TokenReviews().Create(ctx, &authenticationv1.TokenReview{
			Spec: authenticationv1.TokenReviewSpec{Token: id.token},
		}, metav1.CreateOptions{})
		if err != nil {
			return id, fmt.Errorf("reviewing the token of %s: %w", tokenFile, err)
		}
		if !review.Status.Authenticated {
			return id, fmt.Errorf("the API server does not accept the token of %s: %s", tokenFile, review.Status.Error)
		}
		user = review.Status.User
		subject = rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user.Username}
		if ns, name, ok := kubeauth.ServiceAccount(user.Username); ok {
			subject = rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: ns}
		}
		id.where = "the token of " + tokenFile
	} else {
		ns := ous[0].namespace
		sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: loadServiceAccount, Namespace: ns}}
		if _, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return id, fmt.Errorf("creating service account %s/%s: %w", ns, loadServiceAccount, err)
		}
		expiry := int64((6 * time.Hour) / time.Second)
		tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, loadServiceAccount, &authenticationv1.TokenRequest{
			Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &expiry},
		}, metav1.CreateOptions{})
		if err != nil {
			return id, fmt.Errorf("a token for %s/%s: %w", ns, loadServiceAccount, err)
		}
		id.token = tr.Status.Token
		user = authenticationv1.UserInfo{
			Username: "system:serviceaccount:" + ns + ":" + loadServiceAccount,
			Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"},
		}
		subject = rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: loadServiceAccount, Namespace: ns}
		id.where = "a token of service account " + ns + "/" + loadServiceAccount + " the tool created"
	}
	id.user = user.Username
	for _, ou := range ous {
		binding := &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: publisherBinding, Namespace: ou.namespace},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: publisherRole},
			Subjects:   []rbacv1.Subject{subject},
		}
		if _, err := cs.RbacV1().RoleBindings(ou.namespace).Create(ctx, binding, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return id, fmt.Errorf("binding %s to %s in %s: %w", user.Username, publisherRole, ou.namespace, err)
		}
	}
	for _, ou := range ous {
		if err := waitMayPublish(ctx, cs, user, ou.namespace); err != nil {
			return id, err
		}
	}
	return id, nil
}

// ensurePublisherRole creates the event-publisher ClusterRole from the
// shipped manifest when the cluster lacks it.
func ensurePublisherRole(ctx context.Context, cs kubernetes.Interface, rbacDir string) error {
	_, err := cs.RbacV1().ClusterRoles().Get(ctx, publisherRole, metav1.GetOptions{})
	if err == nil {
		return nil
	}
	if !apierrors.IsNotFound(err) {
		return fmt.Errorf("reading ClusterRole %s: %w", publisherRole, err)
	}
	role, err := localsystem.ReadClusterRole(filepath.Join(rbacDir, localsystem.EventPublisherRoleFile))
	if err != nil {
		return err
	}
	if role.Name != publisherRole {
		return fmt.Errorf("%s defines ClusterRole %q, want %q", localsystem.EventPublisherRoleFile, role.Name, publisherRole)
	}
	if _, err := cs.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating ClusterRole %s: %w", publisherRole, err)
	}
	return nil
}

// waitMayPublish waits until the API server's authorizer lets user create
// milestonetriggers/events in ou, as the REST API asks it.
func waitMayPublish(ctx context.Context, cs kubernetes.Interface, user authenticationv1.UserInfo, ou string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		sar, err := cs.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{
			Spec: authorizationv1.SubjectAccessReviewSpec{
				User: user.Username, UID: user.UID, Groups: user.Groups,
				ResourceAttributes: &authorizationv1.ResourceAttributes{
					Namespace: ou, Verb: "create", Group: triggersv1alpha1.GroupVersion.Group,
					Resource: "milestonetriggers", Subresource: "events",
				},
			},
		}, metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("asking whether %s may publish events in %s: %w", user.Username, ou, err)
		}
		if sar.Status.Allowed && !sar.Status.Denied {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s is not allowed to publish events (create milestonetriggers/events) in %s after 30s: %s", user.Username, ou, sar.Status.Reason)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// restOptions say how the REST callers publish.
type restOptions struct {
	url     string // the REST API's base URL
	token   string
	batch   int  // events per request, at most
	callers int  // concurrent callers
	full    bool // wait for full requests (--rate 0) instead of sending what is queued
}

// queued is an event waiting in its caller's queue.
type queued struct {
	ou  int
	ev  event.Event // CreatedAt: when it was made (due)
	ids []string    // its expected deliveries
}

// restPublisher is the eventSink of --via rest.
type restPublisher struct {
	o      restOptions
	rcv    *receiver
	ous    []string
	client *http.Client
	ctx    context.Context
	queues []chan queued
	wg     sync.WaitGroup

	acks, duplicates, stalls, bytes, requests, retries atomic.Int64
	lastSent, lastAck                                  atomic.Int64 // unix nanoseconds
	failed                                             atomic.Int64
	firstErr                                           atomic.Pointer[error]

	mu    sync.Mutex
	rtts  []time.Duration
	sizes []int
}

// restStats is what the REST callers did, for the report.
type restStats struct {
	callers, batch, requests int
	retries                  int64
	rtts                     []time.Duration // sorted
	meanSize                 float64
	user, where              string
}

func newRESTPublisher(ctx context.Context, o restOptions, rcv *receiver, ous []ouTriggers) *restPublisher {
	p := &restPublisher{
		o: o, rcv: rcv, ctx: ctx,
		client: &http.Client{
			Timeout: time.Minute,
			Transport: &http.Transport{
				MaxIdleConns: o.callers * 2, MaxIdleConnsPerHost: o.callers * 2, IdleConnTimeout: time.Minute,
			},
		},
	}
	for _, ou := range ous {
		p.ous = append(p.ous, ou.namespace)
	}
	for range o.callers {
		q := make(chan queued, 2*o.batch)
		p.queues = append(p.queues, q)
		p.wg.Add(1)
		go p.caller(q)
	}
	return p
}

// send queues the event with the caller of its lead; it waits (a stall)
// while that caller's queue is full.
func (p *restPublisher) send(ou int, ev event.Event, ids []string) error {
	if err := p.err(); err != nil {
		return err
	}
	h := fnv.New32a()
	_, _ = io.WriteString(h, p.ous[ou])
	_, _ = io.WriteString(h, "/")
	_, _ = io.WriteString(h, ev.LeadID)
	q := p.queues[h.Sum32()%uint32(len(p.queues))]
	e := queued{ou: ou, ev: ev, ids: slices.Clone(ids)}
	select {
	case q <- e:
	default:
		p.stalls.Add(1)
		select {
		case q <- e:
		case <-p.ctx.Done():
			return p.ctx.Err()
		}
	}
	return nil
}

// caller sends its queue's events, a request per OU of up to batch
// events, in the order queued. With full it sends a request once it holds
// batch events of an OU (or at the end); otherwise, whenever its queue is
// empty, whatever it holds: paced events then wait at most for the
// request before theirs.
func (p *restPublisher) caller(q chan queued) {
	defer p.wg.Done()
	bufs := make([][]queued, len(p.ous))
	flush := func(ou int) {
		if len(bufs[ou]) > 0 {
			p.post(ou, bufs[ou])
			bufs[ou] = bufs[ou][:0]
		}
	}
	add := func(e queued) {
		bufs[e.ou] = append(bufs[e.ou], e)
		if len(bufs[e.ou]) >= p.o.batch {
			flush(e.ou)
		}
	}
	flushAll := func() {
		for ou := range bufs {
			flush(ou)
		}
	}
	for {
		e, ok := <-q
		if !ok {
			flushAll()
			return
		}
		add(e)
		if p.o.full {
			continue
		}
	drain:
		for {
			select {
			case e, ok := <-q:
				if !ok {
					flushAll()
					return
				}
				add(e)
			default:
				break drain
			}
		}
		flushAll()
	}
}

// post sends one request: the events' created_at is the time it is sent,
// and their expected deliveries are registered with that time first.
func (p *restPublisher) post(ou int, evs []queued) {
	if p.failed.Load() > 0 || p.ctx.Err() != nil {
		return // the run has failed: drop the rest
	}
	sent := time.Now().UTC()
	var body bytes.Buffer
	body.WriteString(`{"events":[`)
	for i := range evs {
		e := &evs[i]
		due := e.ev.CreatedAt
		e.ev.CreatedAt = sent
		if i > 0 {
			body.WriteByte(',')
		}
		body.Write(e.ev.Encode())
		p.rcv.expect(e.ids, expectation{eventID: e.ev.ID, published: sent, due: due})
	}
	body.WriteString(`]}`)
	p.bytes.Add(int64(body.Len()))
	p.lastSent.Store(sent.UnixNano())

	answer, rtt, err := p.do(ou, body.Bytes())
	if err == nil {
		err = checkAnswer(answer, evs)
	}
	if err != nil {
		err = fmt.Errorf("POST /events of %d events (%s .. %s) in OU %s: %w", len(evs), evs[0].ev.ID, evs[len(evs)-1].ev.ID, p.ous[ou], err)
		if p.failed.Add(1) == 1 {
			p.firstErr.Store(&err)
		}
		return
	}
	dups := 0
	for _, a := range answer.Events {
		if a.Duplicate {
			dups++
		}
	}
	p.acks.Add(int64(len(evs)))
	p.duplicates.Add(int64(dups))
	p.requests.Add(1)
	p.lastAck.Store(time.Now().UnixNano())
	p.mu.Lock()
	p.rtts = append(p.rtts, rtt)
	p.sizes = append(p.sizes, len(evs))
	p.mu.Unlock()
}

// ingestAnswer is the 202 answer of POST /events.
type ingestAnswer struct {
	Accepted int `json:"accepted"`
	Events   []struct {
		ID        string `json:"id"`
		Duplicate bool   `json:"duplicate"`
	} `json:"events"`
}

func checkAnswer(a ingestAnswer, evs []queued) error {
	if len(a.Events) != len(evs) {
		return fmt.Errorf("the answer lists %d events, not %d", len(a.Events), len(evs))
	}
	dups := 0
	for i, e := range a.Events {
		if e.ID != evs[i].ev.ID {
			return fmt.Errorf("the answer's event %d is %q, not %q", i, e.ID, evs[i].ev.ID)
		}
		if e.Duplicate {
			dups++
		}
	}
	if a.Accepted != len(evs)-dups {
		return fmt.Errorf("the answer accepts %d events, with %d duplicates of %d", a.Accepted, dups, len(evs))
	}
	return nil
}

// do sends the request, again after a 429 or 503 (after Retry-After) or
// a failed connection, a few times: the event ids make a repeat safe. It
// returns the round trip of the attempt that was answered 202.
func (p *restPublisher) do(ou int, body []byte) (ingestAnswer, time.Duration, error) {
	var a ingestAnswer
	backoff := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		req, err := http.NewRequestWithContext(p.ctx, http.MethodPost, p.o.url+"/events", bytes.NewReader(body))
		if err != nil {
			return a, 0, err
		}
		req.Header.Set("Authorization", "Bearer "+p.o.token)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-LeadVibe-OU", p.ous[ou])
		start := time.Now()
		resp, err := p.client.Do(req)
		var data []byte
		if err == nil {
			data, err = io.ReadAll(io.LimitReader(resp.Body, 8<<20))
			resp.Body.Close()
		}
		rtt := time.Since(start)
		retry := err != nil && p.ctx.Err() == nil
		if err == nil {
			switch resp.StatusCode {
			case http.StatusAccepted:
				if err := json.Unmarshal(data, &a); err != nil {
					return a, rtt, fmt.Errorf("unreadable answer %.200q: %w", data, err)
				}
				return a, rtt, nil
			case http.StatusTooManyRequests, http.StatusServiceUnavailable:
				retry = true
				if s, perr := strconv.Atoi(resp.Header.Get("Retry-After")); perr == nil && s > 0 {
					backoff = time.Duration(s) * time.Second
				}
				err = fmt.Errorf("answered %s: %.300s", resp.Status, data)
			default:
				return a, rtt, fmt.Errorf("answered %s: %.500s", resp.Status, data)
			}
		}
		if !retry || attempt == 5 {
			return a, rtt, err
		}
		p.retries.Add(1)
		select {
		case <-p.ctx.Done():
			return a, rtt, p.ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func (p *restPublisher) finish() time.Time {
	for _, q := range p.queues {
		close(q)
	}
	p.wg.Wait()
	return time.Unix(0, p.lastAck.Load())
}

func (p *restPublisher) err() error {
	if e := p.firstErr.Load(); e != nil {
		return fmt.Errorf("%d requests failed, the first: %w", p.failed.Load(), *e)
	}
	return nil
}

func (p *restPublisher) stats() sinkStats {
	return sinkStats{
		acks: p.acks.Load(), duplicates: p.duplicates.Load(), stalls: p.stalls.Load(),
		bytes: p.bytes.Load(), lastSent: time.Unix(0, p.lastSent.Load()),
	}
}

// restStats summarises the requests (after finish).
func (p *restPublisher) restStats(id restIdentity) *restStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := &restStats{
		callers: p.o.callers, batch: p.o.batch, requests: len(p.rtts), retries: p.retries.Load(),
		rtts: slices.Clone(p.rtts), user: id.user, where: id.where,
	}
	slices.Sort(s.rtts)
	total := 0
	for _, n := range p.sizes {
		total += n
	}
	if len(p.sizes) > 0 {
		s.meanSize = float64(total) / float64(len(p.sizes))
	}
	return s
}

// errNoAPI says where the REST API's address comes from.
var errNoAPI = errors.New("--via rest needs --api-url (the local system prints it as \"REST API\"), or --start-local")
