package htable_test

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/luasbc/luasbc/core/backend/backendtest"
)

const redisSteps = `
local H = KSR.htable
function ban()
	return H.sht_seti("ban", "203.0.113.5", 1), H.sht_sets("ban", "note", "from A")
end
function check()
	return H.sht_match_name("ban", "eq", "203.0.113.5"), H.sht_get("ban", "203.0.113.5"), H.sht_get("ban", "note"),
		H.sht_is_null("ban", "203.0.113.5")
end
function inc5()
	local v
	for i = 1, 5 do v = H.sht_inc("cnt", "calls") end
	return v
end
function count()
	return H.sht_get("cnt", "calls"), H.sht_cn("ban", "**", ""), H.sht_match_name("ban", "sw", "203.0.113."),
		H.sht_match_str_value("ban", "eq", "from A"), KSR.pv.get("$shtcv(ban=>eq1)")
end
function short()
	return H.sht_seti("short", "k", 7), KSR.pv.get("$shtex(short=>k)")
end
function short_get()
	return H.sht_get("short", "k")
end
function timed()
	return H.sht_seti("ban", "198.51.100.1", 1), H.sht_get("ban", "198.51.100.1"), H.sht_match_name("ban", "eq", "198.51.100.1"),
		H.sht_seti("cnt", "x", 0) + H.sht_inc("cnt", "x"), H.sht_sets("ban", "s", "v"), H.sht_get("ban", "s")
end
function outage_write()
	return H.sht_seti("ban", "k2", 2), H.sht_rm("ban", "k1"), H.sht_get("ban", "k2"), H.sht_get("ban", "k1")
end
function put_k1()
	return H.sht_seti("ban", "k1", 1)
end
function see_k()
	return H.sht_get("ban", "k1"), H.sht_get("ban", "k2")
end
function reset()
	return H.sht_reset("ban"), H.sht_cn("ban", "**", "")
end
`

// redisNode starts a node whose "ban", "cnt" and "short" tables live in
// the Redis at redisURL under a prefix private to the test.
func redisNode(t *testing.T, redisURL, prefix string, extra map[string]any) *node {
	params := map[string]any{"redis_url": redisURL, "redis_prefix": prefix, "timer_interval": 1,
		"htable": []any{"ban=>size=8;autoexpire=300;redis=1", "cnt=>size=4;initval=0;redis=1", "short=>size=2;autoexpire=2;redis=1"}}
	for k, v := range extra {
		params[k] = v
	}
	return startNode(t, redisSteps, params)
}

func testPrefix(t *testing.T) string {
	rc := backendtest.Redis(t)
	prefix := "test:" + backendtest.Suffix() + ":"
	t.Cleanup(func() {
		ctx := context.Background()
		keys, _ := rc.Keys(ctx, prefix+"*").Result()
		if len(keys) > 0 {
			rc.Del(ctx, keys...)
		}
	})
	return prefix
}

