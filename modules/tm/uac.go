package tm

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
	"go.uber.org/zap"

	"github.com/luasbc/luasbc/core"
	"github.com/luasbc/luasbc/core/msg"
	"github.com/luasbc/luasbc/core/transport"
)

// Kamailio's internal error numbers (E_*) that t_relay leaves in $err for
// t_reply_error / sl_reply_error.
const (
	eSend       = 477
	eBadAddress = 478
	eNoBranches = 1
)

// target is where one branch goes.
type target struct {
	uri   string // Request-URI
	dst   string // $du, "" for the R-URI
	proxy string // "proto:host:port" override from t_relay_to_*; "" none
	proto msg.Proto
	flags msg.Flags
	sock  *msg.Socket
}

// destinations lists the branches a relay of m creates: the R-URI (with
// $du) and the branches appended to the destination set.
func destinations(m *msg.Msg, proxy string, proto msg.Proto) []target {
	out := []target{{uri: m.RURIString(), dst: m.DstURI, proxy: proxy, proto: proto, flags: m.BFlags, sock: m.ForceSocket}}
	for _, b := range m.Branches {
		out = append(out, target{uri: b.URI, dst: b.DstURI, proxy: proxy, proto: proto, flags: b.Flags, sock: b.Socket})
	}
	return out
}

// relayBranches sends one branch per destination of m. t is locked. It
// returns how many branches left; with none it leaves the reason in m.ErrCode.
func (x *TM) relayBranches(ctx context.Context, m *msg.Msg, t *Transaction, tg []target) int {
	sent := 0
	for _, d := range tg {
		if len(t.branches) >= 256 {
			m.ErrCode = 12 // E_TOO_MANY_BRANCHES
			break
		}
		if err := x.sendBranch(ctx, m, t, d); err != nil {
			x.log.Debug("branch not sent", zap.String("callid", m.CallID()), zap.String("uri", d.uri), zap.Error(err))
			continue
		}
		sent++
	}
	// Consumed: the destination set belongs to this relay.
	m.Branches = nil
	if sent == 0 && m.ErrCode == 0 {
		m.ErrCode = eNoBranches
	}
	return sent
}

// sendBranch builds, runs the branch route for, and sends one branch.
func (x *TM) sendBranch(ctx context.Context, m *msg.Msg, t *Transaction, d target) error {
	idx := len(t.branches)
	bm := branchMsg(m, t, idx)
	if err := bm.SetRURI(d.uri); err != nil {
		m.ErrCode = 479
		return err
	}
	if err := bm.SetDst(d.dst); err != nil {
		m.ErrCode = 479
		return err
	}
	bm.BFlags = d.flags
	if d.sock != nil {
		bm.ForceSocket = d.sock
	}
	if t.onBranch != "" && x.eng != nil {
		bm.RouteType = msg.RouteBranch
		bm.Drop = false
		x.eng.Call(bm, t.onBranch)
		if bm.Drop {
			return errors.New("dropped in branch route")
		}
	}
	nexthop := bm.NextHop()
	if d.proxy != "" {
		nexthop = d.proxy
	}
	tgts, err := x.core.ResolveAll(ctx, nexthop)
	if err != nil {
		m.ErrCode = eBadAddress
		return err
	}
	if d.proto != msg.ProtoNone {
		for i := range tgts {
			tgts[i].Proto = d.proto
		}
	}
	if !x.core.DNSFailover {
		tgts = tgts[:1]
	}
	// RFC 3263 §4.3: a destination that refuses is skipped for the next.
	for i, tgt := range tgts {
		err = x.sendBranchTo(ctx, m, t, bm, idx, tgt, tgts[i+1:])
		if err == nil || m.ErrCode != eSend || i+1 == len(tgts) {
			return err
		}
		x.core.Blocklist(tgt)
		x.log.Debug("branch failed over to the next destination", zap.String("callid", m.CallID()),
			zap.String("dst", tgt.Addr.String()), zap.Error(err))
	}
	return err
}

