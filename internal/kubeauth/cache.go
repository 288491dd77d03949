package kubeauth

import (
	"container/list"
	"crypto/sha256"
	"sync"
	"time"
)

// Key is a SHA-256 digest: a Cache never holds a token, only its hash.
type Key [sha256.Size]byte

// Cache is a small LRU cache whose entries expire after a fixed time.
// It is safe for concurrent use.
type Cache[V any] struct {
	ttl time.Duration
	max int
	now func() time.Time

	mu    sync.Mutex
	order *list.List // of *entry[V], most recently used first
	items map[Key]*list.Element
}

type entry[V any] struct {
	key     Key
	val     V
	expires time.Time
}

// NewCache returns a cache of at most maxEntries entries living ttl each. A
// ttl or maxEntries of zero or less disables caching. now is the clock (nil:
// time.Now).
func NewCache[V any](ttl time.Duration, maxEntries int, now func() time.Time) *Cache[V] {
	if now == nil {
		now = time.Now
	}
	return &Cache[V]{ttl: ttl, max: maxEntries, now: now, order: list.New(), items: map[Key]*list.Element{}}
}

// Get returns the live value under k, if there is one.
func (c *Cache[V]) Get(k Key) (V, bool) {
	var zero V
	if c.ttl <= 0 || c.max <= 0 {
		return zero, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[k]
	if !ok {
		return zero, false
	}
	e := el.Value.(*entry[V])
	if !c.now().Before(e.expires) {
		c.order.Remove(el)
		delete(c.items, k)
		return zero, false
	}
	c.order.MoveToFront(el)
	return e.val, true
}

// Put stores v under k for the cache's TTL, evicting the least recently
// used entry when the cache is full.
func (c *Cache[V]) Put(k Key, v V) {
	if c.ttl <= 0 || c.max <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	expires := c.now().Add(c.ttl)
	if el, ok := c.items[k]; ok {
		e := el.Value.(*entry[V])
		e.val, e.expires = v, expires
		c.order.MoveToFront(el)
		return
	}
	for c.order.Len() >= c.max {
		oldest := c.order.Back()
		c.order.Remove(oldest)
		delete(c.items, oldest.Value.(*entry[V]).key)
	}
	c.items[k] = c.order.PushFront(&entry[V]{key: k, val: v, expires: expires})
}

// Len is how many entries the cache holds, expired ones included.
func (c *Cache[V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
