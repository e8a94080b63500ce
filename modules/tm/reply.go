package tm

import (
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/luasbc/luasbc/core/msg"
	"github.com/luasbc/luasbc/core/transport"
)

// lockForCallbacks locks t; when t has script callbacks it first takes a Lua
// state (returned as h, for msg.Msg.Script) so the lock is never held while
// waiting for the pool.
func (x *TM) lockForCallbacks(t *Transaction) (h any, unlock func()) {
	t.mu.Lock()
	if x.eng == nil || (t.onReply == "" && t.onFailure == "" && t.onBranch == "" && t.onBranchFailure == "") {
		return nil, t.mu.Unlock
	}
	t.mu.Unlock()
	h, release := x.eng.Hold()
	t.mu.Lock()
	return h, func() { t.mu.Unlock(); release() }
}

// onReply takes a reply for one of our branches (core.ReplyHandler); false
// leaves it to the core's stateless relay.
func (x *TM) onReply(m *msg.Msg) bool {
	v := m.TopVia()
	if v == nil {
		return false
	}
	br, _ := v.Params.Get("branch")
	id, idx, ok := parseBranch(br)
	if !ok {
		return false
	}
	t := x.table.byID(id)
	if t == nil {
		return false
	}
	cs := m.SIP.CSeq()
	if cs == nil {
		return true
	}
	h, unlock := x.lockForCallbacks(t)
	defer unlock()
	if t.removed || idx >= len(t.branches) {
		return true
	}
	b := t.branches[idx]
	if cs.MethodName == sip.CANCEL {
		// The CANCEL transaction ends here; the INVITE's own final reply is
		// what matters.
		if m.Status() >= 200 && b.cancel == cancelSent {
			b.cancelRq = nil
			if b.state != bCalling {
				stopTimer(&b.retr)
			}
		}
		return true
	}
	code := m.Status()
	if b.final() {
		x.lateReply(t, b, m, code)
		return true
	}
	m.SetExt(extT, t)
	m.SetExt(extLocked, true)
	m.SetExt(extBranch, idx)
	b.replied = true
	dropped := false
	if t.onReply != "" {
		m.Script = h
		m.RouteType = msg.RouteTmReply
		m.Drop = false
		x.eng.Call(m, t.onReply)
		m.Script = nil
		dropped = m.Drop && code < 200
	}
	if code < 200 {
		x.provisional(t, b, m, code, dropped)
		return true
	}
	b.state = bCompleted
	b.code = code
	b.reply = m
	stopTimer(&b.fr)
	stopTimer(&b.retr)
	x.untrackConn(b)
	if t.invite && code >= 300 {
		x.sendACK(b, m)
	}
	if code < 300 {
		x.positive(t, b, m)
		return true
	}
	if code >= 600 && t.invite && !t.disable6xx {
		for _, o := range t.branches {
			x.cancelBranch(o, `SIP;cause=600;text="Busy Everywhere"`)
		}
	}
	x.branchDone(t, b, m, h)
	return true
}

// provisional handles a 1xx on a pending branch.
func (x *TM) provisional(t *Transaction, b *Branch, m *msg.Msg, code int, dropped bool) {
	prev := b.code
	b.code = code
	if b.state == bCalling {
		b.state = bProceeding
		if t.invite {
			stopTimer(&b.retr) // Timer A ends with the first provisional
		} else if b.retr != nil {
			b.retrIvl = t.t2
		}
	}
	if t.invite && (x.cfg.restartFR || code > prev) {
		stopTimer(&b.fr)
		b.frAt = time.Now().Add(t.frInvTimeout)
		b.fr = time.AfterFunc(t.frInvTimeout, func() { x.branchTimeout(b) })
	}
	if b.cancel == cancelPending {
		x.sendCancel(b, b.cancelReason)
	}
	if dropped || t.final || (code == 100 && !x.cfg.relay100) {
		return
	}
	x.relayReply(t, m, code)
}

