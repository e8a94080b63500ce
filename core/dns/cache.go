package dns

import (
	"strings"
	"sync"
	"time"

	mdns "github.com/miekg/dns"
)

// cache keeps answers (and "does not exist") for their TTL. It is bounded:
// when full, expired entries go first, then arbitrary ones.
type cache struct {
	mu  sync.Mutex
	max int
	m   map[cacheKey]cacheEntry
}

type cacheKey struct {
	name  string
	qtype uint16
}

type cacheEntry struct {
	recs    []mdns.RR
	expires time.Time
}

func newCache(max int) *cache { return &cache{max: max, m: map[cacheKey]cacheEntry{}} }

func key(name string, qtype uint16) cacheKey {
	return cacheKey{name: strings.ToLower(mdns.CanonicalName(name)), qtype: qtype}
}

// get returns the cached records (nil with ok for a negative entry).
func (c *cache) get(name string, qtype uint16, now time.Time) ([]mdns.RR, bool) {
	k := key(name, qtype)
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if !ok {
		return nil, false
	}
	if now.After(e.expires) {
		delete(c.m, k)
		return nil, false
	}
	return e.recs, true
}

func (c *cache) put(name string, qtype uint16, recs []mdns.RR, ttl time.Duration, now time.Time) {
	if ttl <= 0 {
		return
	}
	k := key(name, qtype)
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		for kk, e := range c.m {
			if now.After(e.expires) {
				delete(c.m, kk)
			}
		}
		for kk := range c.m {
			if len(c.m) < c.max {
				break
			}
			delete(c.m, kk)
		}
	}
	c.m[k] = cacheEntry{recs: recs, expires: now.Add(ttl)}
}

func (c *cache) flush() {
	c.mu.Lock()
	c.m = map[cacheKey]cacheEntry{}
	c.mu.Unlock()
}

func (c *cache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
