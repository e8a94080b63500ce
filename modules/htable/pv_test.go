package htable_test

import (
	"testing"
	"time"
)

const pvSteps = `
function pv_set_get()
	KSR.pv.sets("$sht(a=>s)", "text")
	KSR.pv.seti("$sht(a=>i)", 5)
	local ok = KSR.pv.sets("$sht(nosuch=>x)", "v")
	return KSR.pv.get("$sht(a=>s)"), KSR.pv.get("$sht(a=>i)"), type(KSR.pv.get("$sht(a=>i)")),
		KSR.htable.sht_get("a", "s"), KSR.pv.get("$sht(a=>missing)"), KSR.pv.getw("$sht(a=>missing)"), ok,
		KSR.pv.get("$sht(nosuch=>x)")
end
function pv_unset()
	KSR.pv.sets("$sht(a=>gone)", "x")
	local before = KSR.htable.sht_get("a", "gone")
	KSR.pv.unset("$sht(a=>gone)")
	return before, KSR.htable.sht_get("a", "gone")
end
function pv_key_with_pvs()
	KSR.pv.sets("$sht(a=>$rm::$fU)", "v1")
	return KSR.htable.sht_get("a", "OPTIONS::alice"), KSR.pv.get("$sht(a=>$rm::$fU)")
end
function pv_incdec()
	KSR.htable.sht_seti("a", "c", 1)
	return KSR.pv.get("$shtinc(a=>c)"), KSR.pv.get("$shtinc(a=>c)"), KSR.pv.get("$shtdec(a=>c)"),
		KSR.pv.get("$shtinc(a=>s)"), KSR.pv.get("$shtinc(a=>nothing)"), KSR.pv.get("$shtinc(z=>nothing)"),
		KSR.pv.get("$shtinc(z=>nothing)")
end
function pv_expire()
	KSR.htable.sht_seti("e", "k", 1)
	local t0 = KSR.pv.get("$shtex(e=>k)")
	KSR.pv.seti("$shtex(e=>k)", 100)
	local t1 = KSR.pv.get("$shtex(e=>k)")
	KSR.htable.sht_setex("e", "k", 0)
	local t2 = KSR.pv.get("$shtex(e=>k)")
	KSR.htable.sht_setxi("e", "x", 9, 30)
	KSR.htable.sht_setxs("a", "nx", "v", 30)
	return t0, t1, t2, KSR.pv.get("$shtex(e=>x)"), KSR.pv.get("$shtex(e=>missing)"), KSR.pv.get("$shtex(a=>nx)")
end
`

func TestPseudoVariables(t *testing.T) {
	n := startNode(t, pvSteps, map[string]any{"htable": []any{"a=>size=4", "z=>size=2;initval=100", "e=>size=2;autoexpire=600"}})
	n.expect(t, "pv_set_get", "text", "5", "number", "text", "nil", "<null>", "false", "nil")
	n.expect(t, "pv_unset", "x", "nil")
	n.expect(t, "pv_key_with_pvs", "v1", "v1")
	// $shtinc on a string or a missing item without initval is null; with
	// initval a missing item starts from it.
	n.expect(t, "pv_incdec", "2", "3", "2", "nil", "nil", "101", "102")
	// No per-item expire in a table without autoexpire, as in Kamailio.
	n.expect(t, "pv_expire", "600", "100", "0", "30", "0", "0")
}

const expireSteps = `
function put()
	KSR.htable.sht_seti("x", "k1", 1)
	KSR.htable.sht_sets("x", "k2", "two")
	KSR.htable.sht_seti("keep", "k", 1)
	KSR.htable.sht_seti("upd", "k", 1)
	KSR.htable.sht_seti("noupd", "k", 1)
	return KSR.htable.sht_get("x", "k1"), KSR.htable.sht_get("x", "k2")
end
function get()
	return KSR.htable.sht_get("x", "k1"), KSR.htable.sht_get("x", "k2"), KSR.htable.sht_match_name("x", "eq", "k1"),
		KSR.htable.sht_cn("x", "**", ""), KSR.htable.sht_get("keep", "k")
end
function touch()
	KSR.htable.sht_seti("upd", "k", 2)
	KSR.htable.sht_seti("noupd", "k", 2)
	return KSR.pv.get("$shtex(upd=>k)"), KSR.pv.get("$shtex(noupd=>k)")
end
function after()
	return KSR.htable.sht_get("upd", "k"), KSR.htable.sht_get("noupd", "k")
end
function ksr_htable_event(ev)
	if ev == "htable:mod-init" then
		KSR.htable.sht_sets("keep", "init", "done")
		return
	end
	KSR.info("EVENT " .. ev .. " key=" .. KSR.pv.get("$shtrecord(key)") .. " value=" .. tostring(KSR.pv.get("$shtrecord(value)")))
	if KSR.pv.get("$shtrecord(key)") == "k2" then
		-- set again from the callback: the item stays
		KSR.htable.sht_sets("x", "k2", "again")
	end
end
function init_done()
	return KSR.htable.sht_get("keep", "init")
end
`

