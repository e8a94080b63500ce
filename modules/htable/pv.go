package htable

import (
	"errors"
	"fmt"
	"strings"

	"go.uber.org/zap"

	"github.com/luasbc/luasbc/kemi"
)

// htName is a parsed "table=>key" PV name; the key may hold PVs
// ($sht(a=>$au::count)), expanded per message.
type htName struct {
	tname string
	t     *Table
	key   string
	fmt   *kemi.Format
}

func (n *htName) keyFor(c *kemi.Ctx) string {
	if n.fmt != nil {
		return n.fmt.Expand(c)
	}
	return n.key
}

func (m *Module) prepareName(p *kemi.PVSpec) error {
	tn, key, ok := strings.Cut(p.Inner, "=>")
	if !ok {
		return errors.New(`want $name(table=>key)`)
	}
	tn = strings.TrimSpace(tn)
	if tn == "" {
		return errors.New("empty table name")
	}
	n := &htName{tname: tn, t: m.tables[tn], key: key}
	if strings.Contains(key, "$") && m.env.Engine != nil {
		n.fmt = m.env.Engine.ParseFormat(key)
	}
	p.Data = n
	return nil
}

// named resolves a prepared spec; nil (logged) when the table is unknown.
func named(c *kemi.Ctx, p *kemi.PVSpec) (*htName, *Table) {
	n, _ := p.Data.(*htName)
	if n == nil || n.t == nil {
		if n != nil {
			c.Logger().Error("htable: no such hash table", zap.String("pv", p.Raw), zap.String("htable", n.tname))
		}
		return n, nil
	}
	return n, n.t
}

// PVs implements kemi.PVProvider: $sht, $shtex, $shtcn, $shtcv, $shtinc,
// $shtdec, $shtrecord, $shtitkey, $shtitval.
func (m *Module) PVs() []*kemi.PVClass {
	addPV := func(name, doc string, delta int64) *kemi.PVClass {
		return &kemi.PVClass{Name: name, Doc: doc, Inner: true, Prepare: m.prepareName,
			Get: func(c *kemi.Ctx, p *kemi.PVSpec) kemi.Value {
				n, t := named(c, p)
				if t == nil {
					return kemi.Nil
				}
				v, ok := t.Add(c.Context(), n.keyFor(c), delta)
				if !ok {
					return kemi.Nil
				}
				return kemi.Value{K: kemi.KInt, I: v}
			}}
	}
	countPV := func(name, doc string, byValue bool) *kemi.PVClass {
		return &kemi.PVClass{Name: name, Doc: doc, Inner: true, Prepare: m.prepareName,
			Get: func(c *kemi.Ctx, p *kemi.PVSpec) kemi.Value {
				n, t := named(c, p)
				if t == nil {
					return kemi.Nil
				}
				cnt, err := parseCount(n.keyFor(c), byValue)
				if err != nil {
					c.Logger().Error("htable: "+p.Raw, zap.Error(err))
					return kemi.IntV(0)
				}
				return kemi.IntV(t.Count(c.Context(), cnt, byValue))
			}}
	}
	iterPV := func(name, doc string, val bool) *kemi.PVClass {
		return &kemi.PVClass{Name: name, Doc: doc, Inner: true,
			Get: func(c *kemi.Ctx, p *kemi.PVSpec) kemi.Value {
				it := iterators(c, false)[p.Inner]
				if it == nil || it.cur == nil {
					return kemi.Nil
				}
				if val {
					return it.cur.Val.Kemi()
				}
				return kemi.StrV(it.cur.Name)
			}}
	}
	return []*kemi.PVClass{
		{Name: "sht", Doc: "Hash table item $sht(table=>key): string or number, null when missing (initval if set); assigning null deletes it.",
			Inner: true, Prepare: m.prepareName,
			Get: func(c *kemi.Ctx, p *kemi.PVSpec) kemi.Value {
				n, t := named(c, p)
				if t == nil {
					return kemi.Nil
				}
				v, ok := t.Get(c.Context(), n.keyFor(c))
				switch {
				case ok:
					return v.Kemi()
				case t.Def.HasInitVal:
					return kemi.Value{K: kemi.KInt, I: t.Def.InitVal}
				}
				return kemi.Nil
			},
			Set: func(c *kemi.Ctx, p *kemi.PVSpec, v kemi.Value) error {
				n, t := named(c, p)
				if t == nil {
					return fmt.Errorf("no such hash table %q", n.tname)
				}
				if v.IsNil() {
					t.Delete(c.Context(), n.keyFor(c))
					return nil
				}
				return t.Set(c.Context(), n.keyFor(c), fromKemi(v), 0)
			}},
		{Name: "shtex", Doc: "Seconds before $sht(table=>key) expires (0: never, missing, or no autoexpire); assign to change it.",
			Inner: true, Prepare: m.prepareName,
			Get: func(c *kemi.Ctx, p *kemi.PVSpec) kemi.Value {
				n, t := named(c, p)
				if t == nil {
					return kemi.Nil
				}
				return kemi.Value{K: kemi.KInt, I: t.ExpireIn(c.Context(), n.keyFor(c))}
			},
			Set: func(c *kemi.Ctx, p *kemi.PVSpec, v kemi.Value) error {
				n, t := named(c, p)
				if t == nil {
					return fmt.Errorf("no such hash table %q", n.tname)
				}
				t.SetExpire(c.Context(), n.keyFor(c), v.Int())
				return nil
			}},
		countPV("shtcn", "Number of items whose name matches: $shtcn(t=>~~re), %~prefix, ~%suffix, ==name, ** (all), else a regex.", false),
		countPV("shtcv", "Number of items whose value matches: $shtcv(t=>~~re), %~prefix, ~%suffix, ==text, eqN (integer N), **.", true),
		addPV("shtinc", "Add 1 to $sht(table=>key) and return the new value (null if not an integer).", 1),
		addPV("shtdec", "Subtract 1 from $sht(table=>key) and return the new value (null if not an integer).", -1),
		{Name: "shtrecord", Doc: "$shtrecord(key) / $shtrecord(value) of the expired item, in htable:expired:<table>.",
			Inner: true,
			Prepare: func(p *kemi.PVSpec) error {
				if p.Inner != "key" && p.Inner != "value" {
					return fmt.Errorf("want $shtrecord(key) or $shtrecord(value)")
				}
				return nil
			},
			Get: func(c *kemi.Ctx, p *kemi.PVSpec) kemi.Value {
				rec, ok := c.M.GetExt(extRecord).(Item)
				if !ok {
					return kemi.Nil
				}
				if p.Inner == "key" {
					return kemi.StrV(rec.Name)
				}
				return rec.Val.Kemi()
			}},
		iterPV("shtitkey", "Name of the current item of iterator $shtitkey(iname).", false),
		iterPV("shtitval", "Value of the current item of iterator $shtitval(iname).", true),
	}
}
