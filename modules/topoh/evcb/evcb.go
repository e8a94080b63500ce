// Package evcb runs the event callbacks of the topology hiding modules
// (topoh:msg-outgoing, topos:msg-receiving, ...) in Lua: the function named by
// the module's event_callback is called with the event name, on a message
// built for the event, and a KSR.x.drop() (or KSR.set_drop()) in it means
// "skip topology hiding for this message" — the message itself is never
// dropped, because the callback only ever sees a copy.
package evcb

import (
	"net/netip"

	"github.com/luasbc/luasbc/core/msg"
	"github.com/luasbc/luasbc/kemi"
)

// fakeText is the message the "outgoing"/"incoming" events run on, as
// Kamailio's internal faked message: those events exist to decide from the
// addresses alone ($sndto, $si) without parsing the real message.
const fakeText = "OPTIONS sip:you@luasbc.invalid SIP/2.0\r\n" +
	"Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKfake\r\n" +
	"From: <sip:you@luasbc.invalid>;tag=fake\r\n" +
	"To: <sip:you@luasbc.invalid>\r\n" +
	"Call-ID: fake@luasbc.invalid\r\n" +
	"CSeq: 1 OPTIONS\r\n" +
	"Content-Length: 0\r\n\r\n"

// Runner calls one event callback function.
type Runner struct {
	eng   *kemi.Engine
	fname string
	mode  int
	fake  *msg.Msg
}

// New returns a runner for function fname ("" = no callback: every event
// passes). mode is the module's event_mode bitmask.
func New(eng *kemi.Engine, fname string, mode int) *Runner {
	r := &Runner{eng: eng, fname: fname, mode: mode}
	if m, err := msg.Parse([]byte(fakeText), netip.AddrPortFrom(netip.IPv4Unspecified(), 0), nil, msg.UDP); err == nil {
		r.fake = m
	}
	return r
}

// Enabled reports whether the event with bit is run.
func (r *Runner) Enabled(bit int) bool {
	return r != nil && r.eng != nil && r.fname != "" && r.mode&bit != 0
}

// Outgoing runs an event for a message about to be sent to `to` without
// parsing it (msg-outgoing). parent is the message the bytes were built
// from (its Lua state is reused when a script callback is running for it).
// It returns true when the callback dropped: skip hiding; and the message
// the callback ran on (nil when it did not run).
func (r *Runner) Outgoing(bit int, event string, parent *msg.Msg, to msg.SendInfo) (bool, *msg.Msg) {
	if !r.Enabled(bit) || r.fake == nil {
		return false, nil
	}
	fm := r.fakeCopy()
	dst := to // a copy, so the argument does not escape when no callback runs
	fm.SendTo = &dst
	if parent != nil {
		fm.Script = parent.Script
		fm.Rcv = parent.Rcv
	}
	return r.run(fm, event), fm
}

// Sending runs an event on a parsed copy of the bytes about to be sent
// (msg-sending); a copy that does not parse is not shown to the script.
// The results are those of Outgoing.
func (r *Runner) Sending(bit int, event string, data []byte, parent *msg.Msg, to msg.SendInfo) (bool, *msg.Msg) {
	if !r.Enabled(bit) {
		return false, nil
	}
	var src netip.AddrPort
	var rcv *msg.Socket
	proto := to.Proto
	if parent != nil {
		src, rcv = parent.Src, parent.Rcv
	}
	m, err := msg.Parse(data, src, rcv, proto)
	if err != nil {
		return false, nil
	}
	dst := to
	m.SendTo = &dst
	if parent != nil {
		m.Script = parent.Script
	}
	return r.run(m, event), m
}

// Incoming runs an event for a received packet without parsing it
// (msg-incoming): $si, $sp and $proto are its source. It returns whether
// the callback dropped, and the message it ran on (nil when it did not
// run), whose module data the callback may have set.
func (r *Runner) Incoming(bit int, event string, src netip.AddrPort, sock *msg.Socket) (bool, *msg.Msg) {
	if !r.Enabled(bit) || r.fake == nil {
		return false, nil
	}
	fm := r.fakeCopy()
	fm.Src, fm.Rcv = src, sock
	if sock != nil {
		fm.Proto = sock.Proto
	}
	return r.run(fm, event), fm
}

// Receiving runs an event on the parsed received packet (msg-receiving);
// the results are those of Incoming.
func (r *Runner) Receiving(bit int, event string, data []byte, src netip.AddrPort, sock *msg.Socket) (bool, *msg.Msg) {
	if !r.Enabled(bit) {
		return false, nil
	}
	proto := msg.UDP
	if sock != nil {
		proto = sock.Proto
	}
	m, err := msg.Parse(data, src, sock, proto)
	if err != nil {
		return false, nil
	}
	return r.run(m, event), m
}

// fakeCopy is a private copy of the faked message: the parsed SIP part is
// shared and never written, the routing state is the copy's own.
func (r *Runner) fakeCopy() *msg.Msg {
	fm := *r.fake
	fm.Time = r.fake.Time
	fm.Lumps, fm.ReplyLumps, fm.Branches, fm.AVPs, fm.Ext = nil, nil, nil, nil, nil
	fm.FakeMessage = true
	return &fm
}

// run calls the function with the event name as Kamailio's event routes
// run: as a request route, whose drop only ends the callback.
func (r *Runner) run(m *msg.Msg, event string) bool {
	m.RouteType = msg.RouteEvent
	m.Drop = false
	r.eng.CallEvent(m, r.fname, event)
	return m.Drop
}
