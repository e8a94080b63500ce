package topos_test

import (
	"context"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/luasbc/luasbc/core/backend/backendtest"
	"github.com/luasbc/luasbc/modules/topoh/thtest"
)

// redisParams is topos on the test Redis under a private key prefix, which
// is deleted after the test.
func redisParams(t *testing.T, url string) map[string]any {
	t.Helper()
	rc := backendtest.Redis(t)
	prefix := "test:topos:" + backendtest.Suffix() + ":"
	t.Cleanup(func() {
		ctx := context.Background()
		keys, _ := rc.Keys(ctx, prefix+"*").Result()
		if len(keys) > 0 {
			rc.Del(ctx, keys...)
		}
	})
	if url == "" {
		url = backendtest.RedisURL()
	}
	return map[string]any{"storage": "redis", "redis_url": url, "redis_prefix": prefix}
}

// Two nodes share one Redis: a dialog set up through node A continues
// through node B, which never saw its INVITE, in both directions.
func TestRedisTwoNodes(t *testing.T) {
	params := redisParams(t, "")
	a := newNode(t, opts{params: params})
	caller, callee := thtest.NewPeer(t, "alice"), thtest.NewPeer(t, "bob")
	c := setup(t, a, caller, callee)
	// Node B answers to node A's address too, as two nodes behind one name.
	b := newNode(t, opts{params: params, extra: `alias: ["` + a.addr + `"]`})
	caller.Send(b.addr, c.uac.Request("INFO"))
	info := callee.Expect("INFO ")
	if info.RURI != "sip:bob@"+callee.Addr {
		t.Errorf("INFO via node B: R-URI %q", info.RURI)
	}
	stripped(t, "INFO via node B", info, b, "b")
	noLeak(t, "INFO via node B", info.Raw, caller.Addr)
	callee.Send(b.addr, callee.Reply(info, 200, "OK", "", "-"))
	r := caller.Expect("SIP/2.0 200")
	noLeak(t, "INFO 200 via node B", r.Raw, callee.Addr)
	// re-INVITE from the callee through node B, then its BYE.
	callee.Send(b.addr, c.uas.Request("INVITE"))
	re := caller.Expect("INVITE ")
	if re.RURI != "sip:alice@"+caller.Addr {
		t.Errorf("re-INVITE via node B: R-URI %q", re.RURI)
	}
	caller.Send(b.addr, caller.Reply(re, 200, "OK", "", ""))
	callee.Expect("SIP/2.0 200")
	callee.Send(b.addr, c.uas.Request("ACK"))
	caller.Expect("ACK ")
	callee.Send(b.addr, c.uas.Request("BYE"))
	bye := caller.Expect("BYE ")
	noLeak(t, "BYE via node B", bye.Raw, callee.Addr)
	caller.Send(b.addr, caller.Reply(bye, 200, "OK", "", "-"))
	callee.Expect("SIP/2.0 200")
}

// Redis that goes away: new dialogs fail at once with 500 and one log line,
// without goroutines piling up; when it is back, calls work again.
func TestRedisDown(t *testing.T) {
	fw := newForwarder(t, "127.0.0.1:6379")
	params := redisParams(t, "redis://"+fw.addr+"/9")
	params["redis_timeout_ms"] = 100
	n := newNode(t, opts{params: params})
	caller, callee := thtest.NewPeer(t, "alice"), thtest.NewPeer(t, "bob")
	c := setup(t, n, caller, callee)

	fw.stop()
	// The dialog cannot be restored meanwhile: 500, nothing sent on.
	caller.Send(n.addr, c.uac.Request("BYE"))
	caller.Expect("SIP/2.0 500")
	base := runtime.NumGoroutine()
	for i := 0; i < 200; i++ {
		text := caller.Invite(n.addr, callee.Addr)
		caller.Send(n.addr, text)
		r := caller.Expect("SIP/2.0 500")
		caller.Send(n.addr, thtest.AckFor(text, r))
	}
	callee.ExpectNothing(100 * time.Millisecond)
	if g := runtime.NumGoroutine(); g > base+20 {
		t.Errorf("goroutines grew from %d to %d while Redis was down", base, g)
	}
	if k := countLogs(n, "redis unreachable"); k != 1 {
		t.Errorf("logged the outage %d times, want once", k)
	}

	fw.start(t)
	deadline := time.Now().Add(8 * time.Second)
	for {
		text := caller.Invite(n.addr, callee.Addr)
		caller.Send(n.addr, text)
		if inv := callee.Recv(time.Second); inv != nil && inv.Method == "INVITE" {
			noLeak(t, "INVITE after the outage", inv.Raw, caller.Addr)
			break // the INVITE went through, stripped
		}
		m := caller.Recv(100 * time.Millisecond)
		for m != nil && m.Status == 100 {
			m = caller.Recv(100 * time.Millisecond)
		}
		if m == nil || m.Status != 500 {
			t.Fatalf("after Redis came back: want the INVITE at the callee or a 500, got %v", m)
		}
		caller.Send(n.addr, thtest.AckFor(text, m))
		if time.Now().After(deadline) {
			t.Fatal("calls still fail 8 s after Redis came back")
		}
		time.Sleep(300 * time.Millisecond)
	}
	if !n.h.LogContains("redis reachable again") {
		t.Errorf("recovery not logged")
	}
}

