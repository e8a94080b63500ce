// Package stats keeps named counters in Kamailio's "group:name" scheme so that
// stats.get_statistics answers like kamcmd does, and Prometheus can scrape them.
package stats

import (
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

// Counter is a monotonically increasing (or settable) value.
type Counter struct {
	Group, Name, Help string
	v                 atomic.Int64
}

// Inc adds one.
func (c *Counter) Inc() { c.v.Add(1) }

// Add adds n.
func (c *Counter) Add(n int64) { c.v.Add(n) }

// Set stores n (gauges).
func (c *Counter) Set(n int64) { c.v.Store(n) }

// Value reads it.
func (c *Counter) Value() int64 { return c.v.Load() }

// Reset zeroes it.
func (c *Counter) Reset() { c.v.Store(0) }

var (
	mu       sync.RWMutex
	counters = map[string]*Counter{}
	gauges   = map[string]func() int64{}
)

// New registers (or returns the existing) counter group:name.
func New(group, name, help string) *Counter {
	key := group + ":" + name
	mu.Lock()
	defer mu.Unlock()
	if c, ok := counters[key]; ok {
		return c
	}
	c := &Counter{Group: group, Name: name, Help: help}
	counters[key] = c
	return c
}

// Gauge registers a value computed on read.
func Gauge(group, name string, f func() int64) {
	mu.Lock()
	gauges[group+":"+name] = f
	mu.Unlock()
}

// Entry is one value of a snapshot.
type Entry struct {
	Group, Name, Help string
	Value             int64
}

// Snapshot returns every counter and gauge sorted by group:name.
func Snapshot() []Entry {
	mu.RLock()
	out := make([]Entry, 0, len(counters)+len(gauges))
	for _, c := range counters {
		out = append(out, Entry{c.Group, c.Name, c.Help, c.Value()})
	}
	for k, f := range gauges {
		g, n, _ := strings.Cut(k, ":")
		out = append(out, Entry{g, n, "", f()})
	}
	mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Group != out[j].Group {
			return out[i].Group < out[j].Group
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// Select filters a snapshot the way stats.get_statistics does: "all", "group:"
// (a whole group) or "group:name" / "name".
func Select(args []string) []Entry {
	all := Snapshot()
	if len(args) == 0 {
		return all
	}
	var out []Entry
	for _, e := range all {
		for _, a := range args {
			if a == "all" || (strings.HasSuffix(a, ":") && e.Group == strings.TrimSuffix(a, ":")) ||
				a == e.Group+":"+e.Name || a == e.Name {
				out = append(out, e)
				break
			}
		}
	}
	return out
}

// Lookup returns the current value of group:name (0 if unknown).
func Lookup(key string) int64 {
	mu.RLock()
	defer mu.RUnlock()
	if c, ok := counters[key]; ok {
		return c.Value()
	}
	if f, ok := gauges[key]; ok {
		return f()
	}
	return 0
}

// Reset zeroes the selected counters (gauges are computed and stay).
func Reset(args []string) {
	sel := Select(args)
	mu.RLock()
	defer mu.RUnlock()
	for _, e := range sel {
		if c, ok := counters[e.Group+":"+e.Name]; ok {
			c.Reset()
		}
	}
}
