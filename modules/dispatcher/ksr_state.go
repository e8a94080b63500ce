package dispatcher

import (
	"github.com/emiago/sipgo/sip"
	"go.uber.org/zap"

	"github.com/luasbc/luasbc/kemi"
)

// markDst is ds_mark_dst / ds_mark_dst_state for the destination in use.
func (d *Dispatcher) markDst(c *kemi.Ctx, state string) int {
	st := flagInactive
	if d.cfg.probingMode == probeAll {
		st |= flagProbing
	}
	if state != "" {
		if st = parseState(state); st < 0 {
			c.Logger().Warn("ds_mark_dst: bad state", zap.String("state", state))
			return -1
		}
	}
	if !d.cfg.failover {
		d.warnOnce("function", "failover support disabled (flags bit 2 not set)", "ds_mark_dst")
		return -1
	}
	ctx := ctxOf(c.M, false)
	if ctx == nil {
		return -1
	}
	r, ok := ctx.current()
	if !ok {
		return -1
	}
	return d.markAddr(c, st, r.d.setid, r.d.uri)
}

// markAddr changes the state of a destination from the script.
func (d *Dispatcher) markAddr(c *kemi.Ctx, state, setid int, uri string) int {
	s, dd := d.tab.Load().find(setid, uri)
	if dd == nil {
		return -1
	}
	rc := rctx{setid: setid, uri: dd.uri, code: 800}
	if m := c.M; m != nil {
		if m.Res != nil {
			rc.flags, rc.code, rc.reason = 1, m.Res.StatusCode, m.Res.Reason
		} else {
			rc.code = 820
		}
	}
	s.mu.Lock()
	ev := d.updateState(s, dd, state, fromScript, rc)
	s.mu.Unlock()
	if ev != nil {
		d.runEvent(c.M, ev)
	}
	return 1
}

// isActive is ds_is_active / ds_is_active_uri.
func (d *Dispatcher) isActive(setid int, uri string) int {
	s := d.tab.Load().set(setid)
	if s == nil {
		return -1
	}
	for _, dd := range s.dests {
		if !skipped(dd.state.Load()) && (uri == "" || dd.uri == uri) {
			return 1
		}
	}
	return -1
}

// loadUpdate is ds_load_update. Kamailio exports its C function directly,
// so success is 0.
func (d *Dispatcher) loadUpdate(c *kemi.Ctx) int {
	m := c.M
	if m == nil || m.CallID() == "" || m.SIP.CSeq() == nil {
		return -1
	}
	if d.loads == nil {
		return 0
	}
	if m.Req != nil {
		if meth := m.Req.Method; meth == sip.BYE || meth == sip.CANCEL {
			d.loads.remove(m.CallID())
		}
		return 0
	}
	if m.SIP.CSeq().MethodName == sip.INVITE && m.Status()/100 == 2 {
		d.loads.confirm(m.CallID())
	}
	return 0
}

// loadUnset is ds_load_unset: 0 released (or, for an INVITE, nothing to
// release: the call was not given a load), -1 the call has no load.
func (d *Dispatcher) loadUnset(c *kemi.Ctx) int {
	m := c.M
	if m == nil || m.CallID() == "" {
		return -1
	}
	if m.Req != nil && m.Req.Method == sip.INVITE {
		// As Kamailio: an INVITE whose destination carries no load (not
		// selected by algorithm 10) has nothing to release.
		r, ok := rec{}, false
		if ctx := ctxOf(m, false); ctx != nil {
			r, ok = ctx.current()
		}
		if !ok || !r.load {
			return 0
		}
	}
	if d.loads == nil || !d.loads.remove(m.CallID()) {
		return -1
	}
	return 0
}
