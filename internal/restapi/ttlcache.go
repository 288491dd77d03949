package restapi

import (
	"container/list"
	"crypto/sha256"
	"sync"
	"time"
)

// cacheKey is a SHA-256 digest: the cache never holds a token, only its
// hash.
type cacheKey [sha256.Size]byte

// ttlCache is a small LRU cache whose entries expire after a fixed time.
// It is safe for concurrent use.
type ttlCache[V any] struct {
	ttl time.Duration
	max int
	now func() time.Time

	mu    sync.Mutex
	order *list.List // of *ttlEntry[V], most recently used first
	items map[cacheKey]*list.Element
}

type ttlEntry[V any] struct {
	key     cacheKey
	val     V
	expires time.Time
}

// newTTLCache returns a cache of at most max entries living ttl each. A ttl
// or max of zero or less disables caching.
func newTTLCache[V any](ttl time.Duration, max int, now func() time.Time) *ttlCache[V] {
	if now == nil {
		now = time.Now
	}
	return &ttlCache[V]{ttl: ttl, max: max, now: now, order: list.New(), items: map[cacheKey]*list.Element{}}
}

func (c *ttlCache[V]) get(k cacheKey) (V, bool) {
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
	e := el.Value.(*ttlEntry[V])
	if !c.now().Before(e.expires) {
		c.order.Remove(el)
		delete(c.items, k)
		return zero, false
	}
	c.order.MoveToFront(el)
	return e.val, true
}

func (c *ttlCache[V]) put(k cacheKey, v V) {
	if c.ttl <= 0 || c.max <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	expires := c.now().Add(c.ttl)
	if el, ok := c.items[k]; ok {
		e := el.Value.(*ttlEntry[V])
		e.val, e.expires = v, expires
		c.order.MoveToFront(el)
		return
	}
	for c.order.Len() >= c.max {
		oldest := c.order.Back()
		c.order.Remove(oldest)
		delete(c.items, oldest.Value.(*ttlEntry[V]).key)
	}
	c.items[k] = c.order.PushFront(&ttlEntry[V]{key: k, val: v, expires: expires})
}

func (c *ttlCache[V]) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
