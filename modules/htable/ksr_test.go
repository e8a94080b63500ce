package htable_test

import (
	"testing"
)

const funcSteps = `
local H = KSR.htable
function set_get()
	return H.sht_sets("t", "s", "abc"), H.sht_seti("t", "i", 42), H.sht_seti("t", "n", "-7"),
		H.sht_get("t", "s"), H.sht_get("t", "i"), type(H.sht_get("t", "i")), H.sht_get("t", "n"),
		H.sht_get("t", "none"), H.sht_gete("t", "none"), H.sht_getw("t", "none"),
		H.sht_get("iv", "none"), type(H.sht_get("iv", "none")), H.sht_gete("iv", "none")
end
function no_table()
	return H.sht_get("nosuch", "x"), H.sht_gete("nosuch", "x"), H.sht_getw("nosuch", "x"), H.sht_sets("nosuch", "x", "y"),
		H.sht_seti("nosuch", "x", 1), H.sht_rm("nosuch", "x"), H.sht_inc("nosuch", "x"), H.sht_match_name("nosuch", "eq", "x"),
		H.sht_reset("nosuch"), H.sht_is_null("nosuch", "x"), H.sht_lock("nosuch", "x"), H.sht_cn("nosuch", "eq", "x")
end
function is_null()
	H.sht_sets("t", "present", "x")
	return H.sht_is_null("t", "present"), H.sht_is_null("t", "absent"), H.sht_is_null("iv", "absent"),
		H.sht_is_null("nosuch", "x"), H.sht_is_null("t", "")
end
function rm()
	H.sht_sets("t", "gone", "x")
	return H.sht_rm("t", "gone"), H.sht_get("t", "gone"), H.sht_rm("t", "never-there")
end
function incdec()
	return H.sht_inc("t", "cnt"), H.sht_seti("t", "cnt", 5), H.sht_inc("t", "cnt"), H.sht_inc("t", "cnt"),
		H.sht_dec("t", "cnt"), H.sht_get("t", "cnt"), H.sht_inc("t", "s"),
		H.sht_inc("iv", "fresh"), H.sht_dec("iv", "fresh2"), H.sht_inc("iv", "fresh")
end
function matching()
	H.sht_reset("m")
	H.sht_sets("m", "alice", "sip:alice@a.example")
	H.sht_sets("m", "bob", "sip:bob@b.example")
	H.sht_seti("m", "carol", 3)
	return H.sht_match_name("m", "eq", "alice"), H.sht_match_name("m", "eq", "dave"),
		H.sht_match_name("m", "ne", "alice"), H.sht_match_name("m", "sw", "ca"), H.sht_match_name("m", "sw", "x"),
		H.sht_match_name("m", "re", "^B.b$"), H.sht_match_name("m", "re", "^z"), H.sht_match_name("m", "ew", "e"),
		H.sht_match_name("m", "re", "(("),
		H.sht_match_str_value("m", "eq", "sip:bob@b.example"), H.sht_match_str_value("m", "sw", "sip:alice"),
		H.sht_match_str_value("m", "eq", "3"), H.sht_match_str_value("m", "re", "b\\.example$")
end
function counting()
	H.sht_reset("m")
	H.sht_sets("m", "u::a", "x")
	H.sht_sets("m", "u::b", "y")
	H.sht_seti("m", "v::a", 7)
	return H.sht_cn("m", "sw", "u::"), H.sht_cn("m", "ew", "::a"), H.sht_cn("m", "re", "^[uv]"), H.sht_cn("m", "eq", "v::a"),
		H.sht_cn("m", "**", ""), H.sht_cn("m", "%~", "u"), H.sht_cn("m", "bad", "x"),
		KSR.pv.get("$shtcn(m=>%~u::)"), KSR.pv.get("$shtcn(m=>~%::a)"), KSR.pv.get("$shtcn(m=>~~^u)"),
		KSR.pv.get("$shtcn(m=>==u::b)"), KSR.pv.get("$shtcn(m=>**)"), KSR.pv.get("$shtcn(m=>^v)"),
		KSR.pv.get("$shtcv(m=>eq7)"), KSR.pv.get("$shtcv(m=>==x)"), KSR.pv.get("$shtcv(m=>~~^[xy]$)")
end
function removing()
	H.sht_reset("m")
	for _, k in ipairs({"a1", "a2", "b1", "b2", "c1", "xa"}) do H.sht_sets("m", k, "val-" .. k) end
	H.sht_seti("m", "n1", 1)
	local r1 = H.sht_rm_name_re("m", "^a")
	local c1 = H.sht_cn("m", "**", "")
	local r2 = H.sht_rm_value_re("m", "b1$")
	local r3 = H.sht_rm_name("m", "ew", "2")
	local r4 = H.sht_rm_value("m", "in", "-c")
	local bad = H.sht_rm_name("m", "eq", "n1")
	local badre = H.sht_rm_name_re("m", "[")
	local left = {}
	for _, k in ipairs({"a1", "a2", "b1", "b2", "c1", "xa", "n1"}) do
		if H.sht_is_null("m", k) < 0 then left[#left + 1] = k end
	end
	return r1, c1, r2, r3, r4, bad, badre, table.concat(left, ",")
end
function reset()
	H.sht_sets("m", "k", "v")
	return H.sht_reset("m"), H.sht_cn("m", "**", "")
end
function locks()
	return H.sht_lock("t", "k"), H.sht_lock("t", "k"), H.sht_seti("t", "k", 1), H.sht_unlock("t", "k"),
		H.sht_unlock("t", "k"), H.sht_unlock("t", "k")
end
function ipban()
	local ip = "192.0.2.77"
	local before = H.sht_match_name("ipban", "eq", ip)
	H.sht_seti("ipban", ip, 1)
	return before, H.sht_match_name("ipban", "eq", ip), H.sht_is_null("ipban", ip), KSR.pv.get("$shtex(ipban=>" .. ip .. ")")
end
function full()
	return H.sht_seti("small", "a", 1), H.sht_seti("small", "b", 2), H.sht_seti("small", "c", 3),
		H.sht_seti("small", "a", 10), H.sht_get("small", "a"), H.sht_get("small", "c"), H.sht_inc("small", "d")
end
`

