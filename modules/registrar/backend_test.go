package registrar_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/luasbc/luasbc/core/backend"
	"github.com/luasbc/luasbc/core/backend/backendtest"
	"github.com/luasbc/luasbc/modules/usrloc"
)

// pgLocation makes a private schema with Kamailio's location table.
func pgLocation(t *testing.T) string {
	t.Helper()
	u, pool := backendtest.Schema(t)
	if _, err := pool.Exec(context.Background(), usrloc.SchemaSQL); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(backend.CloseAll)
	return u
}

// TestPostgresKeepsRegistrationsAcrossRestart: write-through, then a new
// server on the same table finds every registration.
func TestPostgresKeepsRegistrationsAcrossRestart(t *testing.T) {
	db := pgLocation(t)
	ul := map[string]any{"db_mode": 1, "db_url": db}
	t.Run("first server", func(t *testing.T) {
		n := startNode(t, lookupSteps, nil, ul)
		rep := n.register(t, "quinn", "q1", 1, []string{"<sip:quinn@192.0.2.1>;q=0.2", "<sip:quinn@192.0.2.2>;q=0.8"},
			"X-Received: sip:203.0.113.5:5062", "X-BFlag: 3")
		if code(rep) != 200 {
			t.Fatalf("REGISTER: %q", rep)
		}
	})
	// The first server is gone; the second loads the table at start.
	n := startNode(t, lookupSteps, nil, ul)
	n.expect(t, "INVITE", "sip:quinn@example.com", "lookup", "1", "sip:quinn@192.0.2.2", "sip:203.0.113.5:5062",
		"sip:quinn@192.0.2.1 sip:203.0.113.5:5062  200 8")
	// And it continues the CSeq sequence of the stored binding.
	if rep := n.register(t, "quinn", "q1", 1, []string{"<sip:quinn@192.0.2.1>"}, "Expires: 10"); code(rep) != 200 {
		t.Errorf("retransmission after restart: %d", code(rep))
	}
	if rep := n.register(t, "quinn", "q1", 0, []string{"<sip:quinn@192.0.2.1>"}); code(rep) != 400 {
		t.Errorf("older CSeq after restart: %d", code(rep))
	}
}

// TestPostgresOutage: REGISTER answered 500 with one log line for the
// outage, lookups keep working from the cache, and nothing is lost.
func TestPostgresOutage(t *testing.T) {
	db := pgLocation(t)
	px := backendtest.NewProxy(t, backendtest.HostPort(t, backendtest.PGURL()))
	n := startNode(t, lookupSteps, map[string]any{"retry_after": 5}, map[string]any{"db_mode": 1, "db_url": px.Via(t, db)})
	n.register(t, "rita", "r1", 1, []string{"<sip:rita@192.0.2.1>"})
	px.SetDown(true)
	for i := 2; i < 6; i++ {
		start := time.Now()
		rep := n.register(t, "rita", "r1", i, []string{"<sip:rita@192.0.2.9>"})
		if code(rep) != 500 || header(rep, "Retry-After") != "5" {
			t.Fatalf("REGISTER during the outage: %q", rep)
		}
		if d := time.Since(start); d > 2500*time.Millisecond {
			t.Errorf("REGISTER took %v", d)
		}
	}
	lines := 0
	for _, e := range n.h.Logs.All() {
		if strings.Contains(e.Message, "database unreachable") {
			lines++
		}
	}
	if lines != 1 {
		t.Errorf("%d log lines for the outage, want 1", lines)
	}
	n.expect(t, "INVITE", "sip:rita@example.com", "lookup", "1", "sip:rita@192.0.2.1", "nil", "")
	px.SetDown(false)
	eventually(t, 5*time.Second, func() string {
		if rep := n.register(t, "rita", "r1", 10, []string{"<sip:rita@192.0.2.9>"}); code(rep) != 200 {
			return "REGISTER still refused after the outage"
		}
		return ""
	})
	var rows int
	pool, _ := backend.Postgres(context.Background(), db)
	if err := pool.QueryRow(context.Background(), "SELECT COUNT(*) FROM location").Scan(&rows); err != nil || rows != 2 {
		t.Errorf("%d rows (%v), want 2", rows, err)
	}
}

// TestRedisSharedLocation: two servers share one location service.
func TestRedisSharedLocation(t *testing.T) {
	rc := backendtest.Redis(t)
	prefix := "test:" + backendtest.Suffix() + ":"
	t.Cleanup(func() {
		ctx := context.Background()
		if keys, _ := rc.Keys(ctx, prefix+"*").Result(); len(keys) > 0 {
			rc.Del(ctx, keys...)
		}
	})
	ul := map[string]any{"redis": 1, "redis_url": backendtest.RedisURL(), "redis_prefix": prefix, "redis_timeout_ms": 1000}
	a := startNode(t, lookupSteps, nil, ul)
	b := startNode(t, lookupSteps, nil, ul)
	a.register(t, "sam", "s1", 1, []string{"<sip:sam@192.0.2.1>;q=0.5"})
	b.register(t, "sam", "s2", 1, []string{"<sip:sam@192.0.2.2>;q=0.9;expires=2"})
	a.expect(t, "INVITE", "sip:sam@example.com", "lookup", "1", "sip:sam@192.0.2.2", "nil", "sip:sam@192.0.2.1   500 0")
	rep := a.register(t, "sam", "s3", 1, nil)
	if strings.Count(header(rep, "Contact"), "<sip:") != 2 {
		t.Errorf("A lists %q", header(rep, "Contact"))
	}
	// The short contact expires once for the cluster: one event, on one node.
	eventually(t, 10*time.Second, func() string {
		if !a.h.LogContains("EXPIRED usrloc:contact-expired sam sip:sam@192.0.2.2") &&
			!b.h.LogContains("EXPIRED usrloc:contact-expired sam sip:sam@192.0.2.2") {
			return "no expiry event"
		}
		return ""
	})
	time.Sleep(1500 * time.Millisecond)
	if a.h.LogContains("EXPIRED usrloc:contact-expired sam") && b.h.LogContains("EXPIRED usrloc:contact-expired sam") {
		t.Error("both nodes raised the expiry event")
	}
	b.expect(t, "INVITE", "sip:sam@example.com", "lookup", "1", "sip:sam@192.0.2.1", "nil", "")
}
