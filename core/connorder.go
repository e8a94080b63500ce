package core

import "sync"

// connOrder reports a stream connection's close after the messages read
// from it before the close: the workers run in parallel, and a reply read
// just before the peer hung up (a 200 for a BYE, then the UA exits) must
// reach tm before the close fails the branch it answers.
type connOrder struct {
	mu      sync.Mutex
	pending map[uint64]int  // messages queued or being handled, per connection
	closed  map[uint64]bool // closes waiting for those messages
}

// queued counts a message of connection id (0: UDP, not tracked).
func (o *connOrder) queued(id uint64) {
	if id == 0 {
		return
	}
	o.mu.Lock()
	if o.pending == nil {
		o.pending, o.closed = map[uint64]int{}, map[uint64]bool{}
	}
	o.pending[id]++
	o.mu.Unlock()
}

// done uncounts a message of connection id; it reports whether the close
// of id was waiting for it, and is due now.
func (o *connOrder) done(id uint64) bool {
	if id == 0 {
		return false
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.pending[id]--; o.pending[id] > 0 {
		return false
	}
	delete(o.pending, id)
	if o.closed[id] {
		delete(o.closed, id)
		return true
	}
	return false
}

// close reports whether the close of id is due now; if messages of id are
// still queued, it is kept for the last one's done.
func (o *connOrder) close(id uint64) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.pending[id] > 0 {
		o.closed[id] = true
		return false
	}
	return true
}
