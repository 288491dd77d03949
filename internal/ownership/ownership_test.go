package ownership

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// Short timings: a dead replica's partitions move after about two seconds.
const (
	testPartitions    = 8
	testLeaseDuration = 2 * time.Second
	testRenewDeadline = time.Second
	testRetryPeriod   = 250 * time.Millisecond

	settle = 20 * time.Second // the bound of every Eventually
	poll   = 20 * time.Millisecond
)

var (
	evens = []int{0, 2, 4, 6}
	odds  = []int{1, 3, 5, 7}
	all   = []int{0, 1, 2, 3, 4, 5, 6, 7}
)

// TestOneReplicaHoldsEveryPartition: alone, a replica acquires all the
// partitions, each under a labelled Lease at epoch 0.
func TestOneReplicaHoldsEveryPartition(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t)
	begin := time.Now()
	a := h.start("replica-a", nil)
	g.Eventually(a.Owned).WithTimeout(settle).WithPolling(poll).Should(Equal(all))
	t.Logf("replica-a holds all %d partitions after %s", testPartitions, time.Since(begin).Round(time.Millisecond))

	leases := h.leases(rolePartition)
	g.Expect(leases).To(HaveLen(testPartitions))
	for p := range testPartitions {
		g.Expect(leases).To(HaveKeyWithValue(partitionLeaseName("milestone-triggers", p), HavePrefix("replica-a_")))
	}
	g.Expect(h.leases(roleMember)).To(Equal(map[string]string{"milestone-triggers-member-replica-a": "replica-a"}))
	g.Eventually(h.epochs).WithTimeout(settle).WithPolling(poll).Should(HaveLen(testPartitions))
	g.Expect(h.epochs()).To(HaveEach(int32(0)))
}

// TestPartitionsMoveAsReplicasComeAndGo: a second replica takes half the
// partitions without any partition running twice at once, and when one of
// them stops cleanly the other takes its half at once, not after the
// lease duration.
func TestPartitionsMoveAsReplicasComeAndGo(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t)
	a := h.start("replica-a", nil)
	g.Eventually(a.Owned).WithTimeout(settle).WithPolling(poll).Should(Equal(all))

	begin := time.Now()
	b := h.start("replica-b", nil)
	g.Eventually(a.Owned).WithTimeout(settle).WithPolling(poll).Should(Equal(evens))
	g.Eventually(b.Owned).WithTimeout(settle).WithPolling(poll).Should(Equal(odds))
	t.Logf("replica-b joined: 4 and 4 after %s", time.Since(begin).Round(time.Millisecond))
	// Each handed-over partition was acquired once more.
	g.Eventually(h.epochs).WithTimeout(settle).WithPolling(poll).Should(Equal(map[int]int32{0: 0, 1: 1, 2: 0, 3: 1, 4: 0, 5: 1, 6: 0, 7: 1}))

	begin = time.Now()
	g.Expect(a.stop()).To(Succeed())
	stopped := time.Since(begin)
	// Stopped means released: no Lease names replica-a any more, and its
	// member Lease is gone.
	for name, holder := range h.leases(rolePartition) {
		g.Expect(holder).NotTo(HavePrefix("replica-a_"), "lease %s", name)
	}
	g.Expect(h.leases(roleMember)).NotTo(HaveKey("milestone-triggers-member-replica-a"))
	g.Eventually(b.Owned).WithTimeout(settle).WithPolling(poll).Should(Equal(all))
	t.Logf("replica-a stopped in %s; replica-b holds all %d partitions %s after the stop began",
		stopped.Round(time.Millisecond), testPartitions, time.Since(begin).Round(time.Millisecond))
	g.Eventually(h.epochs).WithTimeout(settle).WithPolling(poll).Should(Equal(map[int]int32{0: 1, 1: 1, 2: 1, 3: 1, 4: 1, 5: 1, 6: 1, 7: 1}))
}

