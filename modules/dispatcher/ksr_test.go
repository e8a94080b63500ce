package dispatcher_test

import (
	"strings"
	"testing"
)

const list1 = `
1 sip:127.0.0.1:5071 0 0 duid=a
1 sip:127.0.0.1:5072 0 0 duid=b
2 sip:127.0.0.1:5073;transport=tcp 0 5 weight=50
3 sip:127.0.0.1:5074 1
4 sip:127.0.0.1 0 0 tag=four
`

func TestKSRSelection(t *testing.T) {
	dir := t.TempDir()
	file := writeFile(t, dir, "ds.list", list1)
	s := start(t, map[string]any{"list_file": file, "flags": 2, "setid_pvname": "$avp(set)", "attrs_pvname": "$avp(attrs)"},
		[]string{
			`KSR.dispatcher.ds_select_dst(1, 4)`,
			`KSR.pv.get("$du")`, // round robin starts at the last line of the set
			`KSR.pv.get("$ru")`, // untouched
			`KSR.dispatcher.ds_next_dst()`,
			`KSR.pv.get("$du")`,
			`KSR.dispatcher.ds_next_dst()`, // exhausted: the last one stays current
			`KSR.pv.get("$du")`,
			`KSR.dispatcher.ds_set_dst()`,
			`KSR.dispatcher.ds_select_dst(3, 4)`, // only an inactive destination
			`KSR.dispatcher.ds_select_dst(9, 4)`, // no such set
			`KSR.dispatcher.ds_list_exists(2)`,
			`KSR.dispatcher.ds_list_exists(9)`,
			`KSR.dispatcher.ds_is_active(3)`,
			`KSR.dispatcher.ds_is_active_uri(1, "sip:127.0.0.1:5071")`,
			`KSR.dispatcher.ds_is_active_uri(3, "sip:127.0.0.1:5074")`,
		},
		[]string{
			`KSR.dispatcher.ds_select_domain(2, 8)`,
			`KSR.pv.get("$ru")`,
			`KSR.pv.get("$du")`,
			`KSR.dispatcher.ds_select(1, 8)`,
			`KSR.pv.get("$du")`, // ds_select leaves $du alone
			`KSR.dispatcher.ds_set_dst()`,
			`KSR.pv.get("$du")`,
			// A second selection goes before the first one's list, as
			// Kamailio's XAVPs do.
			`KSR.dispatcher.ds_select_dst_limit(2, 8, 1)`,
			`KSR.dispatcher.ds_next_dst()`,
			`KSR.pv.get("$du")`,
		},
		[]string{
			`KSR.dispatcher.ds_is_from_list(4)`, // sip:127.0.0.1 without port: any port
			`KSR.dispatcher.ds_is_from_list(1)`,
			`KSR.dispatcher.ds_is_from_lists()`,
			`KSR.pv.get("$avp(set)")`,
			`KSR.pv.get("$avp(attrs)")`,
			`KSR.dispatcher.ds_is_from_list_mode(1, 1)`, // ignore port, not transport
			`KSR.dispatcher.ds_is_from_list_mode(1, 3)`, // ignore both
			`KSR.dispatcher.ds_is_from_list_mode(4, 0)`, // transport must match: the URI has none
			`KSR.dispatcher.ds_is_from_list_uri(2, 0, "sip:127.0.0.1:5073;transport=tcp")`,
			`KSR.dispatcher.ds_is_from_list_uri(2, 0, "sip:127.0.0.1:5073")`,
			`KSR.dispatcher.ds_is_from_list_uri(3, 4, "sip:127.0.0.1:5074")`, // active only
			`KSR.dispatcher.ds_is_from_list_uri(-1, 2, "sip:localhost:5072")`,
		},
		[]string{
			`KSR.dispatcher.ds_select_routes("9=4;2=8;1=8", "r")`,
			`KSR.pv.get("$ru")`,
			`KSR.dispatcher.ds_next_domain()`,
			`KSR.pv.get("$ru")`,
			`KSR.dispatcher.ds_next_domain()`,
			`KSR.pv.get("$ru")`,
			`KSR.dispatcher.ds_next_domain()`,
			`KSR.dispatcher.ds_select_routes("1=x", "d")`,
			`KSR.dispatcher.ds_select_routes("1=4", "q")`,
			`KSR.dispatcher.ds_select_dst()`, // too few arguments, as app_lua
		})
	s.want(s.eval(0, "INVITE", "sip:bob@example.com"),
		"1", "sip:127.0.0.1:5072", "sip:bob@example.com", "1", "sip:127.0.0.1:5071", "-1", "sip:127.0.0.1:5071", "1",
		"-1", "-1", "1", "-1", "-1", "1", "-1")
	s.want(s.eval(1, "INVITE", "sip:bob@example.com"),
		"1", "sip:bob@127.0.0.1:5073;transport=tcp", "nil", "1", "nil", "1", "sip:127.0.0.1:5072", "1", "1",
		"sip:127.0.0.1:5072")
	s.want(s.eval(2, "OPTIONS", "sip:x@example.com"),
		"1", "-1", "1", "4", "tag=four", "-1", "1", "-1", "1", "-1", "-1", "1")
	s.want(s.eval(3, "INVITE", "sip:carol@example.com"),
		"1", "sip:carol@127.0.0.1:5073;transport=tcp", "1", "sip:carol@127.0.0.1:5072", "1",
		"sip:carol@127.0.0.1:5071", "-1", "-1", "-1", "false")
}

