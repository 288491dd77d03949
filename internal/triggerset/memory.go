package triggerset

import (
	"slices"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/types"
)

// Memory is a Set held in memory, indexed by namespace.
type Memory struct {
	mu   sync.RWMutex
	byNS map[string]map[string]Definition
	// revs counts the changes of each namespace; a namespace's revision is
	// kept after its last trigger is deleted, so it never goes back.
	revs map[string]uint64
}

var _ Set = (*Memory)(nil)

// NewMemory returns an empty in-memory set.
func NewMemory() *Memory {
	return &Memory{byNS: map[string]map[string]Definition{}, revs: map[string]uint64{}}
}

// Upsert implements Set.
func (m *Memory) Upsert(d Definition) {
	d = d.clone()
	m.mu.Lock()
	defer m.mu.Unlock()
	ns := m.byNS[d.Key.Namespace]
	if ns == nil {
		ns = map[string]Definition{}
		m.byNS[d.Key.Namespace] = ns
	}
	ns[d.Key.Name] = d
	m.revs[d.Key.Namespace]++
}

// Delete implements Set.
func (m *Memory) Delete(key types.NamespacedName) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ns := m.byNS[key.Namespace]
	if _, ok := ns[key.Name]; !ok {
		return
	}
	delete(ns, key.Name)
	m.revs[key.Namespace]++
	if len(ns) == 0 {
		delete(m.byNS, key.Namespace)
	}
}

// Get implements Set.
func (m *Memory) Get(key types.NamespacedName) (Definition, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	d, ok := m.byNS[key.Namespace][key.Name]
	if !ok {
		return Definition{}, false
	}
	return d.clone(), true
}

// List implements Set.
func (m *Memory) List(namespace string) []Definition {
	m.mu.RLock()
	defer m.mu.RUnlock()
	ns := m.byNS[namespace]
	out := make([]Definition, 0, len(ns))
	for _, d := range ns {
		out = append(out, d.clone())
	}
	slices.SortFunc(out, func(a, b Definition) int { return strings.Compare(a.Key.Name, b.Key.Name) })
	return out
}

// Revision implements Set.
func (m *Memory) Revision(namespace string) uint64 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.revs[namespace]
}

func (d Definition) clone() Definition {
	if d.RearmBelow != nil {
		r := *d.RearmBelow
		d.RearmBelow = &r
	}
	d.Destinations.Emails = slices.Clone(d.Destinations.Emails)
	d.Destinations.WebhookSigningSecrets = slices.Clone(d.Destinations.WebhookSigningSecrets)
	return d
}
