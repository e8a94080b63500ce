package dispatcher

import (
	"fmt"
	"net/netip"

	"github.com/luasbc/luasbc/core/msg"
	"github.com/luasbc/luasbc/kemi"
)

// extRctx keys the reason of a state change in the message the event
// callback runs on; $dsv reads it.
const extRctx = "dispatcher.rctx"

// runEvent calls event_callback with "dispatcher:dst-down" or
// "dispatcher:dst-up". A change made by the script (ds_mark_dst) runs it on
// the script's own message and Lua state, as Kamailio does; a keepalive's
// on a made-up request to the destination ($ru is its URI, $rm the ping
// method).
func (d *Dispatcher) runEvent(m *msg.Msg, ev *event) {
	if d.cfg.eventCallback == "" || d.eng == nil {
		return
	}
	if m == nil {
		m = d.eventMsg(ev.rc.uri)
	}
	prev := m.GetExt(extRctx)
	rc := ev.rc
	m.SetExt(extRctx, &rc)
	d.eng.CallEvent(m, d.cfg.eventCallback, ev.name)
	if prev == nil {
		delete(m.Ext, extRctx)
	} else {
		m.SetExt(extRctx, prev)
	}
}

// eventMsg is the request an event callback of a keepalive runs on.
func (d *Dispatcher) eventMsg(uri string) *msg.Msg {
	method := d.cfg.pingMethod
	raw := method + " " + uri + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP 127.0.0.1:5060;branch=" + pingBranchPrefix + "event\r\n" +
		"From: <" + d.cfg.pingFrom + ">;tag=" + randHex(8) + "\r\n" +
		"To: <" + uri + ">\r\n" +
		"Call-ID: " + randHex(12) + "-dsev@127.0.0.1\r\n" +
		"CSeq: 1 " + method + "\r\n" +
		"Content-Length: 0\r\n\r\n"
	m, err := msg.Parse([]byte(raw), netip.AddrPortFrom(netip.IPv4Unspecified(), 0), nil, msg.UDP)
	if err != nil {
		m = &msg.Msg{}
	}
	m.FakeMessage = true
	m.RouteType = msg.RouteEvent
	return m
}

// PVs implements kemi.PVProvider: $dsv(key) describes the state change an
// event callback runs for: code, reason, flags (1: from a received reply),
// uri, setid (or group).
func (d *Dispatcher) PVs() []*kemi.PVClass {
	return []*kemi.PVClass{{
		Name: "dsv", Inner: true,
		Doc: "Dispatcher event context: $dsv(code), $dsv(reason), $dsv(flags), $dsv(uri), $dsv(setid)",
		Prepare: func(p *kemi.PVSpec) error {
			switch p.Inner {
			case "code", "reason", "flags", "uri", "setid", "group":
				return nil
			}
			return fmt.Errorf("unknown $dsv key %q (code, reason, flags, uri, setid)", p.Inner)
		},
		Get: func(c *kemi.Ctx, p *kemi.PVSpec) kemi.Value {
			if c.M == nil {
				return kemi.Nil
			}
			rc, ok := c.M.GetExt(extRctx).(*rctx)
			if !ok {
				return kemi.Nil
			}
			switch p.Inner {
			case "code":
				return kemi.IntV(rc.code)
			case "reason":
				if rc.reason == "" {
					return kemi.Nil
				}
				return kemi.StrV(rc.reason)
			case "flags":
				return kemi.IntV(rc.flags)
			case "uri":
				return kemi.StrV(rc.uri)
			case "setid", "group":
				return kemi.IntV(rc.setid)
			}
			return kemi.Nil
		},
	}}
}