func countLogs(n *node, sub string) int {
	k := 0
	for _, e := range n.h.Logs.All() {
		if strings.Contains(e.Message, sub) {
			k++
		}
	}
	return k
}

// forwarder is a TCP relay to Redis that the test can cut and restore.
type forwarder struct {
	target string
	addr   string
	mu     sync.Mutex
	ln     net.Listener
	conns  []net.Conn
}

func newForwarder(t *testing.T, target string) *forwarder {
	t.Helper()
	backendtest.Redis(t)
	f := &forwarder{target: target}
	f.start(t)
	t.Cleanup(f.stop)
	return f
}

func (f *forwarder) start(t *testing.T) {
	t.Helper()
	addr := f.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ {
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.ln, f.addr = ln, ln.Addr().String()
	f.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", f.target)
			if err != nil {
				c.Close()
				continue
			}
			f.mu.Lock()
			f.conns = append(f.conns, c, up)
			f.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); up.Close() }()
			go func() { _, _ = io.Copy(c, up); c.Close() }()
		}
	}()
}

// stop closes the listener and every relayed connection.
func (f *forwarder) stop() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ln != nil {
		f.ln.Close()
		f.ln = nil
	}
	for _, c := range f.conns {
		c.Close()
	}
	f.conns = nil
}

// tps_set_context puts the records of a message into a namespace; the
// lookups of received messages use the context set in topos:msg-incoming,
// so without it nothing of the dialog is found.
func TestContext(t *testing.T) {
	script := strings.Replace(thtest.ProxyScript, "function ksr_request_route()",
		"function ksr_request_route()\n  KSR.topos.tps_set_context(\"tenant1\")", 1) + `
function ksr_topos_event(ev)
  if ev == "topos:msg-incoming" and USE_CTX then KSR.topos.tps_set_context("tenant1") end
end
`
	params := redisParams(t, "")
	params["event_callback"] = "ksr_topos_event"
	prefix := params["redis_prefix"].(string)
	rc := backendtest.Redis(t)
	for _, useCtx := range []bool{true, false} {
		s := strings.Replace(script, "USE_CTX", map[bool]string{true: "true", false: "false"}[useCtx], 1)
		n := newNode(t, opts{params: params, script: s})
		caller, callee := thtest.NewPeer(t, "alice"), thtest.NewPeer(t, "bob")
		if !useCtx {
			caller.Send(n.addr, caller.Invite(n.addr, callee.Addr))
			inv := callee.Expect("INVITE ")
			callee.Send(n.addr, callee.Reply(inv, 180, "Ringing", "bt1", ""))
			caller.ExpectNothing(300 * time.Millisecond) // looked up outside the namespace
			continue
		}
		c := setup(t, n, caller, callee)
		keys, _ := rc.Keys(context.Background(), prefix+"tenant1:d:*").Result()
		if len(keys) == 0 {
			t.Fatalf("no dialog record under the context namespace")
		}
		caller.Send(n.addr, c.uac.Request("BYE"))
		callee.Expect("BYE ")
	}
}
