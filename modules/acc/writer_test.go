package acc

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"

	"github.com/luasbc/luasbc/core/backend/backendtest"
)

func accRec(table, callid string) record {
	s := func(v string) *string { return &v }
	return record{Table: table, Cols: []string{"method", "from_tag", "to_tag", "callid", "sip_code", "sip_reason", "time"},
		Vals: []*string{s("INVITE"), s("f"), s("t"), s(callid), s("200"), s("OK"), s(time.Now().Format("2006-01-02 15:04:05.000000"))}}
}

func countRows(t *testing.T, p *pgxpool.Pool, table string) int {
	t.Helper()
	var n int
	if err := p.QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func waitRows(t *testing.T, p *pgxpool.Pool, table string, want int, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		n := countRows(t, p, table)
		if n == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d rows, want %d", table, n, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestWriterSurvivesAnOutage: records written while PostgreSQL is cut off
// go to the spool and all arrive, exactly once, when it is back.
func TestWriterSurvivesAnOutage(t *testing.T) {
	url, sp := backendtest.Schema(t)
	ctx := context.Background()
	if _, err := sp.Exec(ctx, accSQL("acc")); err != nil {
		t.Fatal(err)
	}
	proxy := backendtest.NewProxy(t, backendtest.HostPort(t, url))
	cfg, err := pgxpool.ParseConfig(proxy.Via(t, url))
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.ConnectTimeout = time.Second
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	spl, err := openSpool(t.TempDir(), 64<<20)
	if err != nil {
		t.Fatal(err)
	}
	w := newWriter(pool, spl, 1000, zap.NewNop())
	go w.run()
	const per = 300
	put := func(from int) {
		for i := from; i < from+per; i++ {
			w.put(accRec("acc", fmt.Sprintf("c-%d", i)))
			if i%50 == 0 {
				time.Sleep(10 * time.Millisecond)
			}
		}
	}
	put(0)
	waitRows(t, sp, "acc", per, 5*time.Second)
	proxy.SetDown(true)
	start := time.Now()
	put(per)
	if el := time.Since(start); el > time.Second {
		t.Errorf("queueing during the outage took %v", el)
	}
	deadline := time.Now().Add(5 * time.Second)
	for spl.pending() < per && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if spl.pending() != per {
		t.Fatalf("spool holds %d records during the outage, want %d", spl.pending(), per)
	}
	proxy.SetDown(false)
	put(2 * per)
	waitRows(t, sp, "acc", 3*per, 40*time.Second)
	var distinct int
	_ = sp.QueryRow(ctx, "SELECT count(DISTINCT callid) FROM acc").Scan(&distinct)
	if distinct != 3*per {
		t.Fatalf("%d distinct records, want %d", distinct, 3*per)
	}
	close(w.stop)
	<-w.done
	if spl.pending() != 0 || w.st.spoolDropped.Value() != 0 {
		t.Errorf("after the run: spool %d, dropped %d", spl.pending(), w.st.spoolDropped.Value())
	}
}

// TestWriterDropsRowsTheDatabaseRefuses: a record for a missing column is
// logged and dropped, the others of its batch are written.
func TestWriterDropsRowsTheDatabaseRefuses(t *testing.T) {
	url, sp := backendtest.Schema(t)
	ctx := context.Background()
	if _, err := sp.Exec(ctx, accSQL("acc")); err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	spl, _ := openSpool(t.TempDir(), 1<<20)
	w := newWriter(pool, spl, 100, zap.NewNop())
	before := w.st.rejected.Value()
	bad := accRec("acc", "bad")
	x := "x"
	bad.Cols, bad.Vals = append(bad.Cols, "no_such_column"), append(bad.Vals, &x)
	if err := w.insert([]record{accRec("acc", "a"), bad, accRec("acc", "b")}); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, sp, "acc"); n != 2 {
		t.Fatalf("%d rows, want 2", n)
	}
	if w.st.rejected.Value()-before != 1 {
		t.Errorf("rejected counter +%d", w.st.rejected.Value()-before)
	}
}