func TestAutoExpiryAndEvents(t *testing.T) {
	n := startNode(t, expireSteps, map[string]any{"timer_interval": 1, "event_callback": "ksr_htable_event",
		"htable": []any{"x=>size=2;autoexpire=2", "keep=>size=2", "upd=>autoexpire=60", "noupd=>autoexpire=60"}})
	n.expect(t, "init_done", "done")
	n.expect(t, "put", "1", "two")
	n.expect(t, "get", "1", "two", "1", "2", "1")
	time.Sleep(2100 * time.Millisecond)
	// Expired items are gone for every lookup even before the timer ran.
	got := n.run(t, "get")
	if got[0] != "nil" || got[2] != "-1" || got[4] != "1" {
		t.Errorf("after autoexpire: %q", got)
	}
	eventually(t, 3*time.Second, func() string {
		if !n.h.LogContains("EVENT htable:expired:x key=k1 value=1") {
			return "no expired event for k1"
		}
		if !n.h.LogContains("EVENT htable:expired:x key=k2 value=two") {
			return "no expired event for k2"
		}
		return ""
	})
	// The callback set k2 again: it stays (with a fresh autoexpire).
	got = n.run(t, "get")
	if got[0] != "nil" || got[1] != "again" {
		t.Errorf("after the events: %q", got)
	}
}

func TestUpdateExpire(t *testing.T) {
	n := startNode(t, expireSteps, map[string]any{"htable": []any{"x=>size=2", "keep=>size=2",
		"upd=>autoexpire=4;updateexpire=1", "noupd=>autoexpire=4;updateexpire=0"}})
	n.run(t, "put")
	put := time.Now()
	time.Sleep(2 * time.Second)
	// updateexpire=1 restarts the 4 s; updateexpire=0 keeps the first expire.
	got := n.run(t, "touch")
	if got[0] != "4" || got[1] == "4" || got[1] == "0" {
		t.Errorf("expires after the update: %q, want 4 and less", got)
	}
	time.Sleep(time.Until(put.Add(4200 * time.Millisecond)))
	n.expect(t, "after", "2", "nil")
}

const iterSteps = `
local H = KSR.htable
function fill()
	H.sht_reset("it")
	for i = 1, 20 do H.sht_seti("it", "k" .. i, i) end
	H.sht_sets("it", "s", "str")
	return H.sht_cn("it", "**", "")
end
function walk()
	local n, sum, names = 0, 0, 0
	if H.sht_iterator_start("i1", "it") < 0 then return "start failed" end
	while H.sht_iterator_next("i1") > 0 do
		n = n + 1
		local v = KSR.pv.get("$shtitval(i1)")
		if type(v) == "number" then sum = sum + v end
		if KSR.pv.get("$shtitkey(i1)") ~= nil then names = names + 1 end
	end
	local after = KSR.pv.get("$shtitkey(i1)")
	return n, sum, names, tostring(after), H.sht_iterator_end("i1"), H.sht_iterator_end("i1")
end
function remove_odd()
	H.sht_iterator_start("i2", "it")
	local removed = 0
	local more = H.sht_iterator_next("i2") > 0
	while more do
		local v = KSR.pv.get("$shtitval(i2)")
		if type(v) == "number" and v % 2 == 1 then
			removed = removed + 1
			more = H.sht_iterator_rm("i2") == 1
		else
			if type(v) == "number" then H.sht_iterator_seti("i2", v * 10) end
			if v == "str" then H.sht_iterator_sets("i2", "changed"); H.sht_iterator_setex("i2", 5) end
			more = H.sht_iterator_next("i2") > 0
		end
	end
	H.sht_iterator_end("i2")
	return removed, H.sht_cn("it", "**", ""), H.sht_get("it", "k2"), H.sht_get("it", "k3"), H.sht_get("it", "s")
end
function too_many()
	local r = {}
	for i = 1, 5 do r[i] = H.sht_iterator_start("n" .. i, "it") end
	return r[1], r[4], r[5], H.sht_iterator_start("x", "nosuch"), H.sht_iterator_next("never"),
		H.sht_iterator_rm("n1"), H.sht_iterator_start(string.rep("a", 40), "it")
end
`

func TestIterators(t *testing.T) {
	n := startNode(t, iterSteps, map[string]any{"htable": []any{"it=>size=3"}})
	n.expect(t, "fill", "21")
	n.expect(t, "walk", "21", "210", "21", "nil", "1", "-1")
	n.expect(t, "remove_odd", "10", "11", "20", "nil", "changed")
	n.expect(t, "too_many", "1", "1", "-1", "-1", "-1", "-1", "-1")
}