// sendBranchTo builds and sends branch idx of bm to one resolved target;
// rest are the DNS targets to fail over to if this one never answers.
func (x *TM) sendBranchTo(ctx context.Context, m *msg.Msg, t *Transaction, bm *msg.Msg, idx int, tgt core.Target, rest []core.Target) error {
	sock := x.core.SendSocket(bm.ForceSocket, m.Rcv, &tgt)
	if sock == nil {
		m.ErrCode = eSend
		return fmt.Errorf("no %s socket to reach %s", tgt.Proto, tgt.Addr)
	}
	mf := core.MaxForwardsOut(bm)
	if mf <= 0 {
		m.ErrCode = 483
		return errors.New("Max-Forwards exhausted")
	}
	b := &Branch{t: t, idx: idx, id: branchPrefix + t.id + "." + strconv.Itoa(idx), uri: bm.RURIString(), dst: bm.DstURI,
		proto: tgt.Proto, addr: tgt.Addr, sock: sock, bflags: bm.BFlags}
	b.via = x.core.ViaFor(bm, sock, b.id)
	lumps := bm.Lumps
	bm.Lumps = x.core.OutLumps(bm, sock)
	var bb msg.Builder
	bm.BuildRequest(&bb, msg.ForwardOpts{RURI: b.uri, Via: b.via, MaxFwd: mf})
	bm.Lumps = lumps
	b.req = bb.B
	data, ok := x.core.Prepare(bm, b.req, msg.SendInfo{Proto: tgt.Proto, Addr: tgt.Addr}, false, false)
	if !ok {
		return errors.New("dropped in onsend route")
	}
	b.req = data
	_, conn, err := x.core.TP.SendConn(tgt.Proto, tgt.Addr, b.req, transport.SendOpts{From: sock,
		NoConnect: bm.ForwardNoConnect, Close: bm.ForwardClose, Ctx: ctx, ServerName: tgt.Host})
	if err != nil {
		m.ErrCode = eSend
		return err
	}
	b.conn = conn
	t.branches = append(t.branches, b)
	x.st.uac.Inc()
	x.trackConn(b)
	x.startBranchTimers(b)
	if len(rest) > 0 {
		// The fr timer fails over instead of timing out while the
		// destination has not answered at all; a reply re-arms the timer
		// without this, so only silence moves on.
		stopTimer(&b.fr)
		b.fr = time.AfterFunc(t.frTimeout, func() { x.failOver(b, bm, tgt, rest) })
	}
	return nil
}

// failOver is the fr timer of a branch that has further DNS targets: when
// nothing at all was heard from its destination, the destination goes on
// the blocklist and the request is sent to the next target as a new
// branch; otherwise (or when no target takes it) it is the usual timeout.
func (x *TM) failOver(b *Branch, bm *msg.Msg, tgt core.Target, rest []core.Target) {
	if !x.tryFailOver(b, bm, tgt, rest) {
		x.branchTimeout(b)
	}
}

