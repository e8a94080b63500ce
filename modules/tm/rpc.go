package tm

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/luasbc/luasbc/core/msg"
	"github.com/luasbc/luasbc/core/rpc"
)

// RPC implements kemi.RPCProvider with Kamailio's tm.* command names.
//
// Kamailio names a transaction by hash index and label (tm.reply's trans_id
// and trans_label); ours have one random id, carried in the Via branch of
// every request tm sends ("z9hG4bKtm<id>.<n>"). tm.list shows it as "id"
// (and as "tindex", with "tlabel" 0, so a kamcmd habit of copying both
// still works) and tm.reply takes it as trans_id.
func (x *TM) RPC() []rpc.Method {
	return []rpc.Method{
		{Name: "tm.stats", Doc: "Transaction counters in Kamailio's names: current, waiting (final reply sent, kept wt_timer for retransmissions), " +
			"total (= created), total_local (0: local requests are not kept as transactions), rpl_generated (final replies made here), " +
			"rpl_sent (final replies sent upstream, relayed or local), 2xx..6xx (transactions completed with that class), created, freed, " +
			"delayed_free (0: nothing is freed late). rpl_received is not counted.",
			Fn: x.rpcStats},
		{Name: "tm.list", Params: "[limit]", Doc: "Transactions in memory, oldest first, at most limit (default 1000; tm.stats " +
			"current says how many there are): id (what tm.reply takes), method, from, to, callid, cseq, state " +
			"(trying, proceeding, completed, confirmed), status (last code sent upstream), canceled, outgoings (branches), " +
			"branches (uri, dst, state and last code of each), age and lifetime (seconds).",
			Fn: x.rpcList},
		{Name: "tm.cancel", Params: "callid cseq", Doc: "Cancel the pending INVITE with this Call-ID and CSeq number: " +
			"ringing branches get a CANCEL, the caller gets 487 now. Fault 481 when there is no such transaction.",
			Fn: x.rpcCancel},
		{Name: "tm.reply", Params: "code reason trans_id trans_label to_tag [headers]", Doc: "Send a reply through the transaction " +
			"whose id tm.list shows (trans_label is ignored, ids are not split in two); to_tag, when not empty, is the To tag of the reply; " +
			"headers are extra header lines. Fault 481 unknown transaction, 500 when it cannot be sent (e.g. already answered).",
			Fn: x.rpcReply},
		{Name: "tm.reply_callid", Params: "code reason callid cseq to_tag [headers]", Doc: "tm.reply for the transaction with this Call-ID and CSeq number.",
			Fn: x.rpcReplyCallID},
	}
}

func (x *TM) rpcStats(context.Context, rpc.Params) (any, error) {
	waiting := 0
	for _, t := range x.table.all() {
		t.mu.Lock()
		if t.final {
			waiting++
		}
		t.mu.Unlock()
	}
	s := &x.st
	out := map[string]any{
		"current": x.table.count(), "waiting": waiting,
		"total": s.created.Value(), "total_local": 0,
		"rpl_generated": s.local.Value(),
		"rpl_sent":      s.relayed2xx.Value() + s.relayedNeg.Value() + s.local.Value(),
		"created":       s.created.Value(), "freed": s.freed.Value(), "delayed_free": 0,
	}
	for c := 2; c <= 6; c++ {
		out[strconv.Itoa(c)+"xx"] = s.replies[c].Value()
	}
	return out, nil
}

// listLimit bounds tm.list by default: at thousands of calls per second the
// table holds hundreds of thousands of transactions.
const listLimit = 1000

func (x *TM) rpcList(_ context.Context, p rpc.Params) (any, error) {
	limit := listLimit
	if p.Len() > 0 {
		n, ok := p.Int(0)
		if !ok || n <= 0 {
			return nil, rpc.Errorf(rpc.CodeInvalidParams, "Invalid Parameters: limit must be a positive number")
		}
		limit = n
	}
	ts := x.table.all()
	sort.Slice(ts, func(i, j int) bool { return ts[i].created.Before(ts[j].created) })
	now := time.Now()
	out := make([]map[string]any, 0, min(len(ts), limit))
	for _, t := range ts {
		if len(out) == limit {
			break
		}
		t.mu.Lock()
		if !t.removed {
			out = append(out, t.describe(now))
		}
		t.mu.Unlock()
	}
	return out, nil
}

