package htable

import (
	"context"
	"sort"
	"time"

	"github.com/luasbc/luasbc/core/rpc"
)

// avpValStr is Kamailio's AVP_VAL_STR flag, which htable.get reports.
const avpValStr = 2

// rpcTimeout bounds an RPC call that has no deadline of its own.
const rpcTimeout = 30 * time.Second

func (m *Module) rpcTable(p rpc.Params) (*Table, error) {
	name, ok := p.Str(0)
	if !ok || name == "" {
		return nil, rpc.Errorf(500, "No htable name given")
	}
	t := m.tables[name]
	if t == nil {
		return nil, rpc.Errorf(500, "No such htable")
	}
	return t, nil
}

// expireText renders an absolute expire as htable.get does.
func expireText(exp int64) string {
	if exp == 0 {
		return "NEVER"
	}
	return time.Unix(0, exp).Local().Format("2006-01-02 15:04:05")
}

// itemJSON is one item of htable.dump: Kamailio's name/value/type, plus
// the expiry that sbcctl ban list shows: "expire" as htable.get writes it
// and "ttl", whole seconds left (-1: never expires).
func itemJSON(it Item, now int64) map[string]any {
	out := map[string]any{"name": it.Name, "type": it.Val.TypeName(), "expire": expireText(it.Expire), "ttl": it.TTL(now)}
	if it.Val.IsStr {
		out["value"] = it.Val.S
	} else {
		out["value"] = it.Val.I
	}
	return out
}

