package htable

import (
	"context"
	"sync"
	"time"
)

// userLock is the lock sht_lock/sht_unlock take on a slot: owned by one Lua
// state (Kamailio: one process) and re-entrant for it. It is advisory: it
// serialises the scripts that take it, while plain reads and writes of the
// slot do not wait for it (they are atomic by themselves).
//
// A script that locks and never unlocks (an error, KSR.x.exit) would block
// the slot for good; no callback runs longer than lua.timeout_ms, so a lock
// held longer than its lease is taken to be abandoned and can be taken over.
type userLock struct {
	mu    sync.Mutex
	owner any
	depth int
	since time.Time
	wake  chan struct{} // closed when the lock is released
}

func newUserLock() *userLock { return &userLock{wake: make(chan struct{})} }

// lock waits until owner holds the lock, or ctx ends (false).
func (l *userLock) lock(ctx context.Context, owner any, lease time.Duration) bool {
	for {
		l.mu.Lock()
		now := time.Now()
		if l.owner == nil || l.owner == owner || now.Sub(l.since) > lease {
			if l.owner != owner {
				l.owner, l.depth, l.since = owner, 0, now
			}
			l.depth++
			l.mu.Unlock()
			return true
		}
		wake, left := l.wake, lease-now.Sub(l.since)
		l.mu.Unlock()
		t := time.NewTimer(left + time.Millisecond)
		select {
		case <-wake:
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return false
		}
		t.Stop()
	}
}

// unlock releases one level; false when owner does not hold the lock.
func (l *userLock) unlock(owner any) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.owner != owner || l.depth == 0 {
		return false
	}
	l.depth--
	if l.depth == 0 {
		l.owner = nil
		close(l.wake)
		l.wake = make(chan struct{})
	}
	return true
}
