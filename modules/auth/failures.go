package auth

import (
	"container/list"
	"context"
	"net/netip"
	"sort"
	"sync"
	"time"

	"github.com/luasbc/luasbc/core/rpc"
)

// failureTracker is a bounded record of recent authentication failures per
// (source IP, user): what an operator looks at during a brute-force attempt.
// It is a map plus a list in order of last failure; a pair drops out when
// its last failure is older than ttl, or when the record is full and it is
// the least recently failed. Only failures touch it, so a flood costs one
// map lookup and a list move per failed request.
type failureTracker struct {
	mu  sync.Mutex
	max int
	ttl time.Duration
	m   map[failureKey]*list.Element
	lru list.List // of *failureEntry, most recent at the front
}

type failureKey struct {
	ip   netip.Addr
	user string
}

type failureEntry struct {
	key         failureKey
	count       int
	first, last time.Time
	code        int
}

// maxTrackedUser bounds the user part of a key (what an attacker controls).
const maxTrackedUser = 64

func newFailureTracker(max int, ttl time.Duration) *failureTracker {
	return &failureTracker{max: max, ttl: ttl, m: map[failureKey]*list.Element{}}
}

func (t *failureTracker) record(ip netip.Addr, user string, code int, now time.Time) {
	if t == nil || t.max == 0 {
		return
	}
	if len(user) > maxTrackedUser {
		user = user[:maxTrackedUser]
	}
	k := failureKey{ip: ip.Unmap(), user: user}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.expire(now)
	if el, ok := t.m[k]; ok {
		e := el.Value.(*failureEntry)
		e.count++
		e.last, e.code = now, code
		t.lru.MoveToFront(el)
		return
	}
	if t.lru.Len() >= t.max {
		old := t.lru.Back()
		delete(t.m, old.Value.(*failureEntry).key)
		t.lru.Remove(old)
	}
	t.m[k] = t.lru.PushFront(&failureEntry{key: k, count: 1, first: now, last: now, code: code})
}

// expire drops pairs whose last failure is older than ttl (from the back,
// where the oldest are).
func (t *failureTracker) expire(now time.Time) {
	for el := t.lru.Back(); el != nil; el = t.lru.Back() {
		e := el.Value.(*failureEntry)
		if now.Sub(e.last) <= t.ttl {
			return
		}
		delete(t.m, e.key)
		t.lru.Remove(el)
	}
}

// FailureInfo is one (source IP, user) pair of the record.
type FailureInfo struct {
	IP       string `json:"ip"`
	User     string `json:"user"`
	Count    int    `json:"count"`
	First    int64  `json:"first"` // Unix seconds
	Last     int64  `json:"last"`
	LastCode int    `json:"last_code"`
}

// list returns the pairs (of one IP when ip is valid), most failures first.
func (t *failureTracker) list(ip netip.Addr, now time.Time) []FailureInfo {
	out := []FailureInfo{}
	if t == nil {
		return out
	}
	t.mu.Lock()
	t.expire(now)
	for el := t.lru.Front(); el != nil; el = el.Next() {
		e := el.Value.(*failureEntry)
		if ip.IsValid() && e.key.ip != ip.Unmap() {
			continue
		}
		out = append(out, FailureInfo{IP: e.key.ip.String(), User: e.key.user, Count: e.count,
			First: e.first.Unix(), Last: e.last.Unix(), LastCode: e.code})
	}
	t.mu.Unlock()
	sort.SliceStable(out, func(i, j int) bool { return out[i].Count > out[j].Count })
	return out
}

// count is the number of failures recorded for an IP (all users).
func (t *failureTracker) count(ip netip.Addr, now time.Time) int {
	n := 0
	for _, f := range t.list(ip, now) {
		n += f.Count
	}
	return n
}

// Failures lists the recent failures (of one source IP when ip is valid).
func (a *Auth) Failures(ip netip.Addr) []FailureInfo { return a.failures.list(ip, time.Now()) }

// RPC implements kemi.RPCProvider.
func (a *Auth) RPC() []rpc.Method {
	return []rpc.Method{
		{Name: "auth.failures", Params: "[ip]",
			Doc: "luasbc: recent failed authentications per source IP and user (count, first and last time, last result code), most first; optionally of one IP.",
			Fn: func(_ context.Context, p rpc.Params) (any, error) {
				var ip netip.Addr
				if s, ok := p.Str(0); ok && s != "" {
					var err error
					if ip, err = netip.ParseAddr(s); err != nil {
						return nil, rpc.Errorf(400, "invalid IP address %q", s)
					}
				}
				return a.Failures(ip), nil
			}},
	}
}
