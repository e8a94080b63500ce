package dispatcher_test

import (
	"context"
	"strings"
	"testing"

	"github.com/luasbc/luasbc/core/backend/backendtest"
	"github.com/luasbc/luasbc/kemi"
)

// The dispatcher table of a real PostgreSQL, with Kamailio's schema (the
// one `sbcctl db create` makes), in a private schema.
func TestPostgresSource(t *testing.T) {
	url, pool := backendtest.Schema(t)
	ctx := context.Background()
	for _, tb := range kemi.LookupModule("dispatcher").Tables {
		if _, err := pool.Exec(ctx, tb.SQL); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := pool.Exec(ctx, `ALTER TABLE dispatcher ADD COLUMN gwsock VARCHAR(64)`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO dispatcher (setid, destination, flags, priority, attrs, description, gwsock) VALUES
		(1, 'sip:127.0.0.1:5071', 0, 10, 'duid=a', 'first', 'x1'),
		(1, 'sip:127.0.0.1:5072', 8, 5, '', 'second', NULL),
		(1, 'http://broken', 0, 0, '', 'bad', NULL),
		(2, 'sip:127.0.0.1:5073', 0, 0, 'weight=abc', 'bad attrs', NULL)`); err != nil {
		t.Fatal(err)
	}
	s := start(t, map[string]any{"db_url": url, "reload_delta": 0, "ds_db_extra_attrs": "gw=gwsock", "attrs_pvname": "$avp(a)"},
		[]string{`KSR.dispatcher.ds_select_dst(1, 8)`, `KSR.pv.get("$du")`, `KSR.dispatcher.ds_list_exists(2)`,
			`KSR.dispatcher.ds_is_from_list_uri(1, 3, "sip:127.0.0.1:5071")`, `KSR.pv.get("$avp(a)")`})
	s.want(s.eval(0, "INVITE", "sip:bob@example.com"), "1", "sip:127.0.0.1:5071", "-1", "1", "duid=a;gw=x1")
	if !s.h.LogContains("table dispatcher, row 3 (http://broken): bad URI") || !s.h.LogContains("attribute weight") {
		t.Error("bad rows not reported")
	}
	if f := flagsOf(t, s.h); f["1 sip:127.0.0.1:5072"] != "AP" || len(f) != 2 {
		t.Errorf("flags: %v", f)
	}

	// A new row appears at reload; the bad ones are reported again.
	if _, err := pool.Exec(ctx, `INSERT INTO dispatcher (setid, destination) VALUES (3, 'sip:127.0.0.1:5074')`); err != nil {
		t.Fatal(err)
	}
	res, rerr := s.rpc("dispatcher.reload")
	if rerr != nil || !strings.Contains(asJSON(res), "http://broken") {
		t.Fatalf("reload: %v %v", res, rerr)
	}
	if f := flagsOf(t, s.h); f["3 sip:127.0.0.1:5074"] != "AX" {
		t.Errorf("after reload: %v", f)
	}
	// The table gone: the reload fails and the list stays.
	if _, err := pool.Exec(ctx, `DROP TABLE dispatcher`); err != nil {
		t.Fatal(err)
	}
	if _, rerr := s.rpc("dispatcher.reload"); rerr == nil || !strings.Contains(asJSON(rerr.Data), "dispatcher") {
		t.Errorf("reload without the table: %v", rerr)
	}
	if f := flagsOf(t, s.h); len(f) != 3 {
		t.Errorf("the list changed after a failed reload: %v", f)
	}
}

// The database unreachable at start-up is a start-up error naming it.
func TestPostgresDown(t *testing.T) {
	err := newErr(t, map[string]any{"db_url": "postgres://nobody@127.0.0.1:1/x?connect_timeout=1"})
	if err == nil || !strings.Contains(err.Error(), "dispatcher") {
		t.Errorf("start with the database down: %v", err)
	}
}