func TestKSRForceDst(t *testing.T) {
	file := writeFile(t, t.TempDir(), "ds.list", "1 sip:127.0.0.1:5071\n")
	s := start(t, map[string]any{"list_file": file, "force_dst": 0},
		[]string{`KSR.setdsturi("sip:127.0.0.1:9")`, `KSR.dispatcher.ds_select_dst(1, 4)`, `KSR.dispatcher.ds_select_domain(1, 4)`})
	s.want(s.eval(0, "INVITE", "sip:bob@example.com"), "true", "-1", "1")
}

func TestKSRMarkAndEvents(t *testing.T) {
	file := writeFile(t, t.TempDir(), "ds.list", "1 sip:127.0.0.1:5071\n1 sip:127.0.0.1:5072\n")
	s := startScript(t, map[string]any{"list_file": file, "flags": 2, "event_callback": "ksr_ds_event", "ds_probing_threshold": 2},
		`function ksr_ds_event(ev)
  KSR.info("event " .. ev .. " " .. tostring(KSR.pv.get("$dsv(uri)")) .. " set " .. tostring(KSR.pv.get("$dsv(setid)")) .. " code " .. tostring(KSR.pv.get("$dsv(code)")) .. " ru " .. KSR.pv.get("$ru") .. "\n")
end`,
		[]string{
			`KSR.dispatcher.ds_select_dst(1, 8)`,
			`KSR.pv.get("$du")`,
			`KSR.dispatcher.ds_mark_dst_state("tp")`, // 1 of 2
			`KSR.dispatcher.ds_mark_dst_state("t")`,  // 2 of 2: inactive
			`KSR.dispatcher.ds_mark_dst_state("x")`,
			`KSR.dispatcher.ds_select_dst(1, 8)`,
			`KSR.pv.get("$du")`,
			`KSR.dispatcher.ds_mark_addr("a", 1, "sip:127.0.0.1:5072")`,
			`KSR.dispatcher.ds_mark_addr("a", 1, "sip:127.0.0.1:9999")`,
			`KSR.dispatcher.ds_mark_dst()`, // current: 5071 -> inactive
		})
	s.want(s.eval(0, "INVITE", "sip:bob@example.com"),
		"1", "sip:127.0.0.1:5072", "1", "1", "-1", "1", "sip:127.0.0.1:5071", "1", "-1", "1")
	if !s.h.LogContains("event dispatcher:dst-down sip:127.0.0.1:5072 set 1 code 820 ru sip:bob@example.com") {
		t.Error("no dst-down event for 5072")
	}
	if !s.h.LogContains("event dispatcher:dst-up sip:127.0.0.1:5072") {
		t.Error("no dst-up event for 5072")
	}
	f := flagsOf(t, s.h)
	if f["1 sip:127.0.0.1:5071"] != "IX" || f["1 sip:127.0.0.1:5072"] != "AX" {
		t.Errorf("flags %v", f)
	}
	// Without flags bit 2 there is no failover list: ds_next_dst and
	// ds_mark_dst fail, as in Kamailio.
	s2 := start(t, map[string]any{"list_file": file},
		[]string{`KSR.dispatcher.ds_select_dst(1, 4)`, `KSR.dispatcher.ds_next_dst()`, `KSR.dispatcher.ds_mark_dst()`, `KSR.dispatcher.ds_set_dst()`})
	s2.want(s2.eval(0, "INVITE", "sip:bob@example.com"), "1", "-1", "-1", "1")
}