// positive relays a 2xx at once (RFC 3261 §16.7 step 5) and cancels the
// other INVITE branches.
func (x *TM) positive(t *Transaction, b *Branch, m *msg.Msg) {
	x.relayReply(t, m, m.Status())
	x.st.relayed2xx.Inc()
	if !t.final {
		t.final = true
		t.picked = b.idx
		x.countFinal(m.Status())
		x.completed(t, m, nil, m.Status(), m.Res.Reason)
	}
	if t.invite {
		reason := ""
		if x.cfg.localCancelReason {
			reason = `SIP;cause=200;text="Call completed elsewhere"`
		}
		for _, o := range t.branches {
			x.cancelBranch(o, reason)
		}
	}
	x.maybeFinish(t)
}

// lateReply handles a reply on a branch that already has its final answer.
func (x *TM) lateReply(t *Transaction, b *Branch, m *msg.Msg, code int) {
	switch {
	case code >= 200 && code < 300 && t.invite:
		// A retransmitted or second 2xx travels end to end like the first.
		x.relayReply(t, m, code)
	case code >= 300 && t.invite && !b.local:
		x.sendACK(b, m) // our ACK got lost
	}
}

// branchDone runs after branch b got a negative final status (reply m, or
// nil when local): the branch-failure callback, then completion of the
// transaction when no branch is pending.
func (x *TM) branchDone(t *Transaction, b *Branch, m *msg.Msg, h any) {
	if t.onBranchFailure != "" && x.eng != nil {
		cm := m
		if cm == nil {
			cm = x.fakeMsg(t, b, h)
		} else {
			cm.Script = h
		}
		cm.RouteType = msg.RouteBranchFailure
		x.eng.Call(cm, t.onBranchFailure, "tm:branch-failure")
		if m != nil {
			m.Script = nil
		}
	}
	x.maybeComplete(t, h)
}

// pending reports whether some branch still waits for a final status.
func (t *Transaction) pending() bool {
	for _, b := range t.branches {
		if !b.final() {
			return true
		}
	}
	return false
}

// maybeComplete ends the transaction once every branch is final and no
// final reply went upstream: the failure route may add branches (serial
// forking) or reply; otherwise the best reply is relayed (§16.7 step 6).
func (x *TM) maybeComplete(t *Transaction, h any) {
	if t.final || t.pending() || t.inFailure {
		if t.final {
			x.maybeFinish(t)
		}
		return
	}
	best := x.pick(t)
	if best == nil {
		return
	}
	t.picked = best.idx
	t.lastRpl = best.reply
	t.lastCode = best.code
	if t.onFailure != "" && x.eng != nil {
		name := t.onFailure
		t.onFailure = "" // a failure route arms the next one itself
		before := len(t.branches)
		fm := x.fakeMsg(t, best, h)
		fm.RouteType = msg.RouteFailure
		t.inFailure = true
		x.eng.Call(fm, name)
		t.inFailure = false
		t.req.Flags = fm.Flags // flags set in a failure route stay with the transaction
		if t.final {
			x.maybeFinish(t)
			return
		}
		if len(t.branches) > before && t.pending() {
			return // a new serial forking step is running
		}
		if len(t.branches) > before {
			// Every new branch ended already (e.g. send errors): choose again.
			x.maybeComplete(t, h)
			return
		}
	}
	x.relayBest(t, best)
}

// pick chooses the winning final reply among the branches of the current
// step (RFC 3261 §16.7 step 6, with Kamailio's preferences: 6xx first,
// then the lowest class, 401/407/415/420/484 ahead of other 4xx, 503 last
// of the 5xx, locally made replies penalised by faked_reply_prio).
func (x *TM) pick(t *Transaction) *Branch {
	from := 0
	if x.cfg.failureReplyMode == 3 || x.cfg.failureReplyMode == 2 {
		from = t.stepStart
	}
	if t.dropMode == "a" {
		from = t.stepStart
	}
	var best *Branch
	bestPrio := 1 << 30
	for _, b := range t.branches[from:] {
		if !b.final() {
			continue
		}
		p := replyPrio(b.code)
		if b.local {
			p += x.cfg.fakedPrio
		}
		if p < bestPrio {
			best, bestPrio = b, p
		}
	}
	return best
}

func replyPrio(code int) int {
	class := code / 100
	switch class {
	case 6:
		return 0
	case 2:
		return 100
	case 3:
		return 3000 + code%100
	case 4:
		switch code {
		case 401, 407, 415, 420, 484:
			return 4000 + code%100
		}
		return 4500 + code%100
	case 5:
		if code == 503 {
			return 5900
		}
		return 5000 + code%100
	}
	return 10000 + code
}

