package dns

import (
	"net/netip"
	"sync"
	"time"

	"github.com/luasbc/luasbc/core/msg"
	"github.com/luasbc/luasbc/core/stats"
)

// Blocklist remembers destinations that timed out or refused for a while
// (Kamailio's dst_blocklist). Here it orders rather than forbids: a lookup
// puts blocklisted targets after the others, so failover skips a dead
// server at once while a destination with no alternative is still tried.
type Blocklist struct {
	expire time.Duration
	mu     sync.Mutex
	m      map[blockKey]time.Time
	added  *stats.Counter
}

type blockKey struct {
	proto msg.Proto
	addr  netip.AddrPort
}

// maxBlocked bounds the list; beyond it the oldest entries are dropped.
const maxBlocked = 65536

// NewBlocklist makes a list whose entries last expire; 0 disables it.
func NewBlocklist(expire time.Duration) *Blocklist {
	return &Blocklist{expire: expire, m: map[blockKey]time.Time{},
		added: stats.New("dst_blocklist", "blocklisted", "destinations put on the blocklist")}
}

// Enabled reports whether destinations are remembered at all.
func (b *Blocklist) Enabled() bool { return b != nil && b.expire > 0 }

// Add puts a destination on the list.
func (b *Blocklist) Add(p msg.Proto, a netip.AddrPort) {
	if !b.Enabled() {
		return
	}
	now := time.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.m) >= maxBlocked {
		for k, exp := range b.m {
			if now.After(exp) || len(b.m) >= maxBlocked {
				delete(b.m, k)
			}
		}
	}
	b.m[blockKey{p, a}] = now.Add(b.expire)
	b.added.Inc()
}

// Remove takes a destination off the list (it answered).
func (b *Blocklist) Remove(p msg.Proto, a netip.AddrPort) {
	if !b.Enabled() {
		return
	}
	b.mu.Lock()
	delete(b.m, blockKey{p, a})
	b.mu.Unlock()
}

// Blocked reports whether a destination is on the list now.
func (b *Blocklist) Blocked(p msg.Proto, a netip.AddrPort) bool {
	if !b.Enabled() {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	exp, ok := b.m[blockKey{p, a}]
	if !ok {
		return false
	}
	if time.Now().After(exp) {
		delete(b.m, blockKey{p, a})
		return false
	}
	return true
}

// Len is the number of entries (expired ones included until swept).
func (b *Blocklist) Len() int {
	if b == nil {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.m)
}

// Order returns ts with blocklisted targets moved to the end, keeping the
// order within both groups.
func (b *Blocklist) Order(ts []Target) []Target {
	if !b.Enabled() || len(ts) < 2 {
		return ts
	}
	ok := make([]Target, 0, len(ts))
	var blocked []Target
	for _, t := range ts {
		if b.Blocked(t.Proto, t.Addr) {
			blocked = append(blocked, t)
		} else {
			ok = append(ok, t)
		}
	}
	return append(ok, blocked...)
}
