package tm

import (
	"strconv"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/luasbc/luasbc/core"
	"github.com/luasbc/luasbc/core/msg"
	"github.com/luasbc/luasbc/core/transport"
)

// Pending callback names set before the transaction exists live on the
// message, as Kamailio keeps them per process until t_newtran.
const (
	extOnFailure       = "tm.on_failure"
	extOnReply         = "tm.on_reply"
	extOnBranch        = "tm.on_branch"
	extOnBranchFailure = "tm.on_branch_failure"
	extTimers          = "tm.timers"
)

// timerSet holds t_set_fr/t_set_retr/t_set_max_lifetime values; zero keeps
// what was there.
type timerSet struct {
	fr, frInv, t1, t2, maxInv, maxNonInv time.Duration
}

// setMS stores the non-zero millisecond values.
func (s *timerSet) setMS(frInv, fr, t1, t2, maxInv, maxNon int) {
	for _, f := range []struct {
		v   int
		dst *time.Duration
	}{{frInv, &s.frInv}, {fr, &s.fr}, {t1, &s.t1}, {t2, &s.t2}, {maxInv, &s.maxInv}, {maxNon, &s.maxNonInv}} {
		if f.v > 0 {
			*f.dst = time.Duration(f.v) * time.Millisecond
		}
	}
}

// applyTimers puts the values of s that are set on t. t is locked.
func (t *Transaction) applyTimers(s timerSet) {
	for _, f := range []struct {
		v   time.Duration
		dst *time.Duration
	}{{s.fr, &t.frTimeout}, {s.frInv, &t.frInvTimeout}, {s.t1, &t.t1}, {s.t2, &t.t2}} {
		if f.v > 0 {
			*f.dst = f.v
		}
	}
	if t.invite && s.maxInv > 0 {
		t.maxLife = s.maxInv
	}
	if !t.invite && s.maxNonInv > 0 {
		t.maxLife = s.maxNonInv
	}
}

// timerOverrides are per-transaction settings made before t_relay.
type timerOverrides struct {
	timerSet
	noAuto100, noInternalReply    int8 // 0 unset, 1 on, -1 off
	disable6xx, noE2ECancelReason int8
}

func overridesOf(m *msg.Msg) *timerOverrides {
	o, _ := m.GetExt(extTimers).(*timerOverrides)
	if o == nil {
		o = &timerOverrides{}
		m.SetExt(extTimers, o)
	}
	return o
}

func extStr(m *msg.Msg, key string) string {
	s, _ := m.GetExt(key).(string)
	return s
}

