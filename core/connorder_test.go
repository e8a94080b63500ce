package core

import "testing"

// A close waits for the messages of its connection queued before it.
func TestConnOrder(t *testing.T) {
	var o connOrder
	if !o.close(7) {
		t.Fatal("a close with nothing queued is not due at once")
	}
	o.queued(7)
	o.queued(7)
	o.queued(0) // UDP: not tracked
	if o.close(7) {
		t.Fatal("close due while two messages of the connection are queued")
	}
	if o.done(7) {
		t.Fatal("close due after the first of two messages")
	}
	if o.done(0) {
		t.Fatal("UDP message reported a close")
	}
	if !o.done(7) {
		t.Fatal("close not due after the last message")
	}
	if o.done(7) || len(o.pending) != 0 || len(o.closed) != 0 {
		t.Fatalf("state left over: %v %v", o.pending, o.closed)
	}
	o.queued(8)
	if o.done(8) {
		t.Fatal("a message without a close reported one")
	}
}