func TestKSRHashAndLoad(t *testing.T) {
	file := writeFile(t, t.TempDir(), "ds.list", "1 sip:127.0.0.1:5071 0 0 duid=a;maxload=1\n1 sip:127.0.0.1:5072 0 0 duid=b;maxload=1\n")
	s := start(t, map[string]any{"list_file": file, "flags": 2, "ds_hash_size": 4, "hash_pvar": "$fU-$rU"},
		[]string{`KSR.dispatcher.ds_select_dst(1, 10)`, `KSR.pv.get("$du")`},
		[]string{`KSR.dispatcher.ds_load_update()`},
		[]string{`KSR.dispatcher.ds_select_dst(1, 7)`, `KSR.pv.get("$du")`, `KSR.dispatcher.ds_select_dst(1, 7)`, `KSR.pv.get("$du")`},
		[]string{`KSR.dispatcher.ds_select_dst(1, 10)`, `KSR.dispatcher.ds_load_unset()`, `KSR.dispatcher.ds_load_unset()`},
	)
	inv := func(cid string) []string { return s.evalCID(0, "INVITE", cid) }
	a, b := inv("call-a"), inv("call-b")
	if a[0] != "1" || b[0] != "1" || a[1] == b[1] {
		t.Errorf("two calls, maxload 1 each: %v %v", a, b)
	}
	// Both full: the script gets -1 (and could answer 503).
	s.want(inv("call-c")[:1], "-1")
	// A BYE releases the load: the next call gets a destination.
	s.want(s.evalCID(1, "BYE", "call-a"), "0")
	s.want(inv("call-d")[:1], "1")
	res, _ := s.rpc("dispatcher.list")
	if j := asJSON(res); strings.Count(j, `"DLGLOAD":1`) != 2 {
		t.Errorf("loads: %s", j)
	}
	// Hashing hash_pvar: the same text, the same destination.
	r := s.eval(2, "INVITE", "sip:bob@example.com")
	if r[0] != "1" || r[1] != r[3] {
		t.Errorf("hash_pvar: %v", r)
	}
	// ds_load_unset releases the call's load once (0), then -1.
	s.evalCID(1, "BYE", "call-b")
	s.want(s.evalCID(3, "INVITE", "call-e"), "1", "0", "-1")
}

func TestKSRReloadFunction(t *testing.T) {
	dir := t.TempDir()
	file := writeFile(t, dir, "ds.list", "1 sip:127.0.0.1:5071\n")
	s := start(t, map[string]any{"list_file": file, "reload_delta": 0},
		[]string{`KSR.dispatcher.ds_reload()`, `KSR.dispatcher.ds_list_exists(2)`})
	writeFile(t, dir, "ds.list", "1 sip:127.0.0.1:5071\n2 sip:127.0.0.1:5072\n")
	s.want(s.eval(0, "OPTIONS", "sip:x@example.com"), "1", "1")
}
