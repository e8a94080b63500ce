package core

import (
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
	if len(c.SendFilters) == 0 {
		return data, true
	}
	o := &Outgoing{M: m, Data: data, To: to, Reply: reply || local, Local: local}
	for _, f := range c.SendFilters {
		if !f(o) {
			return nil, false
		}
	}
	return o.Data, true
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
