package htable

import (
	"go.uber.org/zap"

	"github.com/luasbc/luasbc/kemi"
)

// Return codes of Kamailio's KEMI htable functions.
const (
	rcIncFailed = -255 // sht_inc/sht_dec: no table, no item without initval, or a string
)

var (
	strStr    = []kemi.ParamType{kemi.Str, kemi.Str}
	strStrStr = []kemi.ParamType{kemi.Str, kemi.Str, kemi.Str}
)

// table finds a table for a script call, logging when it does not exist.
func (m *Module) table(c *kemi.Ctx, name string) *Table {
	t := m.tables[name]
	if t == nil {
		c.Logger().Error("htable: no such hash table", zap.String("htable", name))
	}
	return t
}

// lockOwner identifies the caller for sht_lock: its Lua state, the
// equivalent of Kamailio's process.
func lockOwner(c *kemi.Ctx) any {
	if c.State != nil {
		return c.State
	}
	return c.M
}

func rc(ok bool) int {
	if ok {
		return 1
	}
	return -1
}

// Exports implements kemi.Instance: KSR.htable.* as in Appendix A.
func (m *Module) Exports() []kemi.Export {
	get := func(name, doc string, missing kemi.Value) kemi.Export {
		return kemi.Fn(name, strStr, kemi.RetXval, doc, func(c *kemi.Ctx, a *kemi.Args) kemi.Value {
			t := m.table(c, a.S[0])
			if t == nil {
				return missing
			}
			v, ok := t.Get(c.Context(), a.S[1])
			switch {
			case ok:
				return v.Kemi()
			case t.Def.HasInitVal:
				return kemi.Value{K: kemi.KInt, I: t.Def.InitVal}
			}
			return missing
		})
	}
	set := func(c *kemi.Ctx, tname, key string, v Value, exp int64) int {
		t := m.table(c, tname)
		if t == nil {
			return -1
		}
		if err := t.Set(c.Context(), key, v, exp); err != nil {
			c.Logger().Error("htable: cannot set item", zap.String("htable", tname), zap.Error(err))
			return -1
		}
		return 1
	}
	rmRE := func(name, doc string, byValue bool) kemi.Export {
		return kemi.FnStrStrInt(name, doc, func(c *kemi.Ctx, tname, re string) int {
			return m.removeMatching(c, tname, "re", re, byValue)
		})
	}
	rmOp := func(name, doc string, byValue bool) kemi.Export {
		return kemi.FnStrStrStrInt(name, doc, func(c *kemi.Ctx, tname, op, val string) int {
			return m.removeMatching(c, tname, op, val, byValue)
		})
	}
	match := func(name, doc string, byValue bool) kemi.Export {
		return kemi.FnStrStrStrInt(name, doc, func(c *kemi.Ctx, tname, op, val string) int {
			t := m.table(c, tname)
			if t == nil || val == "" {
				return -1
			}
			if op == "eq" && !byValue { // the ipban lookup: one read, not a scan
				_, ok := t.Get(c.Context(), val)
				return rc(ok)
			}
			p, err := matchPredicate(op, val)
			if err != nil {
				c.Logger().Error("htable: "+name, zap.Error(err))
				return -1
			}
			return rc(t.Has(c.Context(), byValue, p))
		})
	}
	add := func(name, doc string, delta int64) kemi.Export {
		return kemi.FnStrStrInt(name, doc, func(c *kemi.Ctx, tname, key string) int {
			t := m.table(c, tname)
			if t == nil {
				return rcIncFailed
			}
			n, ok := t.Add(c.Context(), key, delta)
			if !ok {
				return rcIncFailed
			}
			return int(n)
		})
	}
	lock := func(name, doc string, unlock bool) kemi.Export {
		return kemi.FnStrStrInt(name, doc, func(c *kemi.Ctx, tname, key string) int {
			t := m.table(c, tname)
			if t == nil {
				return -1
			}
			if unlock {
				if !t.Unlock(lockOwner(c), key) {
					c.Logger().Warn("htable: sht_unlock of a slot this script does not hold", zap.String("htable", tname))
				}
				return 1
			}
			if !t.Lock(c.Context(), lockOwner(c), key) {
				c.Logger().Error("htable: sht_lock timed out", zap.String("htable", tname))
				return -1
			}
			return 1
		})
	}
	xs := []kemi.Export{
		get("sht_get", "Item value (string or number); nil when missing (the table's initval if it has one).", kemi.Nil),
		get("sht_gete", "Item value; \"\" when missing (initval if the table has one).", kemi.StrV("")),
		get("sht_getw", "Item value; \"<null>\" when missing (initval if the table has one).", kemi.StrV("<null>")),
		kemi.FnStrStrStrInt("sht_sets", "Set an item to a string. 1 ok, -1 no such table or table full.",
			func(c *kemi.Ctx, t, k, v string) int { return set(c, t, k, Str(v), 0) }),
		kemi.Fn("sht_seti", []kemi.ParamType{kemi.Str, kemi.Str, kemi.Int}, kemi.RetInt,
			"Set an item to an integer. 1 ok, -1 no such table or table full.",
			func(c *kemi.Ctx, a *kemi.Args) kemi.Value { return kemi.IntV(set(c, a.S[0], a.S[1], Int(a.I[2]), 0)) }),
		kemi.Fn("sht_setxs", []kemi.ParamType{kemi.Str, kemi.Str, kemi.Str, kemi.Int}, kemi.RetInt,
			"Set a string and the item's expire in seconds (tables with autoexpire). 1 ok, -1 error.",
			func(c *kemi.Ctx, a *kemi.Args) kemi.Value {
				return kemi.IntV(set(c, a.S[0], a.S[1], Str(a.S[2]), a.I[3]))
			}),
		kemi.Fn("sht_setxi", []kemi.ParamType{kemi.Str, kemi.Str, kemi.Int, kemi.Int}, kemi.RetInt,
			"Set an integer and the item's expire in seconds (tables with autoexpire). 1 ok, -1 error.",
			func(c *kemi.Ctx, a *kemi.Args) kemi.Value {
				return kemi.IntV(set(c, a.S[0], a.S[1], Int(a.I[2]), a.I[3]))
			}),
		kemi.Fn("sht_setex", []kemi.ParamType{kemi.Str, kemi.Str, kemi.Int}, kemi.RetInt,
			"Set an existing item's expire in seconds (0: never; no effect without autoexpire). 1 ok, -1 no such table.",
			func(c *kemi.Ctx, a *kemi.Args) kemi.Value {
				t := m.table(c, a.S[0])
				if t == nil {
					return kemi.IntV(-1)
				}
				t.SetExpire(c.Context(), a.S[1], a.I[2])
				return kemi.IntV(1)
			}),
		kemi.FnStrStrInt("sht_rm", "Delete an item. 1 (also when missing), -1 no such table.",
			func(c *kemi.Ctx, tname, key string) int {
				t := m.table(c, tname)
				if t == nil {
					return -1
				}
				t.Delete(c.Context(), key)
				return 1
			}),
		rmRE("sht_rm_name_re", "Delete the items whose name matches the regex. 1 ok, -1 error.", false),
		rmRE("sht_rm_value_re", "Delete the items whose string value matches the regex. 1 ok, -1 error.", true),
		rmOp("sht_rm_name", "Delete the items whose name matches (op re, sw, ew, in). 1 ok, -1 error.", false),
		rmOp("sht_rm_value", "Delete the items whose string value matches (op re, sw, ew, in). 1 ok, -1 error.", true),
		match("sht_match_name", "1 if an item name matches (op eq, ne, re, sw), -1 otherwise.", false),
		match("sht_match_str_value", "1 if a string value matches (op eq, ne, re, sw), -1 otherwise.", true),
		kemi.FnStrStrStrInt("sht_cn", "Count the items whose name matches (op eq, ne, re, sw, ew, in, or a $shtcn prefix ~~ %~ ~% == **); -1 on error.",
			func(c *kemi.Ctx, tname, op, val string) int {
				t := m.table(c, tname)
				if t == nil {
					return -1
				}
				p, err := cnPredicate(op, val)
				if err != nil {
					c.Logger().Error("htable: sht_cn", zap.Error(err))
					return -1
				}
				n := 0
				t.Walk(c.Context(), func(it Item) bool {
					if p(it.Name) {
						n++
					}
					return true
				})
				return n
			}),
		kemi.FnStrStrInt("sht_is_null", "1 missing, -2 present, -1 missing but the table has initval, 2 no such table, 3 bad parameters.",
			func(c *kemi.Ctx, tname, key string) int {
				if tname == "" || key == "" {
					return 3
				}
				t := m.tables[tname]
				if t == nil {
					return 2
				}
				if _, ok := t.Get(c.Context(), key); ok {
					return -2
				}
				if t.Def.HasInitVal {
					return -1
				}
				return 1
			}),
		add("sht_inc", "Add 1 to an integer item (created from initval when missing); the new value, or -255.", 1),
		add("sht_dec", "Subtract 1 from an integer item (created from initval when missing); the new value, or -255.", -1),
		kemi.FnStrInt("sht_reset", "Delete every item. 0 ok (as Kamailio's KEMI), -1 no such table.",
			func(c *kemi.Ctx, tname string) int {
				t := m.table(c, tname)
				if t == nil {
					return -1
				}
				t.Reset(c.Context())
				return 0
			}),
		lock("sht_lock", "Lock the slot of a key (re-entrant for this Lua state). 1 ok, -1 error.", false),
		lock("sht_unlock", "Unlock the slot of a key. 1 ok, -1 no such table.", true),
	}
	return append(xs, m.iteratorExports()...)
}

// removeMatching is sht_rm_name/value(_re).
func (m *Module) removeMatching(c *kemi.Ctx, tname, op, val string, byValue bool) int {
	t := m.table(c, tname)
	if t == nil || op == "" || val == "" {
		return -1
	}
	p, err := rmPredicate(op, val)
	if err != nil {
		c.Logger().Error("htable: cannot remove items", zap.String("htable", tname), zap.Error(err))
		return -1
	}
	t.RemoveIf(c.Context(), func(it Item) bool {
		if byValue {
			return it.Val.IsStr && p(it.Val.S)
		}
		return p(it.Name)
	})
	return 1
}
