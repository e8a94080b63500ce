package core

import (
	"github.com/luasbc/luasbc/core/metrics"
	"github.com/luasbc/luasbc/core/msg"
	"github.com/luasbc/luasbc/core/transport"
)

// Outgoing is one message about to leave, after the onsend route: topology
// hiding (topoh, topos) rewrites Data here, the last step before the socket.
type Outgoing struct {
	M     *msg.Msg // the request it was built from, or the reply being relayed
	Data  []byte
	To    msg.SendInfo
	Reply bool // a reply (relayed, or Local)
	Local bool // a reply generated here
}

// ReceiveFilter sees raw input before it is parsed; it may replace p.Data
// (topos restoring what it stripped) and returns false to drop the packet.
type ReceiveFilter func(p *transport.Packet) bool

// SendFilter may rewrite o.Data; false drops the message.
type SendFilter func(o *Outgoing) bool

// Prepare runs the onsend route (not for local replies, as in Kamailio) and
// then the send filters on bytes about to go to `to`; it returns the bytes
// to send, or false when the message must not be sent. Retransmissions
// resend what Prepare returned, so filters run once per message.
func (c *Core) Prepare(m *msg.Msg, data []byte, to msg.SendInfo, reply, local bool) ([]byte, bool) {
	if !local && c.Router != nil && c.Router.Onsend(m, to, data) {
		return nil, false
	}
	if len(c.SendFilters) > 0 {
		o := &Outgoing{M: m, Data: data, To: to, Reply: reply || local, Local: local}
		for _, f := range c.SendFilters {
			if !f(o) {
				return nil, false
			}
		}
		data = o.Data
	}
	status := 0
	if reply || local {
		status = statusOf(data)
	}
	metrics.Sent(m.Method(), status, local)
	return data, true
}

// statusOf reads the code of a status line ("SIP/2.0 200 OK"), 0 if none.
func statusOf(b []byte) int {
	if len(b) < 11 || string(b[:8]) != "SIP/2.0 " {
		return 0
	}
	n := 0
	for _, d := range b[8:11] {
		if d < '0' || d > '9' {
			return 0
		}
		n = n*10 + int(d-'0')
	}
	return n
}

// received runs the receive filters; false drops the packet.
func (c *Core) received(p *transport.Packet) bool {
	for _, f := range c.ReceiveFilters {
		if !f(p) {
			return false
		}
	}
	return true
}
