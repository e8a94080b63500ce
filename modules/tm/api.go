package tm

import (
	"strings"

	"github.com/emiago/sipgo/sip"

	"github.com/luasbc/luasbc/core/msg"
)

// Info is what tmx reads about the transaction of a message.
type Info struct {
	Req      *msg.Msg // the transaction's copy of the request
	Reply    *msg.Msg // reply route: the reply; failure route: the winning reply if received
	Code     int      // $T_reply_code
	Reason   string   // $T_reply_reason
	Branch   int      // $T_branch_idx
	LastCode int      // last code sent upstream
	ID       string
}

// TransInfo describes the transaction of m; ok is false when it has none.
func (x *TM) TransInfo(m *msg.Msg) (Info, bool) {
	t := transOf(m)
	if t == nil {
		return Info{}, false
	}
	var in Info
	locked(m, t, func() {
		in = Info{Req: t.req, ID: t.id, LastCode: t.status, Branch: -1}
		if i, ok := m.GetExt(extBranch).(int); ok {
			in.Branch = i
		}
		switch {
		case m.Res != nil:
			in.Reply, in.Code, in.Reason = m, m.Status(), m.Res.Reason
		case m.RouteType == msg.RouteFailure:
			if b := curBranch(m, t); b != nil {
				in.Branch, in.Code, in.Reply = b.idx, b.code, b.reply
				if b.reply != nil {
					in.Reason = b.reply.Res.Reason
				} else {
					in.Reason = b.localReason
				}
			}
		default:
			in.Code = t.status
		}
	})
	return in, true
}

// CancelBranches is tmx t_cancel_branches: "all" pending branches, "others"
// than the current one, or "this" one. 1 done, -1 no transaction.
func (x *TM) CancelBranches(m *msg.Msg, which string) int {
	t := transOf(m)
	if t == nil {
		return -1
	}
	cur, _ := m.GetExt(extBranch).(int)
	locked(m, t, func() {
		for _, b := range t.branches {
			switch {
			case which == "all",
				which == "others" && b.idx != cur,
				which == "this" && b.idx == cur:
				x.cancelBranch(b, "")
			}
		}
	})
	return 1
}

// findByCallID finds the transaction of a request by Call-ID and CSeq
// number (RPC-style lookups; a scan, these are rare).
func (x *TM) findByCallID(callid, cseq string, method string) *Transaction {
	cseq = strings.TrimSpace(cseq)
	num, _, _ := strings.Cut(cseq, " ")
	for _, t := range x.table.all() {
		if t.callID == callid && (method == "" || t.method == method) && t.cseqNum == num {
			return t
		}
	}
	return nil
}

// CancelCallID cancels the INVITE transaction with this Call-ID and CSeq;
// with code > 0 the caller gets that final reply now. 1 ok, -1 not found.
func (x *TM) CancelCallID(callid, cseq string, code int) int {
	t := x.findByCallID(callid, cseq, string(sip.INVITE))
	if t == nil {
		return -1
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.removed {
		return -1
	}
	x.cancelInvite(t, "", nil)
	if code >= 300 && !t.final {
		x.localReply(t, t.req, code, "Request Terminated", nil)
	}
	return 1
}

// ReplyCallID sends a reply through the transaction with this Call-ID and
// CSeq. 1 ok, -1 not found or already answered.
func (x *TM) ReplyCallID(callid, cseq string, code int, reason string) int {
	if code < 100 || code > 699 || msg.CheckValue(reason) != nil {
		return -1
	}
	t := x.findByCallID(callid, cseq, "")
	if t == nil {
		return -1
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.removed {
		return -1
	}
	return x.localReply(t, t.req, code, reason, nil)
}

// FlushFlags copies m's message flags into the transaction (t_flush_flags).
func (x *TM) FlushFlags(m *msg.Msg) int {
	t := transOf(m)
	if t == nil {
		return -1
	}
	locked(m, t, func() {
		if t.req != nil {
			t.req.Flags = m.Flags
		}
	})
	return 1
}

// Drop removes the transaction of m without replying (t_drop); with code >=
// 300 the caller first gets that reply. 1 ok, -1 no transaction.
func (x *TM) Drop(m *msg.Msg, code int) int {
	t := transOf(m)
	if t == nil {
		return -1
	}
	locked(m, t, func() {
		if code >= 300 && !t.final {
			x.localReply(t, m, code, "Dropped", nil)
		}
		x.remove(t)
	})
	return 1
}

// Exists reports whether request m has a transaction, created by this
// message or matching it as a retransmission.
func (x *TM) Exists(m *msg.Msg) bool {
	if transOf(m) != nil {
		return true
	}
	if m.Req == nil {
		return false
	}
	method := m.Method()
	if method == string(sip.ACK) {
		method = string(sip.INVITE)
	}
	return x.table.lookup(matchKey(m, method)) != nil
}

// MatchKey exposes the transaction match key of a request (tmx precheck).
func MatchKey(m *msg.Msg) string { return matchKey(m, m.Method()) }