// TestACrashedReplicasPartitionsMoveAfterTheLease: a replica that dies
// without releasing anything (cut off from the API server, then stopped)
// leaves its Leases held; the survivor takes them once they expire.
func TestACrashedReplicasPartitionsMoveAfterTheLease(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t)
	var link cuttable
	a := h.start("replica-a", nil)
	b := h.start("replica-b", &link)
	g.Eventually(a.Owned).WithTimeout(settle).WithPolling(poll).Should(Equal(evens))
	g.Eventually(b.Owned).WithTimeout(settle).WithPolling(poll).Should(Equal(odds))

	begin := time.Now()
	link.cut.Store(true)
	g.Expect(b.stop()).To(Succeed())
	// Nothing was released: the odd partitions' Leases still name replica-b.
	leases := h.leases(rolePartition)
	for _, p := range odds {
		g.Expect(leases).To(HaveKeyWithValue(partitionLeaseName("milestone-triggers", p), HavePrefix("replica-b_")))
	}
	g.Expect(h.leases(roleMember)).To(HaveKey("milestone-triggers-member-replica-b"))

	g.Eventually(a.Owned).WithTimeout(settle).WithPolling(poll).Should(Equal(all))
	t.Logf("replica-b crashed; replica-a holds all %d partitions after %s (lease duration %s)",
		testPartitions, time.Since(begin).Round(time.Millisecond), testLeaseDuration)
}

// TestACutOffReplicaGivesUpBeforeAnotherTakesOver: a replica that keeps
// running but cannot reach the API server stops its partitions before the
// survivor acquires them, and takes its share back when it can reach the
// server again.
func TestACutOffReplicaGivesUpBeforeAnotherTakesOver(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t)
	var link cuttable
	a := h.start("replica-a", nil)
	b := h.start("replica-b", &link)
	g.Eventually(a.Owned).WithTimeout(settle).WithPolling(poll).Should(Equal(evens))
	g.Eventually(b.Owned).WithTimeout(settle).WithPolling(poll).Should(Equal(odds))

	begin := time.Now()
	link.cut.Store(true)
	g.Eventually(b.Owned).WithTimeout(settle).WithPolling(poll).Should(BeEmpty())
	t.Logf("replica-b cut off; its partitions stopped after %s", time.Since(begin).Round(time.Millisecond))
	g.Eventually(a.Owned).WithTimeout(settle).WithPolling(poll).Should(Equal(all))
	t.Logf("replica-a holds all %d partitions after %s", testPartitions, time.Since(begin).Round(time.Millisecond))

	begin = time.Now()
	link.cut.Store(false)
	g.Eventually(a.Owned).WithTimeout(settle).WithPolling(poll).Should(Equal(evens))
	g.Eventually(b.Owned).WithTimeout(settle).WithPolling(poll).Should(Equal(odds))
	t.Logf("replica-b reconnected: 4 and 4 after %s", time.Since(begin).Round(time.Millisecond))
}

// harness is one namespace of a real API server, the replicas started in
// it, and the record of their Run calls.
type harness struct {
	t         *testing.T
	cfg       *rest.Config
	clientset *kubernetes.Clientset
	namespace string

	mu      sync.Mutex
	running map[int][]string // partition -> replicas whose Run is in progress
	epoch   map[int]int32    // partition -> epoch of its latest Run
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	cfg := apiServer(t)
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ns, err := cs.CoreV1().Namespaces().Create(context.Background(),
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "ownership-"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, cfg: cfg, clientset: cs, namespace: ns.Name, running: map[int][]string{}, epoch: map[int]int32{}}
}

// run is a replica's Config.Run: it fails the test when a partition runs
// on two replicas at once or its epoch does not grow.
func (h *harness) run(identity string) func(context.Context, Partition) {
	return func(ctx context.Context, p Partition) {
		h.enter(identity, p)
		<-ctx.Done()
		h.leave(identity, p)
	}
}

func (h *harness) enter(identity string, p Partition) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.running[p.Index] = append(h.running[p.Index], identity)
	if n := len(h.running[p.Index]); n > 1 {
		h.t.Errorf("partition %d runs %d times at once: on %q", p.Index, n, h.running[p.Index])
	}
	if last, ok := h.epoch[p.Index]; ok && p.Epoch <= last {
		h.t.Errorf("partition %d acquired by %s at epoch %d, after epoch %d", p.Index, identity, p.Epoch, last)
	}
	h.epoch[p.Index] = p.Epoch
}

func (h *harness) leave(identity string, p Partition) {
	h.mu.Lock()
	defer h.mu.Unlock()
	i := slices.Index(h.running[p.Index], identity)
	h.running[p.Index] = slices.Delete(h.running[p.Index], i, i+1)
}

func (h *harness) epochs() map[int]int32 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return maps.Clone(h.epoch)
}