// newTran creates the server transaction of request m: 1 created, 0 m is a
// retransmission of an existing one (its last reply was resent), -10 m
// already has a transaction.
func (x *TM) newTran(m *msg.Msg) (*Transaction, int) {
	if t := transOf(m); t != nil {
		return t, -10
	}
	method := m.Method()
	// What identifies the transaction is set before it is in the table:
	// lookups (tm.list, CancelCallID) read it without the lock.
	t := &Transaction{tm: x, key: matchKey(m, method), id: newID(), method: method,
		invite: method == string(sip.INVITE), created: time.Now(), picked: -1, callID: m.CallID()}
	if cs := m.SIP.CSeq(); cs != nil {
		t.cseqNum = strconv.FormatUint(uint64(cs.SeqNo), 10)
	}
	if old, ok := x.table.insert(t); !ok {
		x.retransmission(old)
		return old, 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	x.initTran(t, m)
	m.SetExt(extT, t)
	x.st.created.Inc()
	x.st.uas.Inc()
	if t.invite && x.cfg.auto100 && !t.noAuto100 {
		x.localReply(t, m, 100, x.cfg.reason100, nil)
	}
	return t, 1
}

// initTran fills a new transaction from its request. t is locked.
func (x *TM) initTran(t *Transaction, m *msg.Msg) {
	t.req = cloneMsg(m)
	t.req.Script = nil
	t.req.Branches = nil // consumed by the first relay; failure routes add their own
	t.rplProto = m.Proto
	t.rplDst = core.ReplyDest(m)
	t.rplConn = m.ConnID
	t.rplSock = m.Rcv
	t.noConnect = m.ReplyNoConnect
	t.closeConn = m.ReplyClose
	t.toTag = localTag(m)
	t.onFailure = extStr(m, extOnFailure)
	t.onReply = extStr(m, extOnReply)
	t.onBranch = extStr(m, extOnBranch)
	t.onBranchFailure = extStr(m, extOnBranchFailure)
	c := &x.cfg
	t.frTimeout, t.frInvTimeout, t.t1, t.t2 = c.fr, c.frInv, c.t1, c.t2
	t.maxLife = c.maxNonInv
	if t.invite {
		t.maxLife = c.maxInv
	}
	t.disable6xx = c.disable6xx
	if o, _ := m.GetExt(extTimers).(*timerOverrides); o != nil {
		t.applyTimers(o.timerSet)
		t.noAuto100 = o.noAuto100 > 0
		t.noInternalReply = o.noInternalReply > 0
		if o.disable6xx != 0 {
			t.disable6xx = o.disable6xx > 0
		}
		t.noE2ECancelReason = o.noE2ECancelReason > 0
	}
	t.life = time.AfterFunc(t.maxLife, func() { x.lifetimeOver(t) })
}

// localTag is the To-tag of tm's local replies: derived from the request so
// a retransmission gets the same one, and distinct from sl's tags so sl's
// ACK filter leaves ACKs to tm replies to tm.
func localTag(m *msg.Msg) string { return core.TagFor(m, "lsbt.") }

// retransmission answers a retransmitted request with the last reply sent.
func (x *TM) retransmission(t *Transaction) {
	t.mu.Lock()
	defer t.mu.Unlock()
	x.st.retransAbsorbed.Inc()
	if t.lastReply == nil || t.removed {
		return
	}
	x.retransmitTo(t, t.lastReply)
}

// retransmitTo resends reply bytes upstream over what the request used,
// never opening a connection for it.
func (x *TM) retransmitTo(t *Transaction, data []byte) {
	_, _ = x.core.TP.Send(t.rplProto, t.rplDst, data, transport.SendOpts{From: t.rplSock, ConnID: t.rplConn, NoConnect: true})
}

// localReply builds and sends a reply from the transaction (t_reply, the
// automatic 100, 408/487 made up here). m supplies reply lumps. t is locked.
func (x *TM) localReply(t *Transaction, m *msg.Msg, code int, reason string, hdrs []string) int {
	if t.final {
		return -1 // one final reply per transaction; nothing after it
	}
	o := msg.ReplyOpts{Code: code, Reason: reason, ToTag: t.toTag, Server: x.core.ServerHeader()}
	o.Headers = append(o.Headers, hdrs...)
	if m != nil {
		o.Headers = append(o.Headers, m.ReplyLumps...)
	}
	if code >= 300 && code < 400 && m != nil && m.RURIChanged() {
		o.Headers = append(o.Headers, "Contact: <"+m.RURIString()+">\r\n")
	}
	var b msg.Builder
	t.req.BuildReply(&b, o)
	data, ok := x.core.Prepare(t.req, append([]byte(nil), b.B...), msg.SendInfo{Proto: t.rplProto, Addr: t.rplDst}, true, true)
	if !ok {
		return -1
	}
	if code >= 200 {
		if !t.final {
			t.final = true
			x.countFinal(code)
			x.completed(t, nil, m, code, reason)
		}
		x.st.local.Inc()
		if m != nil {
			m.FinalReplied = code
		}
		t.req.FinalReplied = code
		// A final reply from the script ends the branches still running.
		for _, br := range t.branches {
			x.cancelBranch(br, "")
		}
	}
	t.status = code
	t.lastReply = data
	_, _ = x.core.TP.Send(t.rplProto, t.rplDst, data, transport.SendOpts{From: t.rplSock, ConnID: t.rplConn,
		NoConnect: t.noConnect, Close: t.closeConn && code >= 200})
	if code >= 300 && t.invite {
		x.startUASRetr(t)
	}
	if code >= 200 {
		x.maybeFinish(t)
	}
	if x.cfg.evLocalResponse != "" && x.eng != nil && m != nil && m.Script != nil {
		x.eng.Call(m, x.cfg.evLocalResponse, "tm:local-response")
	}
	return 1
}

// startUASRetr arms Timer G: a negative final reply to an INVITE over UDP is
// resent until the ACK comes, for at most 64*T1 (Timer H).
func (x *TM) startUASRetr(t *Transaction) {
	if t.rplProto.Stream() || t.acked || t.uasRetr != nil {
		return
	}
	t.uasRetrIvl = t.t1
	t.uasGiveUp = time.Now().Add(64 * t.t1)
	t.uasRetr = time.AfterFunc(t.uasRetrIvl, func() { x.uasRetransmit(t) })
}

func (x *TM) uasRetransmit(t *Transaction) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.removed || t.acked || t.uasRetr == nil {
		return
	}
	if time.Now().After(t.uasGiveUp) {
		t.uasRetr = nil
		x.maybeFinish(t)
		return
	}
	x.retransmitTo(t, t.lastReply)
	t.uasRetrIvl = min(2*t.uasRetrIvl, t.t2)
	t.uasRetr = time.AfterFunc(t.uasRetrIvl, func() { x.uasRetransmit(t) })
}

