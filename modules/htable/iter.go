package htable

import (
	"context"

	"go.uber.org/zap"

	"github.com/luasbc/luasbc/kemi"
)

// Iterators (sht_iterator_*) walk a table slot by slot. Kamailio keeps a
// slot locked while the iterator stands on it, so updating the table
// between start and end can deadlock; here each slot is copied when the
// iterator enters it and nothing stays locked, so the script may update the
// table freely. An iterator belongs to the message being processed (at most
// maxIterators at once, names shorter than maxIterName as in Kamailio).

const (
	maxIterators = 4
	maxIterName  = 32
	extIterators = "htable.iterators"
)

type iterator struct {
	t    *Table
	slot int    // next slot to copy
	buf  []Item // items of the current slot (Redis: the whole table)
	pos  int    // index of the current item in buf; -1 before the first
	cur  *Item
}

// advance moves to the next item; false at the end.
func (it *iterator) advance(ctx context.Context) bool {
	it.pos++
	for it.pos >= len(it.buf) {
		if it.slot >= len(it.t.mem.slots) {
			it.cur, it.buf = nil, nil
			return false
		}
		if it.t.red != nil {
			// A Redis table has no local slots worth walking: take the
			// whole table (bounded by max_items) at once.
			it.buf = it.buf[:0]
			it.t.Walk(ctx, func(x Item) bool {
				it.buf = append(it.buf, x)
				return int64(len(it.buf)) < it.t.mem.max
			})
			it.slot = len(it.t.mem.slots)
		} else {
			it.buf = it.t.mem.slotItems(it.slot, nowNano())
			it.slot++
		}
		it.pos = 0
	}
	it.cur = &it.buf[it.pos]
	return true
}

func iterators(c *kemi.Ctx, create bool) map[string]*iterator {
	if c.M == nil {
		return nil
	}
	its, _ := c.M.GetExt(extIterators).(map[string]*iterator)
	if its == nil && create {
		its = map[string]*iterator{}
		c.M.SetExt(extIterators, its)
	}
	return its
}

// currentIter finds an iterator standing on an item.
func currentIter(c *kemi.Ctx, name string) *iterator {
	it := iterators(c, false)[name]
	if it == nil || it.cur == nil {
		c.Logger().Error("htable: iterator not found or not on an item", zap.String("iterator", name))
		return nil
	}
	return it
}

func (m *Module) iteratorExports() []kemi.Export {
	return []kemi.Export{
		kemi.FnStrStrInt("sht_iterator_start", "Start iterator iname over table hname (at most 4 at once). 1 ok, -1 error.",
			func(c *kemi.Ctx, iname, hname string) int {
				if iname == "" || len(iname) >= maxIterName {
					c.Logger().Error("htable: bad iterator name", zap.String("iterator", iname))
					return -1
				}
				t := m.table(c, hname)
				if t == nil {
					return -1
				}
				its := iterators(c, true)
				if _, ok := its[iname]; !ok && len(its) >= maxIterators {
					c.Logger().Error("htable: no iterator available", zap.Int("max", maxIterators))
					return -1
				}
				its[iname] = &iterator{t: t, pos: -1}
				return 1
			}),
		kemi.FnStrInt("sht_iterator_next", "Move to the next item ($shtitkey/$shtitval). 1 ok, -1 no more items or no iterator.",
			func(c *kemi.Ctx, iname string) int {
				it := iterators(c, false)[iname]
				if it == nil {
					return -1
				}
				return rc(it.advance(c.Context()))
			}),
		kemi.FnStrInt("sht_iterator_end", "Close the iterator. 1 ok, -1 no such iterator.",
			func(c *kemi.Ctx, iname string) int {
				its := iterators(c, false)
				if _, ok := its[iname]; !ok {
					return -1
				}
				delete(its, iname)
				return 1
			}),
		kemi.FnStrInt("sht_iterator_rm", "Delete the current item and move to the next: 1 on a next item, -2 at the end, -1 error.",
			func(c *kemi.Ctx, iname string) int {
				it := currentIter(c, iname)
				if it == nil {
					return -1
				}
				it.t.Delete(c.Context(), it.cur.Name)
				if it.advance(c.Context()) {
					return 1
				}
				return -2
			}),
		kemi.FnStrStrInt("sht_iterator_sets", "Set the current item to a string. 1 ok, -1 error.",
			func(c *kemi.Ctx, iname, v string) int { return iterSet(c, iname, Str(v)) }),
		kemi.FnStrIntInt("sht_iterator_seti", "Set the current item to an integer. 1 ok, -1 error.",
			func(c *kemi.Ctx, iname string, n int) int { return iterSet(c, iname, Int(int64(n))) }),
		kemi.FnStrIntInt("sht_iterator_setex", "Set the current item's expire in seconds. 1 ok, -1 error.",
			func(c *kemi.Ctx, iname string, exp int) int {
				it := currentIter(c, iname)
				if it == nil {
					return -1
				}
				it.t.SetExpire(c.Context(), it.cur.Name, int64(exp))
				return 1
			}),
	}
}

func iterSet(c *kemi.Ctx, iname string, v Value) int {
	it := currentIter(c, iname)
	if it == nil {
		return -1
	}
	if err := it.t.Set(c.Context(), it.cur.Name, v, 0); err != nil {
		return -1
	}
	it.cur.Val = v
	return 1
}