func (x *TM) tryFailOver(b *Branch, bm *msg.Msg, tgt core.Target, rest []core.Target) bool {
	t := b.t
	// The onsend route may run for the new branch: take a Lua state before
	// the lock, as lockForCallbacks does.
	if x.eng != nil {
		h, release := x.eng.Hold()
		defer release()
		bm.Script = h
		defer func() { bm.Script = nil }()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.removed || b.final() || b.replied || t.final || t.canceled || b.cancel != cancelNone ||
		time.Now().Before(b.frAt.Add(-time.Millisecond)) {
		return false
	}
	x.core.Blocklist(tgt)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for i, next := range rest {
		bm.ErrCode = 0
		if err := x.sendBranchTo(ctx, bm, t, bm, len(t.branches), next, rest[i+1:]); err != nil {
			x.core.Blocklist(next)
			continue
		}
		// The silent branch ends without its own failure handling: the
		// request lives on in the new one.
		x.completeBranchLocal(b, 408, "Request Timeout")
		b.timedOut = true
		x.st.timeouts.Inc()
		x.log.Info("destination did not answer, failed over", zap.String("callid", t.callID),
			zap.String("dst", tgt.String()), zap.String("next", next.String()))
		return true
	}
	return false
}

// branchMsg is a private copy of m for building one branch: its own R-URI,
// $du, header edits and flags, marked as running under the transaction lock.
func branchMsg(m *msg.Msg, t *Transaction, idx int) *msg.Msg {
	bm := cloneMsg(m)
	bm.SetExt(extT, t)
	bm.SetExt(extLocked, true)
	bm.SetExt(extBranch, idx)
	bm.Script = m.Script
	return bm
}

// cloneMsg copies the routing state of m so changes to the copy (lumps,
// flags, AVPs, R-URI) do not reach m. The received message itself is shared:
// it is never modified.
func cloneMsg(m *msg.Msg) *msg.Msg {
	c := *m
	c.Lumps = append([]msg.Lump(nil), m.Lumps...)
	c.ReplyLumps = append([]string(nil), m.ReplyLumps...)
	c.Branches = append([]msg.Branch(nil), m.Branches...)
	if m.AVPs != nil {
		c.AVPs = make(map[string][]any, len(m.AVPs))
		for k, v := range m.AVPs {
			c.AVPs[k] = append([]any(nil), v...)
		}
	}
	c.Ext = nil
	for k, v := range m.Ext {
		if !strings.HasPrefix(k, "tm.") {
			c.SetExt(k, v)
		}
	}
	c.Script = nil
	c.Drop = false
	return &c
}

// startBranchTimers arms retransmission (unreliable transports) and the
// final-response timer of a new branch.
func (x *TM) startBranchTimers(b *Branch) {
	t := b.t
	if !b.proto.Stream() {
		b.retrIvl = t.t1
		b.retr = time.AfterFunc(b.retrIvl, func() { x.retransmitBranch(b) })
	}
	b.frAt = time.Now().Add(t.frTimeout)
	b.fr = time.AfterFunc(t.frTimeout, func() { x.branchTimeout(b) })
}

func stopTimer(tm **time.Timer) {
	if *tm != nil {
		(*tm).Stop()
		*tm = nil
	}
}

// retransmitBranch is Timer A (INVITE) / E (non-INVITE), and the CANCEL
// retransmission once a CANCEL was sent.
func (x *TM) retransmitBranch(b *Branch) {
	t := b.t
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.removed || b.retr == nil {
		return
	}
	var data []byte
	switch {
	case b.cancel == cancelSent && b.cancelRq != nil:
		data = b.cancelRq
	case b.state == bCalling || (b.state == bProceeding && !t.invite):
		data = b.req
	}
	if data == nil {
		b.retr = nil
		return
	}
	_, _ = x.core.TP.Send(b.proto, b.addr, data, transport.SendOpts{From: b.sock, ConnID: b.conn, NoConnect: true})
	if t.invite && b.cancel != cancelSent {
		b.retrIvl *= 2 // Timer A doubles without a cap
	} else {
		b.retrIvl = min(b.retrIvl*2, t.t2)
	}
	if b.state == bProceeding && !t.invite {
		b.retrIvl = t.t2
	}
	b.retr = time.AfterFunc(b.retrIvl, func() { x.retransmitBranch(b) })
}

// branchTimeout is the fr timer: the branch ends with a local 408 (after a
// CANCEL when an INVITE branch had a provisional reply).
func (x *TM) branchTimeout(b *Branch) {
	x.branchFailed(b, 408, "Request Timeout", "")
}

// branchFailed ends branch b with a locally made final status (timeout,
// broken connection) and completes the transaction if it was the last one.
func (x *TM) branchFailed(b *Branch, code int, reason, why string) {
	t := b.t
	h, unlock := x.lockForCallbacks(t)
	defer unlock()
	if t.removed || b.final() {
		return
	}
	if code == 408 {
		if time.Now().Before(b.frAt.Add(-time.Millisecond)) {
			return // the timer was restarted after this one fired
		}
		b.timedOut = true
		x.st.timeouts.Inc()
	}
	if why != "" {
		x.log.Info("branch failed", zap.String("callid", t.callID), zap.String("uri", b.uri), zap.String("reason", why))
	}
	if t.invite && b.state == bProceeding && b.cancel == cancelNone {
		x.sendCancel(b, "")
	}
	x.completeBranchLocal(b, code, reason)
	x.branchDone(t, b, nil, h)
}

// completeBranchLocal gives b a final status made up here.
func (x *TM) completeBranchLocal(b *Branch, code int, reason string) {
	b.state = bCompleted
	b.code = code
	b.local = true
	b.localReason = reason
	stopTimer(&b.fr)
	stopTimer(&b.retr)
	x.untrackConn(b)
}

// cancelBranch cancels a pending branch according to cancel_b_method.
func (x *TM) cancelBranch(b *Branch, reason string) {
	if b.final() || b.cancel != cancelNone {
		return
	}
	t := b.t
	if !t.invite {
		return // only INVITE can be cancelled (RFC 3261 §9)
	}
	switch {
	case b.state == bProceeding:
		x.sendCancel(b, reason)
	case x.cfg.cancelB == 0:
		x.completeBranchLocal(b, 487, "Request Terminated")
	case x.cfg.cancelB == 2:
		x.sendCancel(b, reason)
	default:
		b.cancel = cancelPending
		b.cancelReason = reason
	}
}

// sendCancel builds and sends the CANCEL of branch b (RFC 3261 §9.1): same
// Request-URI, top Via, Call-ID, From, To and CSeq number as the request.
func (x *TM) sendCancel(b *Branch, reason string) {
	h := branchHeaders(b.req)
	var sb strings.Builder
	sb.WriteString("CANCEL " + b.uri + " SIP/2.0\r\nVia: " + b.via + "\r\n")
	sb.WriteString(h.routes)
	sb.WriteString(h.from + h.to + h.callID)
	sb.WriteString("CSeq: " + h.cseqNum + " CANCEL\r\nMax-Forwards: 70\r\n")
	if reason != "" {
		sb.WriteString("Reason: " + reason + "\r\n")
	}
	if ua := x.core.UserAgentHeader(); ua != "" {
		sb.WriteString(ua + "\r\n")
	}
	sb.WriteString("Content-Length: 0\r\n\r\n")
	b.cancelRq = []byte(sb.String())
	b.cancel = cancelSent
	_, _ = x.core.TP.Send(b.proto, b.addr, b.cancelRq, transport.SendOpts{From: b.sock, ConnID: b.conn, NoConnect: true})
	stopTimer(&b.retr)
	if !b.proto.Stream() {
		b.retrIvl = b.t.t1
		b.retr = time.AfterFunc(b.retrIvl, func() { x.retransmitBranch(b) })
	}
}

// sendACK acknowledges a non-2xx final reply to an INVITE branch hop by hop
// (RFC 3261 §17.1.1.3): To comes from the reply, the rest from the request.
func (x *TM) sendACK(b *Branch, rpl *msg.Msg) {
	h := branchHeaders(b.req)
	to, _ := rpl.HeaderType(msg.HTo)
	var sb strings.Builder
	sb.WriteString("ACK " + b.uri + " SIP/2.0\r\nVia: " + b.via + "\r\n")
	sb.WriteString(h.routes)
	sb.WriteString(h.from + "To: " + to + "\r\n" + h.callID)
	sb.WriteString("CSeq: " + h.cseqNum + " ACK\r\nMax-Forwards: 70\r\n")
	if ua := x.core.UserAgentHeader(); ua != "" {
		sb.WriteString(ua + "\r\n")
	}
	sb.WriteString("Content-Length: 0\r\n\r\n")
	_, _ = x.core.TP.Send(b.proto, b.addr, []byte(sb.String()), transport.SendOpts{From: b.sock, ConnID: b.conn, NoConnect: true})
}

// reqHeaders are the header lines of a sent request that CANCEL and ACK copy.
type reqHeaders struct {
	from, to, callID, routes string // complete lines with CRLF
	cseqNum                  string
}

func branchHeaders(req []byte) reqHeaders {
	var h reqHeaders
	s := string(req)
	hdrs, _, _, err := msg.IndexHeaders(s, nil)
	if err != nil {
		return h
	}
	for i := range hdrs {
		hd := &hdrs[i]
		line := s[hd.Start:hd.End]
		switch hd.Type {
		case msg.HFrom:
			h.from = line
		case msg.HTo:
			h.to = line
		case msg.HCallID:
			h.callID = line
		case msg.HRoute:
			h.routes += line
		case msg.HCSeq:
			h.cseqNum, _, _ = strings.Cut(strings.TrimSpace(hd.Value), " ")
		}
	}
	return h
}

var _ = sip.ACK