// maybeFinish starts the wait timer once the transaction has its final
// reply, no branch is pending and no negative reply waits for its ACK.
func (x *TM) maybeFinish(t *Transaction) {
	if !t.final || t.removed || t.wait != nil || t.pending() {
		return
	}
	if t.uasRetr != nil && !t.acked {
		return
	}
	t.release()
	t.wait = time.AfterFunc(x.cfg.wt, func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		x.remove(t)
	})
}

// release drops what a completed transaction no longer needs while it waits
// wt_timer to absorb retransmissions: the request and the replies (most of
// its memory). Retransmitted requests still get lastReply, late final
// replies still get their ACK (built from the branch request). t is locked.
func (t *Transaction) release() {
	t.req = nil
	t.lastRpl = nil
	for _, b := range t.branches {
		b.reply = nil
	}
}

// remove takes t out of the table and stops its timers. t is locked.
func (x *TM) remove(t *Transaction) {
	if t.removed {
		return
	}
	t.removed = true
	x.table.remove(t)
	stopTimer(&t.uasRetr)
	stopTimer(&t.life)
	stopTimer(&t.wait)
	for _, b := range t.branches {
		stopTimer(&b.retr)
		stopTimer(&b.fr)
		x.untrackConn(b)
	}
	x.st.freed.Inc()
}

// lifetimeOver ends a transaction that lived max_inv_lifetime or
// max_noninv_lifetime: pending branches get a local 408, then the usual
// completion; a transaction still around afterwards is removed.
func (x *TM) lifetimeOver(t *Transaction) {
	h, unlock := x.lockForCallbacks(t)
	defer unlock()
	if t.removed {
		return
	}
	t.life = nil
	if !t.final {
		for _, b := range t.branches {
			if !b.final() {
				if t.invite && b.state == bProceeding && b.cancel == cancelNone {
					x.sendCancel(b, "")
				}
				b.timedOut = true
				x.completeBranchLocal(b, 408, "Request Timeout")
			}
		}
		if len(t.branches) == 0 {
			x.localReply(t, t.req, 408, "Request Timeout", nil)
		} else {
			x.maybeComplete(t, h)
		}
	}
	if t.final && !t.removed && t.wait == nil {
		// Whatever still runs (a CANCELled branch, Timer G) stops now.
		t.wait = time.AfterFunc(x.cfg.wt, func() {
			t.mu.Lock()
			defer t.mu.Unlock()
			x.remove(t)
		})
	}
}

// ackFilter absorbs an ACK for a negative final reply of an INVITE
// transaction (RFC 3261 §17.2.1) before the script sees it.
func (x *TM) ackFilter(m *msg.Msg) bool {
	if m.Req == nil || m.Req.Method != sip.ACK {
		return false
	}
	t := x.table.lookup(matchKey(m, string(sip.INVITE)))
	if t == nil {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.status < 300 {
		return false // ACK for a 2xx: end to end, the script routes it
	}
	x.absorbACK(t)
	return true
}

func (x *TM) absorbACK(t *Transaction) {
	t.acked = true
	stopTimer(&t.uasRetr)
	x.maybeFinish(t)
}

// cancelInvite applies a received CANCEL to its INVITE transaction: every
// pending branch is cancelled (the CANCEL itself is answered 200 by the
// caller). reason is the CANCEL's Reason header value.
// h is the Lua state of the request route handling the CANCEL, for a failure
// route that completion may run. t is locked.
func (x *TM) cancelInvite(t *Transaction, reason string, h any) {
	if t.removed {
		return
	}
	if !t.canceled {
		x.st.canceled.Inc()
	}
	t.canceled = true
	if x.cfg.e2eCancelReason && !t.noE2ECancelReason {
		t.cancelHdr = reason
	} else {
		reason = ""
	}
	for _, b := range t.branches {
		x.cancelBranch(b, reason)
	}
	if !t.final && len(t.branches) > 0 && !t.pending() {
		x.maybeComplete(t, h)
	}
}