// describe is one tm.list entry. t is locked.
func (t *Transaction) describe(now time.Time) map[string]any {
	var from, to, cseq string
	if t.req != nil {
		from, _ = t.req.HeaderType(msg.HFrom)
		to, _ = t.req.HeaderType(msg.HTo)
		cseq, _ = t.req.HeaderType(msg.HCSeq)
	}
	if cseq == "" && t.cseqNum != "" {
		cseq = t.cseqNum + " " + t.method
	}
	state := "trying"
	switch {
	case t.final && t.acked:
		state = "confirmed"
	case t.final:
		state = "completed"
	case t.status >= 100:
		state = "proceeding"
	}
	branches := make([]map[string]any, 0, len(t.branches))
	for _, b := range t.branches {
		bs := [...]string{bCalling: "calling", bProceeding: "proceeding", bCompleted: "completed"}[b.state]
		branches = append(branches, map[string]any{"idx": b.idx, "uri": b.uri, "dst": b.proto.String() + ":" + b.addr.String(),
			"state": bs, "code": b.code})
	}
	age := now.Sub(t.created)
	return map[string]any{
		"id": t.id, "tindex": t.id, "tlabel": 0,
		"method": t.method, "from": from, "to": to, "callid": t.callID, "cseq": cseq,
		"state": state, "status": t.status, "canceled": t.canceled,
		"outgoings": len(t.branches), "branches": branches,
		"age":      int64(age.Seconds()),
		"lifetime": int64(math.Max(0, (t.maxLife - age).Seconds())),
	}
}

func (x *TM) rpcCancel(_ context.Context, p rpc.Params) (any, error) {
	callid, ok1 := p.Str(0)
	cseq, ok2 := p.Str(1)
	if !ok1 || !ok2 || callid == "" {
		return nil, rpc.Errorf(rpc.CodeInvalidParams, "Invalid Parameters: callid cseq")
	}
	t := x.findByCallID(callid, cseq, string(sip.INVITE))
	if t == nil {
		return nil, rpc.Errorf(481, "No such transaction")
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.removed {
		return nil, rpc.Errorf(481, "No such transaction")
	}
	x.cancelInvite(t, "", nil)
	// The caller is answered 487 at once: an operator cancelling a call
	// wants it gone now, not when a branch that never rang times out.
	if !t.final {
		x.localReply(t, t.req, 487, "Request Terminated", nil)
	}
	return nil, nil
}

func (x *TM) rpcReply(_ context.Context, p rpc.Params) (any, error) {
	id, _ := p.Str(2)
	return x.replyRPC(p, x.table.byID(strings.TrimSpace(id)))
}

func (x *TM) rpcReplyCallID(_ context.Context, p rpc.Params) (any, error) {
	callid, _ := p.Str(2)
	cseq, _ := p.Str(3)
	return x.replyRPC(p, x.findByCallID(callid, cseq, ""))
}

// replyRPC sends the reply of tm.reply and tm.reply_callid (code, reason,
// two identifying parameters, to_tag, headers) through t.
func (x *TM) replyRPC(p rpc.Params, t *Transaction) (any, error) {
	code, ok := p.Int(0)
	reason, _ := p.Str(1)
	toTag, _ := p.Str(4)
	rawHdrs, _ := p.Str(5)
	if !ok || code < 100 || code > 699 || p.Len() < 5 || msg.CheckValue(reason) != nil || toTag != "" && !msg.IsToken(toTag) {
		return nil, rpc.Errorf(rpc.CodeInvalidParams, "Invalid Parameters: code reason id id to_tag [headers]")
	}
	hdrs, err := headerLines(rawHdrs)
	if err != nil {
		return nil, rpc.Errorf(rpc.CodeInvalidParams, "Invalid Parameters: %v", err)
	}
	if t == nil {
		return nil, rpc.Errorf(481, "No such transaction")
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.removed || t.req == nil {
		return nil, rpc.Errorf(481, "No such transaction")
	}
	if t.final {
		// before touching the To tag: completion callbacks (acc) report it
		return nil, rpc.Errorf(500, "Reply not sent (transaction already answered)")
	}
	if toTag != "" {
		t.toTag = toTag
	}
	if x.localReply(t, t.req, code, reason, hdrs) < 0 {
		return nil, rpc.Errorf(500, "Reply not sent (transaction already answered)")
	}
	return nil, nil
}

// headerLines splits the headers parameter (lines separated by CRLF or LF)
// into header text with CRLF, refusing what is not a "Name: value" line.
func headerLines(s string) ([]string, error) {
	var out []string
	for _, l := range strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n") {
		if strings.TrimSpace(l) == "" {
			continue
		}
		name, _, ok := strings.Cut(l, ":")
		if !ok || strings.TrimSpace(name) == "" || strings.ContainsAny(name, " \t\r\x00") || msg.CheckValue(l) != nil {
			return nil, fmt.Errorf("not a header line: %q", l)
		}
		out = append(out, l+"\r\n")
	}
	return out, nil
}