func TestRedisTableSharedByTwoNodes(t *testing.T) {
	prefix := testPrefix(t)
	rc := backendtest.Redis(t)
	// A generous timeout: this test is about sharing, and a loaded CI
	// machine must not push a node onto its local copy half way.
	slow := map[string]any{"redis_timeout_ms": 2000}
	a := redisNode(t, backendtest.RedisURL(), prefix, slow)
	b := redisNode(t, backendtest.RedisURL(), prefix, slow)

	b.expect(t, "check", "-1", "nil", "nil", "1")
	a.expect(t, "ban", "1", "1")
	// A ban set on A holds on B.
	b.expect(t, "check", "1", "1", "from A", "-2")

	// Typed values and the expiry are kept in Redis.
	ctx := context.Background()
	if v, _ := rc.Get(ctx, prefix+"ban:203.0.113.5").Result(); v != "i1" {
		t.Errorf("Redis value %q, want i1", v)
	}
	if v, _ := rc.Get(ctx, prefix+"ban:note").Result(); v != "sfrom A" {
		t.Errorf("Redis value %q, want \"sfrom A\"", v)
	}
	if ttl, _ := rc.PTTL(ctx, prefix+"ban:203.0.113.5").Result(); ttl < 290*time.Second || ttl > 300*time.Second {
		t.Errorf("Redis TTL %v, want the autoexpire", ttl)
	}

	// Increments from both nodes add up.
	a.expect(t, "inc5", "5")
	b.expect(t, "inc5", "10")
	a.expect(t, "count", "10", "2", "1", "1", "1")

	// RPC on B sees A's items (with the time left), and deletes for both.
	res, err := b.rpc(t, "htable.dump", "ban")
	if err != nil {
		t.Fatal(err)
	}
	var dumped []string
	for _, e := range res.([]any) {
		for _, it := range e.(map[string]any)["slot"].([]any) {
			im := it.(map[string]any)
			dumped = append(dumped, im["name"].(string))
			if ttl := im["ttl"].(float64); ttl < 290 || ttl > 300 {
				t.Errorf("ttl of %v: %v", im["name"], ttl)
			}
		}
	}
	if strings.Join(sorted(dumped), ",") != "203.0.113.5,note" {
		t.Errorf("dump on B: %v", dumped)
	}
	if _, err := b.rpc(t, "htable.delete", "ban", "203.0.113.5"); err != nil {
		t.Fatal(err)
	}
	a.expect(t, "check", "-1", "nil", "from A", "1")

	// Expiry is Redis's: an item set on A with autoexpire=2 is gone on B.
	a.expect(t, "short", "1", "2")
	b.expect(t, "short_get", "7")
	time.Sleep(2200 * time.Millisecond)
	b.expect(t, "short_get", "nil")
	a.expect(t, "short_get", "nil")

	a.expect(t, "reset", "0", "0")
	b.expect(t, "check", "-1", "nil", "nil", "1")
}

func TestRedisUnreachableDoesNotBlock(t *testing.T) {
	// Nothing listens on port 1: the connection is refused.
	n := redisNode(t, "redis://127.0.0.1:1/0", "test:", nil)
	if !n.h.LogContains("redis unreachable") {
		t.Error("no log line about the unreachable Redis")
	}
	for i := 0; i < 3; i++ {
		start := time.Now()
		n.expect(t, "timed", "1", "1", "1", "2", "1", "v")
		// The whole SIP round trip on a possibly loaded machine, against the
		// seconds a blocking client would wait; the operation itself is
		// held to 300 ms in TestRedisDownOperationsAreFast.
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("round %d took %v with Redis down", i, d)
		}
	}
}

// silentServer accepts connections and never answers (a Redis that hangs).
func silentServer(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
	})
	return ln.Addr().String()
}

func TestRedisThatHangsIsBoundedByTheTimeout(t *testing.T) {
	n := redisNode(t, "redis://"+silentServer(t)+"/0", "test:", map[string]any{"redis_timeout_ms": 50})
	for i := 0; i < 3; i++ {
		start := time.Now()
		n.expect(t, "timed", "1", "1", "1", "2", "1", "v")
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("round %d took %v with a Redis that never answers", i, d)
		}
	}
}

func TestRedisOutageFallsBackAndResyncs(t *testing.T) {
	prefix := testPrefix(t)
	px := backendtest.NewProxy(t, backendtest.HostPort(t, backendtest.RedisURL()))
	viaProxy := px.Via(t, backendtest.RedisURL())
	// The cut proxy closes connections at once, so a generous timeout
	// still shows that writes during the outage do not wait.
	slow := map[string]any{"redis_timeout_ms": 2000}
	a := redisNode(t, viaProxy, prefix, slow)
	b := redisNode(t, backendtest.RedisURL(), prefix, slow)

	a.expect(t, "put_k1", "1")
	b.expect(t, "see_k", "1", "nil")

	px.SetDown(true)
	start := time.Now()
	// A keeps working on its local copy: k2 set, k1 removed.
	a.expect(t, "outage_write", "1", "1", "2", "nil")
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("writes during the outage took %v", d)
	}
	a.expect(t, "see_k", "nil", "2")
	b.expect(t, "see_k", "1", "nil") // not pushed yet

	px.SetDown(false)
	// Once Redis answers again, A pushes what it changed meanwhile.
	eventually(t, 5*time.Second, func() string {
		got := strings.Join(b.run(t, "see_k"), "|")
		if got != "nil|2" {
			return "B sees " + got + " after the outage, want nil|2"
		}
		return ""
	})
	if !a.h.LogContains("redis reachable again") {
		t.Error("no log line about the recovery")
	}
	a.expect(t, "see_k", "nil", "2")
}
