package dispatcher

import (
	"go.uber.org/zap"

	"github.com/luasbc/luasbc/kemi"
)

// Exports implements kemi.Instance: KSR.dispatcher.*, with Kamailio's
// names, parameters and return codes.
func (d *Dispatcher) Exports() []kemi.Export {
	ii := []kemi.ParamType{kemi.Int, kemi.Int}
	iii := []kemi.ParamType{kemi.Int, kemi.Int, kemi.Int}
	sel := func(name, doc string, mode int) []kemi.Export {
		return []kemi.Export{
			kemi.Fn(name, ii, kemi.RetInt, doc+" 1 selected, -1 no set or no active destination.",
				func(c *kemi.Ctx, a *kemi.Args) kemi.Value {
					return kemi.IntV(d.selectKSR(c, int(a.I[0]), int(a.I[1]), 0, mode))
				}),
			kemi.Fn(name+"_limit", iii, kemi.RetInt, doc+" At most limit destinations (the selected one included) are kept for failover; 0 no limit.",
				func(c *kemi.Ctx, a *kemi.Args) kemi.Value {
					return kemi.IntV(d.selectKSR(c, int(a.I[0]), int(a.I[1]), int(a.I[2]), mode))
				}),
		}
	}
	var x []kemi.Export
	x = append(x, sel("ds_select_dst", "Select a destination of set with algorithm alg into $du (the R-URI stays).", modeDst)...)
	x = append(x, sel("ds_select_domain", "Select a destination of set with algorithm alg into the R-URI host, port and parameters.", modeRURI)...)
	x = append(x, sel("ds_select", "Select destinations of set with algorithm alg for failover only ($du and R-URI untouched; then ds_set_dst or ds_next_dst).", modeXAVP)...)
	x = append(x,
		kemi.FnStrStrInt("ds_select_routes", "Select from several sets, rules \"set=alg;set=alg\"; mode d/0 ($du), r/1 (R-URI) or x/2 (list only) for the first one. 1 selected, -1 none.",
			func(c *kemi.Ctx, rules, mode string) int { return d.selectRoutes(c, rules, mode, 0) }),
		kemi.Fn("ds_select_routes_limit", []kemi.ParamType{kemi.Str, kemi.Str, kemi.Int}, kemi.RetInt,
			"ds_select_routes keeping at most limit destinations for failover.",
			func(c *kemi.Ctx, a *kemi.Args) kemi.Value {
				return kemi.IntV(d.selectRoutes(c, a.S[0], a.S[1], int(a.I[2])))
			}),
		kemi.Fn0Int("ds_next_dst", "Use the next destination of the failover list as $du (needs flags bit 2). 1 done, -1 none left.",
			func(c *kemi.Ctx) int { return d.updateDst(c, true, modeDst) }),
		kemi.Fn0Int("ds_next_domain", "Use the next destination of the failover list in the R-URI. 1 done, -1 none left.",
			func(c *kemi.Ctx) int { return d.updateDst(c, true, modeRURI) }),
		kemi.Fn0Int("ds_set_dst", "Use the current destination of the failover list as $du. 1 done, -1 none.",
			func(c *kemi.Ctx) int { return d.updateDst(c, false, modeDst) }),
		kemi.Fn0Int("ds_set_domain", "Use the current destination of the failover list in the R-URI. 1 done, -1 none.",
			func(c *kemi.Ctx) int { return d.updateDst(c, false, modeRURI) }),
		kemi.Fn0Int("ds_mark_dst", "Mark the destination in use inactive (and probing with ds_probing_mode 1). 1 done, -1 no destination or failover off.",
			func(c *kemi.Ctx) int { return d.markDst(c, "") }),
		kemi.FnStrInt("ds_mark_dst_state", "Mark the destination in use: a (active), i (inactive), t (trying), d (disabled), plus p (probing). 1 done, -1 failed.",
			func(c *kemi.Ctx, st string) int { return d.markDst(c, st) }),
		kemi.Fn("ds_mark_addr", []kemi.ParamType{kemi.Str, kemi.Int, kemi.Str}, kemi.RetInt,
			"Mark the destination uri of set with a state as ds_mark_dst_state. 1 done, -1 not found or bad state.",
			func(c *kemi.Ctx, a *kemi.Args) kemi.Value {
				st := parseState(a.S[0])
				if st < 0 {
					return kemi.IntV(-1)
				}
				return kemi.IntV(d.markAddr(c, st, int(a.I[1]), a.S[2]))
			}),
		kemi.Fn0Int("ds_is_from_lists", "1 if the source address and port belong to a destination of any set (sets setid_pvname, attrs_pvname), -1 otherwise.",
			func(c *kemi.Ctx) int { return d.isFromList(c, -1, "", matchNoProto) }),
		kemi.FnIntInt("ds_is_from_list", "1 if the source address and port belong to a destination of set (-1: any set), -1 otherwise.",
			func(c *kemi.Ctx, set int) int { return d.isFromList(c, set, "", matchNoProto) }),
		kemi.FnIntIntInt("ds_is_from_list_mode", "ds_is_from_list with mode bits: 1 ignore port, 2 ignore transport, 4 active only, 8 same socket, 16 best match.",
			func(c *kemi.Ctx, set, mode int) int { return d.isFromList(c, set, "", mode) }),
		kemi.Fn("ds_is_from_list_uri", []kemi.ParamType{kemi.Int, kemi.Int, kemi.Str}, kemi.RetInt,
			"ds_is_from_list_mode for the address of a URI instead of the source.",
			func(c *kemi.Ctx, a *kemi.Args) kemi.Value {
				return kemi.IntV(d.isFromList(c, int(a.I[0]), a.S[2], int(a.I[1])))
			}),
		kemi.FnIntInt("ds_is_active", "1 if set has an active destination, -1 otherwise.",
			func(c *kemi.Ctx, set int) int { return d.isActive(set, "") }),
		kemi.FnIntStrInt("ds_is_active_uri", "1 if the destination uri of set is active, -1 otherwise.",
			func(c *kemi.Ctx, set int, uri string) int { return d.isActive(set, uri) }),
		kemi.FnIntInt("ds_list_exists", "1 if set exists, -1 otherwise.",
			func(c *kemi.Ctx, set int) int {
				if d.tab.Load().set(set) != nil {
					return 1
				}
				return -1
			}),
		kemi.Fn0Int("ds_load_update", "Call load: BYE or CANCEL releases the call's load, a 2xx reply to INVITE confirms it. 0 done, -1 bad message.",
			d.loadUpdate),
		kemi.Fn0Int("ds_load_unset", "Call load: release the load of this call. 0 done, -1 the call has no load.",
			d.loadUnset),
		kemi.Fn0Int("ds_reload", "Reload the destinations from the list file or the database (rate limited by reload_delta). 1 done, -1 failed (the loaded list stays).",
			func(c *kemi.Ctx) int {
				if _, err := d.limited(c.Context(), d.reload); err != nil {
					c.Logger().Warn("ds_reload failed", zap.Error(err))
					return -1
				}
				return 1
			}),
	)
	return x
}