// relayBest sends the winning reply upstream: a received one relayed (503
// as 500, 401/407 with every branch's challenge), a local one built here.
func (x *TM) relayBest(t *Transaction, best *Branch) {
	if best.reply == nil {
		reason := best.localReason
		if reason == "" {
			reason = "Request Timeout"
		}
		x.localReply(t, t.req, best.code, reason, nil)
		return
	}
	t.final = true
	x.countFinal(best.code)
	m := best.reply
	code := best.code
	x.completed(t, m, nil, code, m.Res.Reason)
	if code == 503 && x.cfg.remap503 {
		x.relayReplyAs(t, m, 500, "Server Error")
	} else {
		if (code == 401 || code == 407) && x.cfg.aggregate {
			x.aggregateChallenges(t, best)
		}
		x.relayReply(t, m, code)
	}
	x.st.relayedNeg.Inc()
	x.maybeFinish(t)
}

// aggregateChallenges adds to the winning 401/407 the WWW-/Proxy-
// Authenticate headers of the other challenged branches (RFC 3261 §16.7).
func (x *TM) aggregateChallenges(t *Transaction, best *Branch) {
	for _, b := range t.branches[t.stepStart:] {
		if b == best || b.reply == nil || (b.code != 401 && b.code != 407) {
			continue
		}
		for _, name := range []string{"WWW-Authenticate", "Proxy-Authenticate"} {
			for _, v := range b.reply.Headers(name) {
				_ = best.reply.AddLump(msg.LumpAppend, "", name+": "+v+"\r\n")
			}
		}
	}
}

// relayReply sends a received reply upstream without our Via.
func (x *TM) relayReply(t *Transaction, m *msg.Msg, code int) {
	var b msg.Builder
	if !m.BuildReplyRelay(&b) {
		return
	}
	x.sendUpstream(t, m, b.B, code)
}

// relayReplyAs relays a received reply with another status line.
func (x *TM) relayReplyAs(t *Transaction, m *msg.Msg, code int, reason string) {
	var b msg.Builder
	if !m.BuildReplyRelay(&b) {
		return
	}
	data := b.B
	if i := strings.Index(string(data), "\r\n"); i > 0 {
		data = append([]byte("SIP/2.0 "+itoa3(code)+" "+reason), data[i:]...)
	}
	x.sendUpstream(t, m, data, code)
}

func itoa3(n int) string {
	return string([]byte{byte('0' + n/100), byte('0' + n/10%10), byte('0' + n%10)})
}

// sendUpstream sends reply bytes to where the request came from and keeps
// them for retransmitted requests.
func (x *TM) sendUpstream(t *Transaction, m *msg.Msg, data []byte, code int) {
	data, ok := x.core.Prepare(m, data, msg.SendInfo{Proto: t.rplProto, Addr: t.rplDst}, true, false)
	if !ok {
		return
	}
	t.status = code
	t.lastReply = data
	_, _ = x.core.TP.Send(t.rplProto, t.rplDst, data, transport.SendOpts{From: t.rplSock, ConnID: t.rplConn,
		NoConnect: t.noConnect, Close: t.closeConn && code >= 200})
	if code >= 300 && t.invite {
		x.startUASRetr(t)
	}
}

func (x *TM) countFinal(code int) {
	if c := code / 100; c >= 1 && c <= 6 {
		x.st.replies[c].Inc()
	}
}

// fakeMsg is the message a failure or branch-failure route works on: a
// fresh copy of the transaction's request with the R-URI of branch b.
func (x *TM) fakeMsg(t *Transaction, b *Branch, h any) *msg.Msg {
	fm := cloneMsg(t.req)
	if b != nil {
		_ = fm.SetRURI(b.uri)
		fm.BFlags = b.bflags
	}
	fm.DstURI = ""
	fm.SetExt(extT, t)
	fm.SetExt(extLocked, true)
	if b != nil {
		fm.SetExt(extBranch, b.idx)
	}
	fm.Script = h
	fm.FakeMessage = false
	return fm
}
