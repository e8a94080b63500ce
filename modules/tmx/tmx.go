// Package tmx adds to tm what Kamailio's tmx module does: route-type tests,
// t_precheck_trans, operations on transactions by Call-ID, and the $T_*
// pseudo-variables.
package tmx

import (
	"strings"
	"sync"

	"github.com/emiago/sipgo/sip"
	"go.uber.org/zap"

	"github.com/luasbc/luasbc/core/msg"
	"github.com/luasbc/luasbc/kemi"
	"github.com/luasbc/luasbc/modules/tm"
)

func init() {
	kemi.RegisterModule(&kemi.Module{
		Name: "tmx",
		Doc:  "tm extensions: route-type tests, t_precheck_trans, transactions by Call-ID, $T_* pseudo-variables. Needs tm.",
		Params: []kemi.ParamDef{
			{Name: "precheck_trans", Default: 1, Doc: "Track requests being routed so t_precheck_trans can spot an early retransmission (0 turns it off)."},
		},
		New: newTMX,
	})
}

type tmx struct {
	env      *kemi.Env
	precheck bool
	mu       sync.Mutex
	inflight map[string]uint64 // match key -> id of the message routing it
}

func newTMX(env *kemi.Env) (kemi.Instance, error) {
	x := &tmx{env: env, precheck: env.Params.Bool("precheck_trans"), inflight: map[string]uint64{}}
	if env.Core != nil && x.precheck {
		env.Core.RequestDone = append(env.Core.RequestDone, x.done)
	}
	return x, nil
}

const extPrecheck = "tmx.precheck"

// tm returns the tm instance; tmx is useless without it.
func (x *tmx) tm(c *kemi.Ctx) *tm.TM {
	if c.Engine == nil {
		return nil
	}
	t, _ := c.Engine.Instance("tm").(*tm.TM)
	if t == nil {
		c.Logger().Error("tmx needs the tm module")
	}
	return t
}

// precheckTrans is t_precheck_trans: 1 when another worker is routing the
// same request right now (a retransmission that came before the original
// created its transaction), -1 otherwise. The first caller is remembered
// until its request route returns.
func (x *tmx) precheckTrans(c *kemi.Ctx) int {
	m := c.M
	if !x.precheck || m.Req == nil || m.Req.Method == sip.ACK || m.Req.Method == sip.CANCEL {
		return -1
	}
	key := tm.MatchKey(m)
	x.mu.Lock()
	defer x.mu.Unlock()
	if id, ok := x.inflight[key]; ok && id != m.ID {
		return 1
	}
	x.inflight[key] = m.ID
	m.SetExt(extPrecheck, key)
	return -1
}

func (x *tmx) done(m *msg.Msg) {
	key, _ := m.GetExt(extPrecheck).(string)
	if key == "" {
		return
	}
	x.mu.Lock()
	if x.inflight[key] == m.ID {
		delete(x.inflight, key)
	}
	x.mu.Unlock()
}

func rc(ok bool) int {
	if ok {
		return 1
	}
	return -1
}

