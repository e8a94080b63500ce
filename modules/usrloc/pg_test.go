package usrloc

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/luasbc/luasbc/core/backend/backendtest"
)

func pgPool(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	p, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func rowCount(t *testing.T, p *pgxpool.Pool) int {
	t.Helper()
	var n int
	if err := p.QueryRow(context.Background(), "SELECT COUNT(*) FROM location").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestPGWriteThroughAndReload(t *testing.T) {
	url := pgSchema(t)
	db := pgPool(t, url)
	ctx := context.Background()
	a := newTestModule(t, map[string]any{"db_mode": 1, "db_url": url})
	d := a.domain(t, "location")
	c := contact("sip:alice@192.0.2.1:5060", 600, 500)
	c.Received, c.Path, c.Instance, c.RegID, c.CFlags, c.Methods = "sip:203.0.113.1:1024", "<sip:edge;lr>", "<urn:uuid:1>", 1, 64, 13
	d.Update(ctx, "alice", add(c))
	d.Update(ctx, "alice", add(contact("sip:alice@192.0.2.2", 600, QUnspecified)))
	perm := contact("sip:alice@192.0.2.3", 0, 1000)
	perm.Expires = 0
	d.Update(ctx, "alice", add(perm))
	// Written before Update returned, with Kamailio's column values.
	var user, contactCol string
	var domain *string
	var q float32
	var methods int32
	var exp time.Time
	err := db.QueryRow(ctx, "SELECT username, domain, contact, q, methods, expires FROM location WHERE contact = $1",
		"sip:alice@192.0.2.1:5060").Scan(&user, &domain, &contactCol, &q, &methods, &exp)
	if err != nil {
		t.Fatal(err)
	}
	if user != "alice" || domain != nil || q != 0.5 || methods != 13 {
		t.Errorf("row: %s %v %v %d", user, domain, q, methods)
	}
	if d := time.Until(time.Date(exp.Year(), exp.Month(), exp.Day(), exp.Hour(), exp.Minute(), exp.Second(), 0, time.Local)); d < 590*time.Second || d > 610*time.Second {
		t.Errorf("expires column %v is %v away, want local time 600 s ahead", exp, d)
	}
	before, _ := d.Get(ctx, "alice")
	a.Stop()

	// A new instance on the same table has every registration back.
	b := newTestModule(t, map[string]any{"db_mode": 1, "db_url": url})
	after, err := b.domain(t, "location").Get(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != 3 || addrs(after) != addrs(before) {
		t.Fatalf("after reload: %s, want %s", addrs(after), addrs(before))
	}
	for i := range before {
		w, g := before[i], after[i]
		if !w.Same(&g) {
			t.Errorf("reloaded contact differs:\n got  %+v\n want %+v", g, w)
		}
	}
	// A delete is written through too.
	b.domain(t, "location").Remove(ctx, "alice")
	if n := rowCount(t, db); n != 0 {
		t.Errorf("%d rows after remove", n)
	}
}

func TestPGWriteBack(t *testing.T) {
	url := pgSchema(t)
	db := pgPool(t, url)
	ctx := context.Background()
	m := newTestModule(t, map[string]any{"db_mode": 2, "db_url": url, "timer_interval": 3600})
	d := m.domain(t, "location")
	d.Update(ctx, "bob", add(contact("sip:bob@1", 600, 0)))
	d.Update(ctx, "bob", add(contact("sip:bob@2", 600, 0)))
	if n := rowCount(t, db); n != 0 {
		t.Errorf("write-back wrote at once: %d rows", n)
	}
	m.Tick()
	if n := rowCount(t, db); n != 2 {
		t.Errorf("%d rows after the flush, want 2", n)
	}
	cs, _ := d.Get(ctx, "bob")
	if cs[0].state != csSync {
		t.Errorf("state after flush %v", cs[0].state)
	}
	d.Update(ctx, "bob", func(cur []Contact) ([]Contact, error) { return cur[:1], nil })
	m.Stop() // writes back what is pending
	if n := rowCount(t, db); n != 1 {
		t.Errorf("%d rows after stop, want 1", n)
	}
}

func TestPGMemoryOnlyFlag(t *testing.T) {
	url := pgSchema(t)
	db := pgPool(t, url)
	m := newTestModule(t, map[string]any{"db_mode": 1, "db_url": url})
	c := contact("sip:mem@1", 600, 0)
	c.Flags = FlMem
	m.domain(t, "location").Update(context.Background(), "mem", add(c))
	if n := rowCount(t, db); n != 0 {
		t.Errorf("memory-only contact written: %d rows", n)
	}
}

// TestPGOutage cuts the database: changes fail with ErrBackend (one log
// line for the outage), lookups keep the cache, nothing stored is lost,
// and the end of the outage is logged.
func TestPGOutage(t *testing.T) {
	url := pgSchema(t)
	db := pgPool(t, url)
	px := backendtest.NewProxy(t, backendtest.HostPort(t, backendtest.PGURL()))
	ctx := context.Background()
	m := newTestModule(t, map[string]any{"db_mode": 1, "db_url": px.Via(t, url)})
	d := m.domain(t, "location")
	if _, err := d.Update(ctx, "carol", add(contact("sip:carol@1", 600, 0))); err != nil {
		t.Fatal(err)
	}
	px.SetDown(true)
	for i := 0; i < 5; i++ {
		start := time.Now()
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		_, err := d.Update(cctx, "carol", add(contact("sip:carol@2", 600, 0)))
		cancel()
		if !errors.Is(err, ErrBackend) {
			t.Fatalf("update during the outage: %v", err)
		}
		if el := time.Since(start); el > 1500*time.Millisecond {
			t.Errorf("update took %v", el)
		}
	}
	if n := m.logCount("database unreachable"); n != 1 {
		t.Errorf("%d log lines for the outage, want 1", n)
	}
	if cs, _ := d.Get(ctx, "carol"); addrs(cs) != "sip:carol@1" {
		t.Errorf("cache during the outage: %s", addrs(cs))
	}
	px.SetDown(false)
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := d.Update(ctx, "carol", add(contact("sip:carol@2", 600, 0)))
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("database back, update still fails: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if m.logCount("database reachable again") != 1 {
		t.Error("no log line for the end of the outage")
	}
	if n := rowCount(t, db); n != 2 {
		t.Errorf("%d rows after the outage, want 2", n)
	}
}

// TestPGOnlySharedByTwoNodes is db_mode 3: no cache, both nodes see each
// other's changes, and expired rows come back from the timer once.
func TestPGOnlySharedByTwoNodes(t *testing.T) {
	url := pgSchema(t)
	ctx := context.Background()
	a := newTestModule(t, map[string]any{"db_mode": 3, "db_url": url, "timer_interval": 3600})
	b := newTestModule(t, map[string]any{"db_mode": 3, "db_url": url, "timer_interval": 3600})
	da, db := a.domain(t, "location"), b.domain(t, "location")
	da.Update(ctx, "dan", add(contact("sip:dan@1", 600, 100)))
	if _, err := db.Update(ctx, "dan", add(contact("sip:dan@2", 2, 900))); err != nil {
		t.Fatal(err)
	}
	cs, err := da.Get(ctx, "dan")
	if err != nil || addrs(cs) != "sip:dan@2,sip:dan@1" {
		t.Fatalf("A sees %s (%v)", addrs(cs), err)
	}
	time.Sleep(2100 * time.Millisecond)
	a.Tick()
	b.Tick()
	if n := len(a.expiredRuids()) + len(b.expiredRuids()); n != 1 {
		t.Errorf("expired contact reported %d times, want once", n)
	}
	if cs, _ := db.Get(ctx, "dan"); addrs(cs) != "sip:dan@1" {
		t.Errorf("after expiry: %s", addrs(cs))
	}
}

// TestPGLoadsKamailioRows reads rows as Kamailio writes them.
func TestPGLoadsKamailioRows(t *testing.T) {
	url := pgSchema(t)
	db := pgPool(t, url)
	ctx := context.Background()
	exp := time.Now().Add(time.Hour).In(time.Local)
	_, err := db.Exec(ctx, `INSERT INTO location (ruid, username, domain, contact, received, expires, q, callid, cseq,
		last_modified, flags, cflags, user_agent, socket, methods) VALUES
		('uloc-1', 'eve', 'example.com', 'sip:eve@192.0.2.9', NULL, $1, -0.001, 'abc', 7, $2, 0, 64, 'n/a',
		'udp:127.0.0.1:5060', NULL),
		('uloc-2', 'eve', 'example.com', 'sip:eve@192.0.2.8', NULL, $3, 1, 'old', 1, $2, 0, 0, 'n/a', NULL, 13)`,
		time.Date(exp.Year(), exp.Month(), exp.Day(), exp.Hour(), exp.Minute(), exp.Second(), 0, time.UTC),
		time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	m := newTestModule(t, map[string]any{"db_mode": 1, "db_url": url, "use_domain": 1})
	cs, _ := m.domain(t, "location").Get(ctx, "eve@example.com")
	if len(cs) != 1 {
		t.Fatalf("loaded %d contacts, want the unexpired one", len(cs))
	}
	c := cs[0]
	if c.Q != QUnspecified || c.Methods != MethodsAll || c.CFlags != 64 || c.CSeq != 7 || c.Expires != exp.Unix() {
		t.Errorf("loaded %+v", c)
	}
	// The expired row was dropped from the table at load.
	if n := rowCount(t, db); n != 1 {
		t.Errorf("%d rows, want 1", n)
	}
}
