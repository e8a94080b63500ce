package htable_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/luasbc/luasbc/core/backend/backendtest"
	"github.com/luasbc/luasbc/kemi"
	"github.com/luasbc/luasbc/modules/htable"
)

const dbSteps = `
local H = KSR.htable
function loaded()
	local a0, a1 = H.sht_get("h", "arr[0]"), H.sht_get("h", "arr[1]")
	local arr = a0 .. "," .. a1
	if a0 > a1 then arr = a1 .. "," .. a0 end
	return H.sht_get("h", "alice"), H.sht_get("h", "cnt"), type(H.sht_get("h", "cnt")), H.sht_get("h", "arr::size"), arr,
		H.sht_get("h", "old"), H.sht_get("h", "fut"), KSR.pv.get("$shtex(h=>fut)")
end
function after_reload()
	return H.sht_get("h", "alice"), H.sht_get("h", "bob")
end
function write()
	return H.sht_sets("h", "newkey", "nv"), H.sht_seti("h", "n", 7)
end
function cols()
	return H.sht_get("c", "k1"), H.sht_get("c", "k2")
end
`

func TestDatabaseLoadReloadAndWriteBack(t *testing.T) {
	url, pool := backendtest.Schema(t)
	ctx := context.Background()
	now := time.Now().Unix()
	for _, q := range []string{htable.SchemaSQL,
		`INSERT INTO htable (key_name, key_type, value_type, key_value, expires) VALUES
			('alice', 0, 0, 'a-value', 0), ('cnt', 0, 1, '42', 0), ('arr', 1, 0, 'x', 0), ('arr', 1, 0, 'y', 0),
			('old', 0, 0, 'gone', ` + strconv.FormatInt(now-10, 10) + `), ('fut', 0, 0, 'stay', ` + strconv.FormatInt(now+100, 10) + `)`,
		`CREATE TABLE custom (k VARCHAR(64), v1 VARCHAR(64), v2 INTEGER)`,
		`INSERT INTO custom VALUES ('k1', 'a', 1), ('k2', NULL, NULL)`,
	} {
		if _, err := pool.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	n := startNode(t, dbSteps, map[string]any{"db_url": url, "db_expires": 1, "htable": []any{
		"h=>size=4;autoexpire=600;dbtable=htable;dbmode=1",
		"c=>size=2;dbtable=custom;cols='k,v1,v2';coldelim=|;colnull=-"}})

	got := n.run(t, "loaded")
	want := []string{"a-value", "42", "number", "2", "x,y", "nil", "stay"}
	if strings.Join(got[:7], "|") != strings.Join(want, "|") {
		t.Errorf("loaded: %q, want %q", got[:7], want)
	}
	if ex, _ := strconv.Atoi(got[7]); ex < 98 || ex > 100 {
		t.Errorf("expire of fut from the expires column: %s", got[7])
	}
	n.expect(t, "cols", "a|1", "-|-")

	// htable.reload takes the new rows.
	if _, err := pool.Exec(ctx, `DELETE FROM htable WHERE key_name = 'alice'; INSERT INTO htable (key_name, value_type, key_value) VALUES ('bob', 0, 'b')`); err != nil {
		t.Fatal(err)
	}
	if _, err := n.rpc(t, "htable.reload", "h"); err != nil {
		t.Fatal(err)
	}
	n.expect(t, "after_reload", "nil", "b")

	// A reload that fails keeps the items and says why.
	if _, err := pool.Exec(ctx, `ALTER TABLE htable RENAME TO htable_x`); err != nil {
		t.Fatal(err)
	}
	_, rerr := n.rpc(t, "htable.reload", "h")
	if rerr == nil || !strings.Contains(rerr.Message, "htable.reload failed") || !strings.Contains(rerr.Message, "htable") {
		t.Errorf("failed reload: %v", rerr)
	}
	n.expect(t, "after_reload", "nil", "b")
	if _, err := pool.Exec(ctx, `ALTER TABLE htable_x RENAME TO htable`); err != nil {
		t.Fatal(err)
	}

	// dbmode=1: the items are written back when the server stops.
	n.expect(t, "write", "1", "1")
	n.h.Engine.Stop()
	rows, err := pool.Query(ctx, `SELECT key_name, key_type, value_type, key_value, expires FROM htable ORDER BY key_name`)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for rows.Next() {
		var name, value string
		var kt, vt, exp int
		if err := rows.Scan(&name, &kt, &vt, &value, &exp); err != nil {
			t.Fatal(err)
		}
		if int64(exp) < now+90 || int64(exp) > now+700 {
			t.Errorf("%s: expires %d not stored", name, exp)
		}
		lines = append(lines, name+":"+strconv.Itoa(kt)+":"+strconv.Itoa(vt)+":"+value)
	}
	wantRows := "arr::size:0:1:2,arr[0]:0:0:x,arr[1]:0:0:y,bob:0:0:b,cnt:0:1:42,fut:0:0:stay,n:0:1:7,newkey:0:0:nv"
	if strings.Join(lines, ",") != wantRows {
		t.Errorf("written back:\n %s\nwant\n %s", strings.Join(lines, ","), wantRows)
	}
}

func TestDatabaseLoadFailureStopsStart(t *testing.T) {
	url, _ := backendtest.Schema(t)
	def := kemi.LookupModule("htable")
	p, _, err := kemi.ValidateParams(def, map[string]any{"db_url": url, "htable": "miss=>size=2;dbtable=no_such_table"})
	if err != nil {
		t.Fatal(err)
	}
	inst, err := def.New(&kemi.Env{Params: p})
	if err != nil {
		t.Fatal(err)
	}
	err = inst.(kemi.Starter).Start()
	inst.(kemi.Stopper).Stop()
	if err == nil || !strings.Contains(err.Error(), `htable "miss"`) || !strings.Contains(err.Error(), "no_such_table") {
		t.Fatalf("start with a missing dbtable: %v", err)
	}
}

const reloadSteps = `
function get_r()
	return KSR.htable.sht_get("r", "k")
end
function ksr_htable_event(ev)
	KSR.info("HTEVENT " .. ev)
end
`

func TestPeriodicReload(t *testing.T) {
	url, pool := backendtest.Schema(t)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, htable.SchemaSQL+`INSERT INTO htable (key_name, value_type, key_value) VALUES ('k', 0, 'v1');`); err != nil {
		t.Fatal(err)
	}
	n := startNode(t, reloadSteps, map[string]any{"db_url": url, "timer_interval": 1, "event_callback": "ksr_htable_event",
		"htable": []any{"r=>size=2;dbtable=htable;reloadat=1"}})
	n.expect(t, "get_r", "v1")
	if !n.h.LogContains("HTEVENT htable:mod-init") {
		t.Error("no htable:mod-init event")
	}
	if _, err := pool.Exec(ctx, `UPDATE htable SET key_value = 'v2'`); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, func() string {
		if got := n.run(t, "get_r"); got[0] != "v2" {
			return "not reloaded: " + got[0]
		}
		if !n.h.LogContains("HTEVENT htable:reloaded:r") {
			return "no htable:reloaded:r event"
		}
		return ""
	})
}
