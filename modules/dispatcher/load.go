package dispatcher

import (
	"sync"
	"sync/atomic"
	"time"
)

// loadTracker is the call-load table of algorithm 10 (ds_hash_size > 0):
// which destination each call (by Call-ID) was given, and how many calls
// each destination has. Counters are keyed by set and duid, not by
// destination, so they survive reloads: a destination that is still in the
// list keeps its count, and a call ending after a reload releases the
// right one.
type loadTracker struct {
	mu         sync.Mutex
	calls      map[string]*callLoad
	counters   map[loadKey]*atomic.Int64
	expire     time.Duration // ds_hash_expire: any call
	initExpire time.Duration // ds_hash_initexpire: calls never confirmed by a 2xx
	now        func() time.Time
}

type loadKey struct {
	setid int
	duid  string
}

type callLoad struct {
	key       loadKey
	confirmed bool
	expires   time.Time // zero: never
	initExp   time.Time // zero: never
}

func newLoadTracker(expire, initExpire time.Duration) *loadTracker {
	return &loadTracker{calls: map[string]*callLoad{}, counters: map[loadKey]*atomic.Int64{},
		expire: expire, initExpire: initExpire, now: time.Now}
}

// counter returns the shared counter of a destination, creating it.
func (l *loadTracker) counter(setid int, duid string) *atomic.Int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.counterLocked(loadKey{setid, duid})
}

func (l *loadTracker) counterLocked(k loadKey) *atomic.Int64 {
	c := l.counters[k]
	if c == nil {
		c = new(atomic.Int64)
		l.counters[k] = c
	}
	return c
}

// add accounts call callid to d; false when d has no duid or the call is
// already accounted (a second selection for the same call).
func (l *loadTracker) add(callid string, d *dest) bool {
	if d.attrs.duid == "" || callid == "" {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, dup := l.calls[callid]; dup {
		return false
	}
	l.addLocked(callid, loadKey{d.setid, d.attrs.duid})
	return true
}

func (l *loadTracker) addLocked(callid string, k loadKey) {
	cl := &callLoad{key: k}
	now := l.now()
	if l.expire > 0 {
		cl.expires = now.Add(l.expire)
	}
	if l.initExpire > 0 {
		cl.initExp = now.Add(l.initExpire)
	}
	l.calls[callid] = cl
	l.counterLocked(k).Add(1)
}

// replace moves the call's load to d (failover to the next destination).
// A call that was not accounted is accounted now.
func (l *loadTracker) replace(callid string, d *dest) bool {
	if d.attrs.duid == "" || callid == "" {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if old := l.calls[callid]; old != nil {
		l.releaseLocked(callid, old)
	}
	l.addLocked(callid, loadKey{d.setid, d.attrs.duid})
	return true
}

// remove releases the call's load; false if it had none.
func (l *loadTracker) remove(callid string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	cl := l.calls[callid]
	if cl == nil {
		return false
	}
	l.releaseLocked(callid, cl)
	return true
}

func (l *loadTracker) releaseLocked(callid string, cl *callLoad) {
	delete(l.calls, callid)
	if c := l.counters[cl.key]; c != nil && c.Load() > 0 {
		c.Add(-1)
	}
}

// confirm marks the call answered (2xx): only ds_hash_expire applies now.
func (l *loadTracker) confirm(callid string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	cl := l.calls[callid]
	if cl == nil {
		return false
	}
	cl.confirmed = true
	return true
}

// has reports whether the call is accounted.
func (l *loadTracker) has(callid string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.calls[callid] != nil
}

// expireOld releases calls past ds_hash_expire, or past ds_hash_initexpire
// without confirmation; it returns how many.
func (l *loadTracker) expireOld() int {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for id, cl := range l.calls {
		if !cl.expires.IsZero() && now.After(cl.expires) || !cl.confirmed && !cl.initExp.IsZero() && now.After(cl.initExp) {
			l.releaseLocked(id, cl)
			n++
		}
	}
	return n
}

// active is the number of calls accounted.
func (l *loadTracker) active() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.calls)
}
