package textops

import "sync"

// cache is a bounded map for compiled patterns. It is flushed when full:
// patterns normally come from a script (a handful), and a script building
// them from message data must not grow memory without limit.
type cache[T any] struct {
	mu  sync.Mutex
	max int
	m   map[string]T
}

func newCache[T any](max int) *cache[T] {
	return &cache[T]{max: max, m: make(map[string]T)}
}

func (c *cache[T]) get(k string) (T, bool) {
	c.mu.Lock()
	v, ok := c.m[k]
	c.mu.Unlock()
	return v, ok
}

func (c *cache[T]) put(k string, v T) {
	c.mu.Lock()
	if len(c.m) >= c.max {
		c.m = make(map[string]T)
	}
	c.m[k] = v
	c.mu.Unlock()
}
