package usrloc

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/luasbc/luasbc/core/backend/backendtest"
)

// redisPrefix is a key prefix private to the test, cleaned up afterwards.
func redisPrefix(t *testing.T) string {
	t.Helper()
	rc := backendtest.Redis(t)
	prefix := "test:" + backendtest.Suffix() + ":"
	t.Cleanup(func() {
		ctx := context.Background()
		if keys, _ := rc.Keys(ctx, prefix+"*").Result(); len(keys) > 0 {
			rc.Del(ctx, keys...)
		}
	})
	return prefix
}

func redisModule(t *testing.T, url, prefix string) *testModule {
	return newTestModule(t, map[string]any{"redis": 1, "redis_url": url, "redis_prefix": prefix, "timer_interval": 3600,
		"redis_timeout_ms": 1000})
}

func TestRedisSharedByTwoNodes(t *testing.T) {
	prefix := redisPrefix(t)
	rc := backendtest.Redis(t)
	ctx := context.Background()
	a := redisModule(t, backendtest.RedisURL(), prefix)
	b := redisModule(t, backendtest.RedisURL(), prefix)
	da, db := a.domain(t, "location"), b.domain(t, "location")
	if _, err := da.Update(ctx, "alice", add(contact("sip:alice@1", 600, 100))); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Update(ctx, "alice", add(contact("sip:alice@2", 300, 900))); err != nil {
		t.Fatal(err)
	}
	for _, d := range []*Domain{da, db} {
		cs, err := d.Get(ctx, "alice")
		if err != nil || addrs(cs) != "sip:alice@2,sip:alice@1" {
			t.Errorf("node sees %s (%v)", addrs(cs), err)
		}
	}
	// The key lives until the last contact expires, plus the grace period.
	ttl, _ := rc.PTTL(ctx, prefix+"location:rec:alice").Result()
	if grace := 2*time.Hour + 10*time.Second; ttl < 600*time.Second || ttl > 600*time.Second+grace {
		t.Errorf("TTL %v", ttl)
	}
	// Concurrent saves of one AoR on both nodes lose nothing.
	done := make(chan error, 20)
	for i := 0; i < 10; i++ {
		go func(i int) {
			_, err := da.Update(ctx, "bob", add(contact("sip:bob@a"+itoa(i), 600, 0)))
			done <- err
		}(i)
		go func(i int) {
			_, err := db.Update(ctx, "bob", add(contact("sip:bob@b"+itoa(i), 600, 0)))
			done <- err
		}(i)
	}
	for i := 0; i < 20; i++ {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
	if cs, _ := da.Get(ctx, "bob"); len(cs) != 20 {
		t.Errorf("%d contacts after 20 concurrent saves", len(cs))
	}
	// A removal on B is seen on A; ul.dump on A walks Redis.
	db.Remove(ctx, "alice")
	if cs, _ := da.Get(ctx, "alice"); len(cs) != 0 {
		t.Errorf("A still sees %s", addrs(cs))
	}
	n := 0
	da.Walk(ctx, func(aor string, cs []Contact) bool { n += len(cs); return true })
	if n != 20 {
		t.Errorf("walk found %d contacts", n)
	}
}

// TestRedisExpiryOnce: every node's timer looks for expired contacts; the
// event is raised by exactly one.
func TestRedisExpiryOnce(t *testing.T) {
	prefix := redisPrefix(t)
	ctx := context.Background()
	a := redisModule(t, backendtest.RedisURL(), prefix)
	b := redisModule(t, backendtest.RedisURL(), prefix)
	a.domain(t, "location").Update(ctx, "carol", add(contact("sip:carol@1", 2, 0)))
	a.domain(t, "location").Update(ctx, "carol", add(contact("sip:carol@2", 600, 0)))
	b.domain(t, "location")
	time.Sleep(2100 * time.Millisecond)
	done := make(chan struct{})
	go func() { a.Tick(); done <- struct{}{} }()
	b.Tick()
	<-done
	if n := len(a.expiredRuids()) + len(b.expiredRuids()); n != 1 {
		t.Errorf("expired contact reported %d times, want once", n)
	}
	if cs, _ := b.domain(t, "location").GetAll(ctx, "carol"); addrs(cs) != "sip:carol@2" {
		t.Errorf("after expiry: %s", addrs(cs))
	}
}

func TestRedisOutage(t *testing.T) {
	prefix := redisPrefix(t)
	px := backendtest.NewProxy(t, backendtest.HostPort(t, backendtest.RedisURL()))
	ctx := context.Background()
	m := redisModule(t, px.Via(t, backendtest.RedisURL()), prefix)
	d := m.domain(t, "location")
	if _, err := d.Update(ctx, "dave", add(contact("sip:dave@1", 600, 0))); err != nil {
		t.Fatal(err)
	}
	px.SetDown(true)
	for i := 0; i < 3; i++ {
		if _, err := d.Update(ctx, "dave", add(contact("sip:dave@2", 600, 0))); !errors.Is(err, ErrBackend) {
			t.Fatalf("update with Redis down: %v", err)
		}
	}
	if cs, err := d.Get(ctx, "dave"); err != nil || addrs(cs) != "sip:dave@1" {
		t.Errorf("lookup with Redis down: %s %v", addrs(cs), err)
	}
	if n := m.logCount("redis unreachable"); n != 1 {
		t.Errorf("%d log lines for the outage", n)
	}
	px.SetDown(false)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := d.Update(ctx, "dave", add(contact("sip:dave@2", 600, 0))); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Redis back, updates still fail")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if cs, _ := d.Get(ctx, "dave"); addrs(cs) != "sip:dave@1,sip:dave@2" {
		t.Errorf("after the outage: %s", addrs(cs))
	}
}
