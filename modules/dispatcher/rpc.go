package dispatcher

import (
	"context"
	"errors"
	"strings"

	"github.com/luasbc/luasbc/core/rpc"
)

// RPC implements kemi.RPCProvider with Kamailio's method names and result
// shapes.
func (d *Dispatcher) RPC() []rpc.Method {
	return []rpc.Method{
		{Name: "dispatcher.list", Params: "[short|full]", Doc: "Sets and destinations with state (FLAGS), priority, attributes, latency and call load.",
			Fn: d.rpcList},
		{Name: "dispatcher.reload", Doc: "Reload from the list file or the database; a list that cannot be loaded keeps the loaded one and the error says why. Rate limited by reload_delta.",
			Fn: func(ctx context.Context, _ rpc.Params) (any, error) {
				return changeResult(d.limited(ctx, d.reload))("Ok. Dispatcher successfully reloaded.", "Reload Failed")
			}},
		{Name: "dispatcher.set_state", Params: "state group address|all", Doc: "Set the state of a destination (a, i, t, d, or 0-3; p after a, i or t adds probing).",
			Fn: func(_ context.Context, p rpc.Params) (any, error) { return d.rpcSetState(p, false) }},
		{Name: "dispatcher.set_duid_state", Params: "state group duid", Doc: "dispatcher.set_state for the destinations with a duid attribute.",
			Fn: func(_ context.Context, p rpc.Params) (any, error) { return d.rpcSetState(p, true) }},
		{Name: "dispatcher.ping_active", Params: "[0|1]", Doc: "Switch keepalives off (0) or on (1); without a value, show the state.",
			Fn: d.rpcPingActive},
		{Name: "dispatcher.add", Params: "group address [flags [priority [attrs]]]", Doc: "Add a destination to the list in memory (a reload drops it). Rate limited by reload_delta.",
			Fn: d.rpcAdd},
		{Name: "dispatcher.remove", Params: "group address", Doc: "Remove a destination from the list in memory (a reload brings it back). Rate limited by reload_delta.",
			Fn: d.rpcRemove},
		{Name: "dispatcher.hash", Params: "nslots val1 [val2]", Doc: "The hash algorithms 0-7 compute for the values, and its slot among nslots destinations.",
			Fn: rpcHash},
	}
}

// changeResult turns the outcome of a list change into the RPC answer:
// ok text, plus the entries left out when some were; a failure is fault
// 500 with the reason in data.
func changeResult(report []string, err error) func(okText, failText string) (any, error) {
	return func(okText, failText string) (any, error) {
		switch {
		case errors.Is(err, errTooSoon):
			return nil, rpc.Errorf(500, "Ongoing reload")
		case err != nil:
			data := map[string]any{"error": err.Error()}
			if len(report) > 0 {
				data["entries"] = report
			}
			return nil, &rpc.Error{Code: 500, Message: failText, Data: data}
		case len(report) > 0:
			return okText + " Entries left out or with warnings: " + strings.Join(report, "; "), nil
		}
		return okText, nil
	}
}

func (d *Dispatcher) rpcList(_ context.Context, p rpc.Params) (any, error) {
	mode, _ := p.Str(0)
	short, full := strings.EqualFold(mode, "short"), strings.EqualFold(mode, "full")
	t := d.tab.Load()
	if len(t.order) == 0 {
		return nil, rpc.Errorf(500, "No Destination Sets")
	}
	records := make([]any, 0, len(t.order))
	for _, s := range t.order {
		targets := make([]any, 0, len(s.dests))
		s.mu.Lock()
		for _, dd := range s.dests {
			targets = append(targets, map[string]any{"DEST": d.destInfo(dd, short, full)})
		}
		s.mu.Unlock()
		records = append(records, map[string]any{"SET": map[string]any{"ID": s.id, "TARGETS": targets}})
	}
	return map[string]any{"NRSETS": len(t.order), "RECORDS": records}, nil
}

// destInfo is one DEST of dispatcher.list. The set's lock is held.
func (d *Dispatcher) destInfo(dd *dest, short, full bool) map[string]any {
	out := map[string]any{"URI": dd.uri, "FLAGS": stateLetters(dd.state.Load() | uint32(dd.flags&flagNoPing)),
		"PRIORITY": dd.priority}
	if full {
		ip := ""
		if a, ok := dd.addr(); ok {
			ip = a.String()
		}
		var dnsSec, dnsUsec int64
		if t := dd.dnsAt.Load(); t > 0 {
			dnsSec, dnsUsec = t/1e9, t%1e9/1e3
		}
		out["HOST"], out["IPADDR"], out["PORT"], out["PROTOID"] = dd.host, ip, dd.port, int(dd.proto)
		out["DNSTIME_SEC"], out["DNSTIME_USEC"] = dnsSec, dnsUsec
	}
	if !short && dd.attrs.body != "" || full {
		a := dd.attrs
		out["ATTRS"] = map[string]any{"BODY": a.body, "DUID": a.duid, "PROBING_COUNT": dd.probingCount,
			"MAXLOAD": a.maxload, "WEIGHT": a.weight, "RWEIGHT": dd.rw, "SOCKET": a.socket, "SOCKNAME": a.sockname,
			"OBPROXY": a.obproxy, "OCMIN": a.ocmin, "OCMAX": a.ocmax}
	}
	if d.cfg.latencyStats {
		l := dd.lat
		out["LATENCY"] = map[string]any{"AVG": round3(l.avg), "STD": round3(l.std), "EST": round3(l.est),
			"MAX": l.max, "TIMEOUT": l.timeouts}
	}
	if d.loads != nil {
		out["RUNTIME"] = map[string]any{"DLGLOAD": dd.calls()}
	}
	return out
}