// RPC implements kemi.RPCProvider with Kamailio's htable.* commands.
func (m *Module) RPC() []rpc.Method {
	withCtx := func(f func(ctx context.Context, p rpc.Params) (any, error)) func(ctx context.Context, p rpc.Params) (any, error) {
		return func(ctx context.Context, p rpc.Params) (any, error) {
			if _, ok := ctx.Deadline(); !ok {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, rpcTimeout)
				defer cancel()
			}
			return f(ctx, p)
		}
	}
	setter := func(name, params, doc string, value func(p rpc.Params) (Value, bool), withExp bool) rpc.Method {
		return rpc.Method{Name: name, Params: params, Doc: doc, Fn: withCtx(func(ctx context.Context, p rpc.Params) (any, error) {
			t, err := m.rpcTable(p)
			if err != nil {
				return nil, err
			}
			key, ok := p.Str(1)
			v, vok := value(p)
			if !ok || !vok {
				return nil, rpc.Errorf(500, "Not enough parameters (htable name, key name and value)")
			}
			exp := 0
			if withExp {
				if exp, ok = p.Int(3); !ok {
					return nil, rpc.Errorf(500, "Not enough parameters (htable name, key name, value and expire)")
				}
			}
			if err := t.Set(ctx, key, v, int64(exp)); err != nil {
				return nil, rpc.Errorf(500, "Failed to set the item: %v", err)
			}
			return nil, nil
		})}
	}
	strValue := func(p rpc.Params) (Value, bool) { s, ok := p.Str(2); return Str(s), ok }
	intValue := func(p rpc.Params) (Value, bool) { n, ok := p.Int(2); return Int(int64(n)), ok }
	dbCmd := func(name, doc string, f func(ctx context.Context, t *Table) error) rpc.Method {
		return rpc.Method{Name: name, Params: "htable", Doc: doc, Fn: withCtx(func(ctx context.Context, p rpc.Params) (any, error) {
			if m.dbURL == "" {
				return nil, rpc.Errorf(500, "No htable db_url")
			}
			t, err := m.rpcTable(p)
			if err != nil {
				return nil, err
			}
			if t.Def.DBTable == "" {
				return nil, rpc.Errorf(500, "htable %s has no dbtable", t.Def.Name)
			}
			if err := f(ctx, t); err != nil {
				return nil, rpc.Errorf(500, "%s failed: %v", name, err)
			}
			return nil, nil
		})}
	}
	return []rpc.Method{
		{Name: "htable.get", Params: "htable key", Doc: "One item: {item: {name, value, flags, expire, ttl}}.",
			Fn: withCtx(func(ctx context.Context, p rpc.Params) (any, error) {
				t, err := m.rpcTable(p)
				if err != nil {
					return nil, err
				}
				key, ok := p.Str(1)
				if !ok {
					return nil, rpc.Errorf(500, "Not enough parameters (htable name and key name)")
				}
				it, found := t.GetItem(ctx, key)
				if !found {
					return nil, rpc.Errorf(500, "Key name doesn't exist in htable.")
				}
				item := itemJSON(it, nowNano())
				delete(item, "type")
				item["flags"] = 0
				if it.Val.IsStr {
					item["flags"] = avpValStr
				}
				return map[string]any{"item": item}, nil
			})},
		{Name: "htable.delete", Params: "htable key", Doc: "Delete one item.",
			Fn: withCtx(func(ctx context.Context, p rpc.Params) (any, error) {
				t, err := m.rpcTable(p)
				if err != nil {
					return nil, err
				}
				key, ok := p.Str(1)
				if !ok {
					return nil, rpc.Errorf(500, "Not enough parameters (htable name & key name")
				}
				t.Delete(ctx, key)
				return nil, nil
			})},
		setter("htable.sets", "htable key value", "Set an item to a string.", strValue, false),
		setter("htable.seti", "htable key value", "Set an item to an integer.", intValue, false),
		setter("htable.setxs", "htable key value expire", "Set a string and the expire (seconds).", strValue, true),
		setter("htable.setxi", "htable key value expire", "Set an integer and the expire (seconds).", intValue, true),
		{Name: "htable.setex", Params: "htable key expire", Doc: "Set an item's expire (seconds; 0 never).",
			Fn: withCtx(func(ctx context.Context, p rpc.Params) (any, error) {
				t, err := m.rpcTable(p)
				if err != nil {
					return nil, err
				}
				key, ok := p.Str(1)
				exp, eok := p.Int(2)
				if !ok || !eok {
					return nil, rpc.Errorf(500, "Not enough parameters (htable name, key name and expire)")
				}
				t.SetExpire(ctx, key, int64(exp))
				return nil, nil
			})},
		{Name: "htable.dump", Params: "htable",
			Doc: "Every item, by slot: [{entry, size, slot: [{name, value, type, expire, ttl}]}]; ttl is seconds left, -1 never.",
			Fn: withCtx(func(ctx context.Context, p rpc.Params) (any, error) {
				t, err := m.rpcTable(p)
				if err != nil {
					return nil, err
				}
				return m.dump(ctx, t), nil
			})},
		{Name: "htable.flush", Params: "htable", Doc: "Delete every item.",
			Fn: withCtx(func(ctx context.Context, p rpc.Params) (any, error) {
				t, err := m.rpcTable(p)
				if err != nil {
					return nil, err
				}
				t.Reset(ctx)
				return nil, nil
			})},
		dbCmd("htable.reload", "Reload the table from its dbtable; on error the current items stay.", m.reload),
		dbCmd("htable.store", "Write the table to its dbtable.", m.store),
		{Name: "htable.listTables", Doc: "Every table: name, dbtable, dbmode, expire, updateexpire, size, dmqreplicate, redis, max_items.",
			Fn: func(context.Context, rpc.Params) (any, error) {
				if len(m.order) == 0 {
					return nil, rpc.Errorf(500, "No htables")
				}
				out := make([]map[string]any, 0, len(m.order))
				for _, t := range m.order {
					d := t.Def
					out = append(out, map[string]any{"name": d.Name, "dbtable": d.DBTable, "dbmode": d.DBMode,
						"expire": d.AutoExpire, "updateexpire": b2i(d.UpdateExpire), "size": d.Slots(),
						"dmqreplicate": b2i(d.DMQReplicate), "redis": b2i(d.Redis), "max_items": t.MaxItems()})
				}
				return out, nil
			}},
		{Name: "htable.stats", Doc: "Per table: name, slots, all (items), min and max items in a slot.",
			Fn: withCtx(func(ctx context.Context, _ rpc.Params) (any, error) {
				if len(m.order) == 0 {
					return nil, rpc.Errorf(500, "No htables")
				}
				out := make([]map[string]any, 0, len(m.order))
				for _, t := range m.order {
					sizes := t.SlotSizes(ctx)
					all, lo, hi := 0, sizes[0], 0
					for _, n := range sizes {
						all += n
						lo, hi = min(lo, n), max(hi, n)
					}
					out = append(out, map[string]any{"name": t.Def.Name, "slots": len(sizes), "all": all, "min": lo, "max": hi})
				}
				return out, nil
			})},
	}
}

// dump groups the live items by slot, as Kamailio's htable.dump.
func (m *Module) dump(ctx context.Context, t *Table) []map[string]any {
	now := nowNano()
	bySlot := map[int][]map[string]any{}
	t.Walk(ctx, func(it Item) bool {
		s := t.SlotOf(it.Name)
		bySlot[s] = append(bySlot[s], itemJSON(it, now))
		return true
	})
	slots := make([]int, 0, len(bySlot))
	for s := range bySlot {
		slots = append(slots, s)
	}
	sort.Ints(slots)
	out := make([]map[string]any, 0, len(slots))
	for _, s := range slots {
		items := bySlot[s]
		sort.Slice(items, func(i, j int) bool { return items[i]["name"].(string) < items[j]["name"].(string) })
		out = append(out, map[string]any{"entry": s, "size": len(items), "slot": items})
	}
	return out
}
