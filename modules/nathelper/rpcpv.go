package nathelper

import (
	"context"

	"github.com/luasbc/luasbc/core/msg"
	"github.com/luasbc/luasbc/core/rpc"
	"github.com/luasbc/luasbc/kemi"
)

// RPC implements kemi.RPCProvider.
func (x *nathelper) RPC() []rpc.Method {
	return []rpc.Method{{
		Name: "nathelper.enable_ping", Params: "0|1",
		Doc: "Stop (0) or resume (any other number) the NAT keepalives. Fails when natping_interval is 0.",
		Fn: func(_ context.Context, p rpc.Params) (any, error) {
			n, ok := p.Int(0)
			if !ok {
				return nil, rpc.Errorf(500, "No parameter")
			}
			if x.pinger == nil {
				return nil, rpc.Errorf(500, "NATping disabled")
			}
			x.enabled.Store(n != 0)
			return nil, nil
		},
	}}
}

// PVs implements kemi.PVProvider: $rr_count and $rr_top_count, which a
// script compares to decide whether a reply's Contact needs an alias.
func (x *nathelper) PVs() []*kemi.PVClass {
	return []*kemi.PVClass{
		{Name: "rr_count", Doc: "number of Record-Route entries of the message",
			Get: func(c *kemi.Ctx, _ *kemi.PVSpec) kemi.Value { return kemi.IntV(len(recordRoutes(c.M))) }},
		{Name: "rr_top_count", Doc: "2 if the top Record-Route is one of a double record-route (;r2), 1 if single, 0 if none",
			Get: func(c *kemi.Ctx, _ *kemi.PVSpec) kemi.Value { return kemi.IntV(rrTopCount(c.M)) }},
	}
}

// recordRoutes lists the Record-Route entries of the received message.
func recordRoutes(m *msg.Msg) []string {
	var out []string
	for i := range m.Hdrs {
		if m.Hdrs[i].Type != msg.HRecordRoute {
			continue
		}
		for _, e := range msg.SplitComma(msg.Unfold(m.Hdrs[i].Value)) {
			if e != "" {
				out = append(out, e)
			}
		}
	}
	return out
}

func rrTopCount(m *msg.Msg) int {
	rrs := recordRoutes(m)
	if len(rrs) == 0 {
		return 0
	}
	ce, ok := parseContactElem(rrs[0])
	if !ok {
		return 1
	}
	u, ok := parseSIPURI(ce.uri())
	if !ok {
		return 1
	}
	if _, idx := u.param("r2", false); idx >= 0 {
		return 2
	}
	return 1
}