func funcNode(t *testing.T) *node {
	return startNode(t, funcSteps, map[string]any{"htable": []any{
		"t=>size=4;", "iv=>size=2;initval=10;", "m=>size=3", "ipban=>size=8;autoexpire=300;", "small=>size=1;max_items=2;initval=0"}})
}

func TestGetSetAndMissingConventions(t *testing.T) {
	n := funcNode(t)
	n.expect(t, "set_get", "1", "1", "1", "abc", "42", "number", "-7", "nil", "", "<null>", "10", "number", "10")
	n.expect(t, "no_table", "nil", "", "<null>", "-1", "-1", "-1", "-255", "-1", "-1", "2", "-1", "-1")
}

func TestIsNullRmIncDec(t *testing.T) {
	n := funcNode(t)
	n.expect(t, "is_null", "-2", "1", "-1", "2", "3")
	n.expect(t, "rm", "1", "nil", "1")
	// inc on a missing item without initval fails (-255); a string cannot be
	// incremented; with initval a missing item starts from it.
	n.expect(t, "incdec", "-255", "1", "6", "7", "6", "6", "-255", "11", "9", "12")
}

func TestMatchCountRemove(t *testing.T) {
	n := funcNode(t)
	n.expect(t, "matching", "1", "-1", "1", "1", "-1", "1", "-1", "-1", "-1", "1", "1", "-1", "1")
	n.expect(t, "counting", "2", "2", "3", "1", "3", "2", "-1", "2", "2", "2", "1", "3", "1", "1", "1", "2")
	n.expect(t, "removing", "1", "5", "1", "1", "1", "-1", "-1", "xa,n1")
	n.expect(t, "reset", "0", "0")
}

func TestLocksAreReentrant(t *testing.T) {
	n := funcNode(t)
	n.expect(t, "locks", "1", "1", "1", "1", "1", "1")
	// The lock was fully released: the next message takes it at once.
	n.expect(t, "locks", "1", "1", "1", "1", "1", "1")
}

func TestIPBan(t *testing.T) {
	n := funcNode(t)
	n.expect(t, "ipban", "-1", "1", "-2", "300")
}

func TestMaxItemsBoundsATable(t *testing.T) {
	n := funcNode(t)
	n.expect(t, "full", "1", "1", "-1", "1", "10", "0", "-255")
	if !n.h.LogContains("htable full") {
		t.Error("a refused insert is not logged")
	}
}
