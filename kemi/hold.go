package kemi

// Hold takes a Lua state from the pool for a goroutine that is about to lock
// shared state (a transaction) and may run callbacks while holding it. Put
// the handle in msg.Msg.Script of every message those callbacks run for:
// Call then reuses the held state instead of waiting on the pool.
//
// Why: a goroutine that waits for a pooled state while holding a lock that a
// state-holding worker waits for would deadlock once the pool is empty. So
// the order is always "state first, then locks", and Hold is how code outside
// the request route follows it.
func (e *Engine) Hold() (handle any, release func()) {
	st := e.acquire()
	return st, func() { e.release(st) }
}