// Exports implements kemi.Instance.
func (x *tmx) Exports() []kemi.Export {
	route := func(name, doc string, types ...msg.RouteType) kemi.Export {
		return kemi.Fn0Int(name, doc, func(c *kemi.Ctx) int {
			for _, t := range types {
				if c.M.RouteType == t {
					return 1
				}
			}
			return -1
		})
	}
	withTM := func(f func(c *kemi.Ctx, t *tm.TM) int) func(c *kemi.Ctx) int {
		return func(c *kemi.Ctx) int {
			t := x.tm(c)
			if t == nil {
				return -1
			}
			return f(c, t)
		}
	}
	unsupported := func(name, doc string, params ...kemi.ParamType) kemi.Export {
		return kemi.Fn(name, params, kemi.RetInt, doc, func(c *kemi.Ctx, _ *kemi.Args) kemi.Value {
			c.Logger().Error("not supported in luasbc", zap.String("function", "tmx."+name))
			return kemi.IntV(-1)
		})
	}
	return []kemi.Export{
		kemi.Fn0Int("t_precheck_trans", "1 if the same request (not ACK/CANCEL) is being routed by another worker right now, -1 otherwise.", x.precheckTrans),
		route("t_is_request_route", "1 in the request route.", msg.RouteRequest),
		route("t_is_reply_route", "1 in a reply route (core or tm onreply).", msg.RouteReply, msg.RouteTmReply),
		route("t_is_failure_route", "1 in a failure route.", msg.RouteFailure),
		route("t_is_branch_route", "1 in a branch route.", msg.RouteBranch),
		kemi.FnStrInt("t_cancel_branches", "Cancel the pending branches: \"all\", \"others\" than the current, or \"this\". 1 ok, -1 error.",
			func(c *kemi.Ctx, which string) int {
				if which != "all" && which != "others" && which != "this" {
					c.Logger().Error("t_cancel_branches: want all, others or this", zap.String("which", which))
					return -1
				}
				return withTM(func(c *kemi.Ctx, t *tm.TM) int { return t.CancelBranches(c.M, which) })(c)
			}),
		kemi.Fn("t_cancel_callid", []kemi.ParamType{kemi.Str, kemi.Str, kemi.Int}, kemi.RetInt,
			"Cancel the INVITE transaction with this Call-ID and CSeq (flag unused). 1 ok, -1 not found.",
			func(c *kemi.Ctx, a *kemi.Args) kemi.Value {
				return kemi.IntV(withTM(func(c *kemi.Ctx, t *tm.TM) int { return t.CancelCallID(a.S[0], a.S[1], 0) })(c))
			}),
		kemi.Fn("t_cancel_callid_reason", []kemi.ParamType{kemi.Str, kemi.Str, kemi.Int, kemi.Int}, kemi.RetInt,
			"t_cancel_callid, then reply rcode to the caller. 1 ok, -1 not found.",
			func(c *kemi.Ctx, a *kemi.Args) kemi.Value {
				return kemi.IntV(withTM(func(c *kemi.Ctx, t *tm.TM) int { return t.CancelCallID(a.S[0], a.S[1], int(a.I[3])) })(c))
			}),
		kemi.Fn("t_reply_callid", []kemi.ParamType{kemi.Str, kemi.Str, kemi.Int, kemi.Str}, kemi.RetInt,
			"Reply through the transaction with this Call-ID and CSeq. 1 ok, -1 not found.",
			func(c *kemi.Ctx, a *kemi.Args) kemi.Value {
				return kemi.IntV(withTM(func(c *kemi.Ctx, t *tm.TM) int { return t.ReplyCallID(a.S[0], a.S[1], int(a.I[2]), a.S[3]) })(c))
			}),
		kemi.Fn0Int("t_flush_flags", "Copy the message flags into the transaction. 1 ok, -1 none.",
			withTM(func(c *kemi.Ctx, t *tm.TM) int { return t.FlushFlags(c.M) })),
		kemi.Fn0Int("t_flush_xflags", "Extended flags live on the message here; nothing to copy. 1.", func(*kemi.Ctx) int { return 1 }),
		kemi.Fn0Int("t_drop", "Remove the transaction without a reply. 1 ok, -1 none.",
			withTM(func(c *kemi.Ctx, t *tm.TM) int { return t.Drop(c.M, 0) })),
		kemi.FnIntInt("t_drop_rcode", "Reply rcode, then remove the transaction. 1 ok, -1 none.",
			func(c *kemi.Ctx, code int) int {
				return withTM(func(c *kemi.Ctx, t *tm.TM) int { return t.Drop(c.M, code) })(c)
			}),
		unsupported("t_suspend", "Asynchronous suspension is not supported: -1."),
		unsupported("t_continue", "Asynchronous resumption is not supported: -1.", kemi.Int, kemi.Int, kemi.Str),
		unsupported("t_reuse_branch", "Not supported: -1."),
		unsupported("t_uac_ack_local", "Not supported (no local INVITE transactions): -1.", kemi.Str, kemi.Str, kemi.Str, kemi.Str),
	}
}

