package htable_test

import (
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/luasbc/luasbc/kemi"
	"github.com/luasbc/luasbc/modules/htable"
)

const rpcSteps = `
function fill()
	KSR.htable.sht_seti("ipban", "192.0.2.1", 1)
	KSR.htable.sht_seti("ipban", "192.0.2.2", 1)
	KSR.htable.sht_sets("plain", "name", "value")
	KSR.htable.sht_seti("plain", "15", 15)
	return 1
end
function check()
	return KSR.htable.sht_get("plain", "x"), KSR.htable.sht_get("plain", "n"), KSR.pv.get("$shtex(ipban=>192.0.2.9)"),
		KSR.htable.sht_match_name("ipban", "eq", "192.0.2.1")
end
`

func TestRPC(t *testing.T) {
	n := startNode(t, rpcSteps, map[string]any{"htable": []any{"ipban=>size=8;autoexpire=300;", "plain=>size=2"}})
	n.run(t, "fill")

	// htable.dump: Kamailio's shape plus the time left (ttl), which
	// "sbcctl ban list" shows.
	res, err := n.rpc(t, "htable.dump", "ipban")
	if err != nil {
		t.Fatal(err)
	}
	entries := res.([]any)
	var names []string
	for _, e := range entries {
		em := e.(map[string]any)
		slot := em["slot"].([]any)
		if int(em["size"].(float64)) != len(slot) {
			t.Errorf("size %v for %d items", em["size"], len(slot))
		}
		for _, it := range slot {
			im := it.(map[string]any)
			names = append(names, im["name"].(string))
			if im["type"] != "int" || im["value"].(float64) != 1 {
				t.Errorf("item %v", im)
			}
			if ttl := im["ttl"].(float64); ttl < 299 || ttl > 300 {
				t.Errorf("ttl %v, want about 300", ttl)
			}
			if !regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$`).MatchString(im["expire"].(string)) {
				t.Errorf("expire %q", im["expire"])
			}
		}
	}
	if strings.Join(sorted(names), ",") != "192.0.2.1,192.0.2.2" {
		t.Errorf("dump names %v", names)
	}
	res, _ = n.rpc(t, "htable.dump", "plain")
	for _, e := range res.([]any) {
		for _, it := range e.(map[string]any)["slot"].([]any) {
			im := it.(map[string]any)
			if im["ttl"].(float64) != -1 || im["expire"] != "NEVER" {
				t.Errorf("item without expire: %v", im)
			}
		}
	}

	// htable.get
	res, err = n.rpc(t, "htable.get", "plain", "name")
	if err != nil {
		t.Fatal(err)
	}
	item := res.(map[string]any)["item"].(map[string]any)
	if item["name"] != "name" || item["value"] != "value" || item["flags"].(float64) != 2 || item["expire"] != "NEVER" {
		t.Errorf("htable.get: %v", item)
	}
	res, _ = n.rpc(t, "htable.get", "plain", "15")
	if item := res.(map[string]any)["item"].(map[string]any); item["value"].(float64) != 15 || item["flags"].(float64) != 0 {
		t.Errorf("htable.get of an integer: %v", item)
	}
	if _, err := n.rpc(t, "htable.get", "plain", "missing"); err == nil || err.Message != "Key name doesn't exist in htable." {
		t.Errorf("missing key: %v", err)
	}
	if _, err := n.rpc(t, "htable.get", "nosuch", "x"); err == nil || err.Message != "No such htable" {
		t.Errorf("missing table: %v", err)
	}

	// setters and delete, seen by the script.
	for _, c := range [][]any{{"htable.sets", "plain", "x", "abc"}, {"htable.seti", "plain", "n", "12"},
		{"htable.delete", "ipban", "192.0.2.1"}, {"htable.setxi", "ipban", "192.0.2.9", 1, 60}} {
		if _, err := n.rpc(t, c[0].(string), c[1:]...); err != nil {
			t.Fatalf("%v: %v", c, err)
		}
	}
	n.expect(t, "check", "abc", "12", "60", "-1")
	if _, err := n.rpc(t, "htable.seti", "plain", "n", "notanumber"); err == nil {
		t.Error("htable.seti took a non-integer")
	}
	if _, err := n.rpc(t, "htable.setex", "ipban", "192.0.2.9", 5); err != nil {
		t.Fatal(err)
	}
	res, _ = n.rpc(t, "htable.get", "ipban", "192.0.2.9")
	if ttl := res.(map[string]any)["item"].(map[string]any)["ttl"].(float64); ttl != 5 {
		t.Errorf("ttl after setex: %v", ttl)
	}

	// listTables and stats.
	res, _ = n.rpc(t, "htable.listTables")
	first := res.([]any)[0].(map[string]any)
	want := map[string]any{"name": "ipban", "dbtable": "", "dbmode": 0.0, "expire": 300.0, "updateexpire": 1.0, "size": 256.0,
		"dmqreplicate": 0.0, "redis": 0.0, "max_items": 1000000.0}
	if !reflect.DeepEqual(first, want) {
		t.Errorf("listTables: %v", first)
	}
	res, _ = n.rpc(t, "htable.stats")
	st := res.([]any)[1].(map[string]any)
	if st["name"] != "plain" || st["slots"].(float64) != 4 || st["all"].(float64) != 4 || st["max"].(float64) < 1 {
		t.Errorf("stats: %v", st)
	}

	// flush; reload without a database.
	if _, err := n.rpc(t, "htable.flush", "ipban"); err != nil {
		t.Fatal(err)
	}
	if res, _ := n.rpc(t, "htable.dump", "ipban"); len(res.([]any)) != 0 {
		t.Errorf("dump after flush: %v", res)
	}
	if _, err := n.rpc(t, "htable.reload", "ipban"); err == nil || err.Message != "No htable db_url" {
		t.Errorf("reload without db: %v", err)
	}
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// newModule instantiates the module as the config loader does.
func newModule(params map[string]any) error {
	def := kemi.LookupModule("htable")
	p, _, err := kemi.ValidateParams(def, params)
	if err != nil {
		return err
	}
	_, err = def.New(&kemi.Env{Params: p})
	return err
}

func TestConfigErrors(t *testing.T) {
	cases := []struct {
		params map[string]any
		want   string
	}{
		{map[string]any{"htable": "ipban=>size=8;autoexpir=300"}, `htable "ipban": attribute "autoexpir": unknown (did you mean "autoexpire"?)`},
		{map[string]any{"htable": []any{"a=>size=4", "a=>size=5"}}, `"a": defined twice`},
		{map[string]any{"htable": "a=>dbtable=h"}, `htable "a": dbtable=h needs db_url`},
		{map[string]any{"htable": "a=>redis=1"}, `htable "a": redis=1 needs redis_url`},
		{map[string]any{"htable": "a=>redis=1", "redis_url": "http://x"}, `redis_url`},
		{map[string]any{"htable": "a=>size=4", "timer_interval": 0}, "timer_interval"},
		{map[string]any{"htable": "a=>size=4", "key_name_column": "bad name"}, "key_name_column"},
		{map[string]any{"htable": "a=>size=4", "max_items": 0}, "max_items"},
		{map[string]any{"htable": "a=>size=4", "redis_tables": "a"}, `unknown parameter "redis_tables"`},
	}
	for _, c := range cases {
		err := newModule(c.params)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: got %v, want %q", c.params, err, c.want)
		}
	}
	if err := newModule(map[string]any{"htable": "a=>size=4", "enable_dmq": 1, "fetch_rows": 10}); err != nil {
		t.Errorf("Kamailio's ignored parameters: %v", err)
	}
	_ = htable.SchemaSQL
}