func round3(f float64) float64 { return float64(int64(f*1000+0.5)) / 1000 }

// rpcSetState is dispatcher.set_state / set_duid_state: the first
// character of state is 0/i (inactive), 1/a (active), 2/d (disabled) or
// 3/t (trying); a following p adds probing (not with d).
func (d *Dispatcher) rpcSetState(p rpc.Params, byDUID bool) (any, error) {
	stText, ok1 := p.Str(0)
	group, ok2 := p.Int(1)
	target, ok3 := p.Str(2)
	if !ok1 || !ok2 || !ok3 {
		return nil, rpc.Errorf(500, "Invalid Parameters")
	}
	if stText == "" {
		return nil, rpc.Errorf(500, "Invalid State Parameter")
	}
	probing := len(stText) > 1 && (stText[1] == 'p' || stText[1] == 'P')
	st := 0
	switch stText[0] {
	case '0', 'i', 'I':
		st = flagInactive
	case '1', 'a', 'A':
	case '2', 'd', 'D':
		st, probing = flagDisabled, false
	case '3', 't', 'T':
		st = flagTrying
	default:
		return nil, rpc.Errorf(500, "Unknown State Value")
	}
	if probing {
		st |= flagProbing
	}
	s := d.tab.Load().set(group)
	if s == nil {
		return nil, &rpc.Error{Code: 500, Message: "State Update Failed", Data: map[string]any{"error": "no such set"}}
	}
	s.mu.Lock()
	n := 0
	for _, dd := range s.dests {
		switch {
		case target == "all",
			!byDUID && (dd.uri == target || strings.EqualFold(dd.uri, target)),
			byDUID && dd.attrs.duid != "" && strings.EqualFold(dd.attrs.duid, target):
			setState(s, dd, st)
			n++
		}
	}
	s.mu.Unlock()
	if n == 0 {
		return nil, &rpc.Error{Code: 500, Message: "State Update Failed", Data: map[string]any{"error": "no such destination in the set"}}
	}
	return "Ok. Dispatcher state updated.", nil
}

func (d *Dispatcher) rpcPingActive(_ context.Context, p rpc.Params) (any, error) {
	old := 0
	if d.pingActive.Load() {
		old = 1
	}
	if p.Len() == 0 {
		return map[string]any{"OldPingState": old}, nil
	}
	v, ok := p.Int(0)
	if !ok || v != 0 && v != 1 {
		return nil, rpc.Errorf(500, "Ping State Update Failed")
	}
	d.pingActive.Store(v == 1)
	return map[string]any{"NewPingState": v, "OldPingState": old}, nil
}

func (d *Dispatcher) rpcAdd(ctx context.Context, p rpc.Params) (any, error) {
	group, ok1 := p.Int(0)
	uri, ok2 := p.Str(1)
	if !ok1 || !ok2 || group < 0 {
		return nil, rpc.Errorf(500, "Invalid Parameters")
	}
	r := row{where: "dispatcher.add", setid: group, uri: uri}
	if p.Len() > 2 {
		f, ok := p.Int(2)
		if !ok || f < 0 {
			return nil, rpc.Errorf(500, "Invalid Parameters")
		}
		r.flags = f
	}
	if p.Len() > 3 {
		pr, ok := p.Int(3)
		if !ok {
			return nil, rpc.Errorf(500, "Invalid Parameters")
		}
		r.priority = pr
	}
	if p.Len() > 4 {
		r.attrs, _ = p.Str(4)
	}
	rep, err := d.limited(ctx, func(ctx context.Context) ([]string, error) { return d.addDest(ctx, r) })
	return changeResult(rep, err)("Ok. Dispatcher destination added.", "Adding dispatcher dst failed")
}

func (d *Dispatcher) rpcRemove(ctx context.Context, p rpc.Params) (any, error) {
	group, ok1 := p.Int(0)
	uri, ok2 := p.Str(1)
	if !ok1 || !ok2 {
		return nil, rpc.Errorf(500, "Invalid Parameters")
	}
	rep, err := d.limited(ctx, func(ctx context.Context) ([]string, error) { return d.removeDest(ctx, group, uri) })
	return changeResult(rep, err)("Ok. Dispatcher destination removed.", "Removing dispatcher dst failed")
}

func rpcHash(_ context.Context, p rpc.Params) (any, error) {
	n, ok1 := p.Int(0)
	v1, ok2 := p.Str(1)
	if !ok1 || !ok2 {
		return nil, rpc.Errorf(500, "Invalid Parameters")
	}
	v2, has2 := p.Str(2)
	h := hashStrings(v1, v2, has2)
	slot := uint32(0)
	if n > 0 {
		slot = h % uint32(n)
	}
	return map[string]any{"hashid": h, "slot": slot}, nil
}
