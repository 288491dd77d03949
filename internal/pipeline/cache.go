package pipeline

import (
	"sync"

	"github.com/leadvibe/milestone-triggers-operator/internal/ledger"
	"github.com/leadvibe/milestone-triggers-operator/internal/metrics"
)

// leadCache holds the lead states of the partitions a replica owns, up to
// a number of leads, and forgets the least recently used beyond it: a
// lead it does not hold is read from the bucket. It only ever holds what
// is also durable or about to be (a worker keeps its changed leads in its
// own dirty set until a snapshot stores them), so forgetting loses
// nothing. The workers of every owned partition share it.
type leadCache struct {
	mu       sync.Mutex
	capacity int
	entries  map[string]*cacheEntry
	// head is the most recently used entry, tail the least; the list is
	// threaded through the entries, so that a hit allocates nothing.
	head, tail *cacheEntry
	// complete says, per partition, that the cache holds every stored
	// lead of it: a miss is then a new lead, with no read.
	complete map[int]bool
}

type cacheEntry struct {
	key        string
	partition  int
	state      ledger.LeadState
	prev, next *cacheEntry
}

func newLeadCache(capacity int) *leadCache {
	return &leadCache{capacity: capacity, entries: map[string]*cacheEntry{}, complete: map[int]bool{}}
}

// get returns the lead's state, and whether the cache knows it: held, or
// not held in a complete partition (then it is a new lead, zero state).
func (c *leadCache) get(partition int, key string) (ledger.LeadState, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok {
		return ledger.LeadState{}, c.complete[partition]
	}
	c.moveToFront(e)
	return e.state, true
}

// put stores the lead's state, forgetting the least recently used lead
// beyond the capacity; its partition is no longer complete then.
func (c *leadCache) put(partition int, key string, s ledger.LeadState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[key]; ok {
		e.state = s
		c.moveToFront(e)
		return
	}
	e := &cacheEntry{key: key, partition: partition, state: s}
	c.entries[key] = e
	c.pushFront(e)
	if len(c.entries) > c.capacity {
		old := c.tail
		c.unlink(old)
		delete(c.entries, old.key)
		c.complete[old.partition] = false
	}
	metrics.LeadCacheEntries.Set(float64(len(c.entries)))
}

// room is how many more leads fit before the cache forgets any.
func (c *leadCache) room() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return max(c.capacity-len(c.entries), 0)
}

// setComplete records whether the cache holds every stored lead of a
// partition.
func (c *leadCache) setComplete(partition int, complete bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.complete[partition] = complete
}

// drop forgets a partition's leads: when the replica stops owning it,
// since its next owner changes them.
func (c *leadCache) drop(partition int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for e := c.head; e != nil; {
		next := e.next
		if e.partition == partition {
			c.unlink(e)
			delete(c.entries, e.key)
		}
		e = next
	}
	delete(c.complete, partition)
	metrics.LeadCacheEntries.Set(float64(len(c.entries)))
}

func (c *leadCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

func (c *leadCache) pushFront(e *cacheEntry) {
	e.prev, e.next = nil, c.head
	if c.head != nil {
		c.head.prev = e
	}
	c.head = e
	if c.tail == nil {
		c.tail = e
	}
}

func (c *leadCache) unlink(e *cacheEntry) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		c.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		c.tail = e.prev
	}
	e.prev, e.next = nil, nil
}

func (c *leadCache) moveToFront(e *cacheEntry) {
	if c.head == e {
		return
	}
	c.unlink(e)
	c.pushFront(e)
}