// leases maps the names of the namespace's Leases of role to their holders.
func (h *harness) leases(role string) map[string]string {
	h.t.Helper()
	list, err := h.clientset.CoordinationV1().Leases(h.namespace).List(context.Background(), metav1.ListOptions{
		LabelSelector: labels.SelectorFromSet(leaseLabels("milestone-triggers", role)).String(),
	})
	if err != nil {
		h.t.Fatal(err)
	}
	holders := map[string]string{}
	for _, l := range list.Items {
		holders[l.Name] = ""
		if l.Spec.HolderIdentity != nil {
			holders[l.Name] = *l.Spec.HolderIdentity
		}
	}
	return holders
}

// replica is a started Owner.
type replica struct {
	*Owner
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	err    error
}

// start starts a replica; when link is not nil, the replica reaches the
// API server through it.
func (h *harness) start(identity string, link *cuttable) *replica {
	h.t.Helper()
	cfg := rest.CopyConfig(h.cfg)
	if link != nil {
		cfg.Wrap(link.wrap)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	o, err := New(Config{
		Client: cs.CoordinationV1(), Namespace: h.namespace, Name: "milestone-triggers", Identity: identity,
		Partitions: testPartitions, LeaseDuration: testLeaseDuration, RenewDeadline: testRenewDeadline, RetryPeriod: testRetryPeriod,
		Run: h.run(identity),
		Log: testr.NewWithOptions(h.t, testr.Options{LogTimestamp: true}).WithName(identity),
	})
	if err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &replica{Owner: o, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- o.Start(ctx) }()
	h.t.Cleanup(func() {
		if err := r.stop(); err != nil {
			h.t.Error(err)
		}
	})
	return r
}

// stop cancels the replica and waits for Start to return.
func (r *replica) stop() error {
	r.once.Do(func() {
		r.cancel()
		select {
		case r.err = <-r.done:
		case <-time.After(settle):
			r.err = errors.New("the owner did not stop")
		}
	})
	return r.err
}

// cuttable is a link to the API server that can be cut: every request
// fails while cut is set.
type cuttable struct{ cut atomic.Bool }

func (c *cuttable) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripper(func(r *http.Request) (*http.Response, error) {
		if c.cut.Load() {
			return nil, fmt.Errorf("%s %s: cut off from the API server", r.Method, r.URL.Path)
		}
		return rt.RoundTrip(r)
	})
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// The API server is started by the first test that needs it and stopped
// by TestMain.
var (
	envOnce sync.Once
	env     *envtest.Environment
	envCfg  *rest.Config
	envErr  error
)

func apiServer(t *testing.T) *rest.Config {
	t.Helper()
	envOnce.Do(func() {
		assets := os.Getenv("KUBEBUILDER_ASSETS")
		if assets == "" {
			assets = filepath.Join("..", "..", "bin", "k8s")
		}
		if _, err := os.Stat(filepath.Join(assets, "kube-apiserver")); err != nil {
			envErr = fmt.Errorf("no kube-apiserver in %s: run make test, which builds the control plane", assets)
			return
		}
		env = &envtest.Environment{BinaryAssetsDirectory: assets}
		envCfg, envErr = env.Start()
	})
	if envErr != nil {
		t.Fatal(envErr)
	}
	return envCfg
}

func TestMain(m *testing.M) {
	code := m.Run()
	if env != nil {
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping the control plane:", err)
		}
	}
	os.Exit(code)
}

// TestARestartedReplicaTakesItsPartitionsBackAtOnce: a replica killed
// without releasing anything and started again under its identity (a
// container restarted in its pod) does not wait for its old Leases to
// expire.
func TestARestartedReplicaTakesItsPartitionsBackAtOnce(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t)
	var link cuttable
	a := h.start("replica-a", &link)
	g.Eventually(a.Owned).WithTimeout(settle).WithPolling(poll).Should(Equal(all))
	link.cut.Store(true)
	g.Expect(a.stop()).To(Succeed())
	for _, holder := range h.leases(rolePartition) {
		g.Expect(holder).To(HavePrefix("replica-a_"), "the crash released nothing")
	}

	begin := time.Now()
	again := h.start("replica-a", nil)
	g.Eventually(again.Owned).WithTimeout(settle).WithPolling(poll).Should(Equal(all))
	took := time.Since(begin)
	g.Expect(took).To(BeNumerically("<", testLeaseDuration), "it waited for the old Leases")
	t.Logf("replica-a restarted; it holds all %d partitions again after %s (lease duration %s)", testPartitions, took.Round(time.Millisecond), testLeaseDuration)
}
