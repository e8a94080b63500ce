// Package regex compiles the POSIX extended regular expressions Kamailio
// functions take (textops, t_check_status, check_route_param, ...) with Go's
// RE2 engine, cached: scripts pass the same few patterns on every message.
package regex

import (
	"errors"
	"regexp"
	"sync"
)

// Flavours, as the regcomp flags Kamailio uses. Go's syntax is a superset of
// what scripts use, and Longest() gives POSIX leftmost-longest matching.
const (
	// Search is REG_EXTENDED|REG_ICASE|REG_NEWLINE: search, replace, remove_hf_re...
	Search = "(?im)"
	// Whole is REG_EXTENDED|REG_ICASE without REG_NEWLINE: '.' matches a
	// newline and ^/$ anchor at the ends of the text.
	Whole = "(?is)"
	// Plain is REG_EXTENDED alone: case-sensitive, whole text.
	Plain = "(?s)"
)

// MaxPattern bounds the pattern length: patterns come from scripts, but may
// be built from message content.
const MaxPattern = 4096

// maxCached bounds the cache.
const maxCached = 1024

// ErrTooLong is returned for patterns over MaxPattern.
var ErrTooLong = errors.New("regular expression too long")

var reCache = NewCache[*regexp.Regexp](maxCached)

// Compile returns a cached compiled regex for flags+pattern.
func Compile(flags, pattern string) (*regexp.Regexp, error) {
	if len(pattern) > MaxPattern {
		return nil, ErrTooLong
	}
	key := flags + pattern
	if re, ok := reCache.Get(key); ok {
		return re, nil
	}
	re, err := regexp.Compile(key)
	if err != nil {
		return nil, err
	}
	re.Longest()
	reCache.Put(key, re)
	return re, nil
}

// Cache is a bounded map for compiled patterns. It is flushed when full:
// patterns normally come from a script (a handful), and a script building
// them from message data must not grow memory without limit.
type Cache[T any] struct {
	mu  sync.Mutex
	max int
	m   map[string]T
}

// NewCache makes a cache of at most max entries.
func NewCache[T any](max int) *Cache[T] {
	return &Cache[T]{max: max, m: make(map[string]T)}
}

// Get looks k up.
func (c *Cache[T]) Get(k string) (T, bool) {
	c.mu.Lock()
	v, ok := c.m[k]
	c.mu.Unlock()
	return v, ok
}

// Put stores k.
func (c *Cache[T]) Put(k string, v T) {
	c.mu.Lock()
	if len(c.m) >= c.max {
		c.m = make(map[string]T)
	}
	c.m[k] = v
	c.mu.Unlock()
}