// PVs implements kemi.PVProvider: $T_branch_idx, $T_reply_code,
// $T_reply_reason, $T_reply_last, $T_req(pv), $T_rpl(pv), $T_inv(pv), $T(name).
func (x *tmx) PVs() []*kemi.PVClass {
	info := func(c *kemi.Ctx) (tm.Info, bool) {
		t := x.tmQuiet(c)
		if t == nil {
			return tm.Info{}, false
		}
		return t.TransInfo(c.M)
	}
	intPV := func(name, doc string, f func(in tm.Info) int) *kemi.PVClass {
		return &kemi.PVClass{Name: name, Doc: doc, Get: func(c *kemi.Ctx, _ *kemi.PVSpec) kemi.Value {
			in, ok := info(c)
			if !ok {
				return kemi.IntV(-1)
			}
			return kemi.IntV(f(in))
		}}
	}
	inner := func(name, doc string, pick func(in tm.Info) *msg.Msg) *kemi.PVClass {
		return &kemi.PVClass{Name: name, Doc: doc, Inner: true, Get: func(c *kemi.Ctx, p *kemi.PVSpec) kemi.Value {
			in, ok := info(c)
			if !ok {
				return kemi.Nil
			}
			m := pick(in)
			if m == nil {
				return kemi.Nil
			}
			cc := *c
			cc.M = m
			return cc.GetPV(p.Inner)
		}}
	}
	return []*kemi.PVClass{
		intPV("T_branch_idx", "index of the branch being handled, -1 outside branch, reply and failure routes", func(in tm.Info) int { return in.Branch }),
		intPV("T_reply_code", "status of the reply being handled (reply route) or the winning one (failure route)", func(in tm.Info) int { return in.Code }),
		intPV("T_reply_last", "last status sent upstream", func(in tm.Info) int { return in.LastCode }),
		{Name: "T_reply_reason", Doc: "reason phrase of $T_reply_code", Get: func(c *kemi.Ctx, _ *kemi.PVSpec) kemi.Value {
			in, ok := info(c)
			if !ok || in.Reason == "" {
				return kemi.Nil
			}
			return kemi.StrV(in.Reason)
		}},
		inner("T_req", "a pseudo-variable evaluated on the transaction's request, e.g. $T_req($hdr(X-Id))", func(in tm.Info) *msg.Msg { return in.Req }),
		inner("T_inv", "as $T_req, for the INVITE a CANCEL belongs to (the request itself here)", func(in tm.Info) *msg.Msg { return in.Req }),
		inner("T_rpl", "a pseudo-variable evaluated on the reply being handled or the winning reply", func(in tm.Info) *msg.Msg { return in.Reply }),
		{Name: "T", Doc: "transaction attributes: id_index, id_label (both the id here), reply_code, reply_type (1 local, 0 received), branch_index",
			Inner: true, Get: func(c *kemi.Ctx, p *kemi.PVSpec) kemi.Value {
				in, ok := info(c)
				if !ok {
					return kemi.Nil
				}
				switch strings.ToLower(p.Inner) {
				case "id_index", "id_label":
					return kemi.StrV(in.ID)
				case "reply_code":
					return kemi.IntV(in.Code)
				case "reply_type":
					if in.Reply == nil {
						return kemi.IntV(1)
					}
					return kemi.IntV(0)
				case "branch_index":
					return kemi.IntV(in.Branch)
				}
				return kemi.Nil
			}},
	}
}

func (x *tmx) tmQuiet(c *kemi.Ctx) *tm.TM {
	if c.Engine == nil {
		return nil
	}
	t, _ := c.Engine.Instance("tm").(*tm.TM)
	return t
}
