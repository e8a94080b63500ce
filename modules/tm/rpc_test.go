package tm_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/luasbc/luasbc/core/rpc"
)

// tmRPC calls an RPC method with positional arguments and decodes the
// result into out (when not nil) the way a JSON-RPC client would see it.
func (s *setup) tmRPC(t *testing.T, out any, method string, args ...any) *rpc.Error {
	t.Helper()
	var p rpc.Params
	for _, a := range args {
		b, _ := json.Marshal(a)
		p = append(p, b)
	}
	res, rerr := s.h.RPC.Call(context.Background(), method, p)
	if rerr == nil && out != nil {
		b, _ := json.Marshal(res)
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s: %v in %s", method, err, b)
		}
	}
	return rerr
}

type listed struct {
	ID        string `json:"id"`
	Method    string `json:"method"`
	CallID    string `json:"callid"`
	CSeq      string `json:"cseq"`
	From      string `json:"from"`
	State     string `json:"state"`
	Status    int    `json:"status"`
	Canceled  bool   `json:"canceled"`
	Outgoings int    `json:"outgoings"`
	Branches  []struct {
		State string `json:"state"`
		Dst   string `json:"dst"`
	} `json:"branches"`
}

// find returns the tm.list entry of callid.
func (s *setup) find(t *testing.T, callid string) (listed, bool) {
	t.Helper()
	var l []listed
	if err := s.tmRPC(t, &l, "tm.list"); err != nil {
		t.Fatalf("tm.list: %v", err)
	}
	for _, e := range l {
		if e.CallID == callid {
			return e, true
		}
	}
	return listed{}, false
}

// A callee that never answers: the INVITE shows in tm.list with its branch,
// tm.cancel answers the caller 487 at once (long before fr_inv_timer), and
// tm.stats counts it.
func TestRPCListCancelStats(t *testing.T) {
	// wt_timer long enough that the completed transaction is still "waiting"
	// when tm.stats is read, however slow the machine.
	s := start(t, map[string]any{"fr_inv_timer": 30000, "wt_timer": 5000})
	var before map[string]int64
	if err := s.tmRPC(t, &before, "tm.stats"); err != nil {
		t.Fatal(err)
	}
	s.caller.send(s.srv, invite(s.caller, "dead", s.srv.Port, s.branch, s.callid))
	s.caller.expect("SIP/2.0 100", time.Second)
	e, ok := s.find(t, s.callid)
	if !ok {
		t.Fatalf("INVITE %s not in tm.list", s.callid)
	}
	if e.Method != "INVITE" || e.CSeq != "1 INVITE" || !strings.Contains(e.From, "tag=caller1") ||
		e.State != "proceeding" || e.Status != 100 || e.Outgoings != 1 || len(e.Branches) != 1 ||
		e.Branches[0].State != "calling" || !strings.HasSuffix(e.Branches[0].Dst, ":"+itoa(s.dead)) || len(e.ID) != 16 {
		t.Errorf("tm.list entry %+v", e)
	}
	var st map[string]int64
	if err := s.tmRPC(t, &st, "tm.stats"); err != nil || st["current"] != 1 || st["created"] != before["created"]+1 {
		t.Errorf("tm.stats with one call: %v %v", st, err)
	}

	if err := s.tmRPC(t, nil, "tm.cancel", s.callid, "1"); err != nil {
		t.Fatalf("tm.cancel: %v", err)
	}
	// expect fails the test without the 487 (fr_inv_timer is 30 s)
	rpl, _ := s.caller.expect("SIP/2.0 487", 5*time.Second)
	if !strings.Contains(header(rpl, "Via"), s.branch) {
		t.Errorf("487 Via %q", header(rpl, "Via"))
	}
	if e, ok := s.find(t, s.callid); ok && (!e.Canceled || e.State != "completed") {
		t.Errorf("after tm.cancel: %+v", e)
	}
	if err := s.tmRPC(t, &st, "tm.stats"); err != nil || st["4xx"] != before["4xx"]+1 ||
		st["rpl_generated"] < before["rpl_generated"]+1 || st["waiting"] != 1 {
		t.Errorf("tm.stats after the 487: %v (before %v) %v", st, before, err)
	}
	if err := s.tmRPC(t, nil, "tm.cancel", "no-such-call", "1"); err == nil || err.Code != 481 {
		t.Errorf("tm.cancel of an unknown call: %v", err)
	}
	if err := s.tmRPC(t, nil, "tm.cancel"); err == nil || err.Code != rpc.CodeInvalidParams {
		t.Errorf("tm.cancel without parameters: %v", err)
	}
}

// tm.reply answers through the transaction tm.list names, with the given
// To tag and extra headers; a second final reply is refused.
func TestRPCReply(t *testing.T) {
	s := start(t, map[string]any{"fr_inv_timer": 30000})
	s.caller.send(s.srv, invite(s.caller, "b1", s.srv.Port, s.branch, s.callid))
	s.callee1.expect("INVITE ", time.Second)
	e, ok := s.find(t, s.callid)
	if !ok {
		t.Fatal("INVITE not in tm.list")
	}
	if err := s.tmRPC(t, nil, "tm.reply", 404, "Not Here", e.ID, 0, "rpctag", "X-Why: operator\r\nX-Ticket: 7"); err != nil {
		t.Fatalf("tm.reply: %v", err)
	}
	rpl, _ := s.caller.expect("SIP/2.0 404 Not Here", time.Second)
	if !strings.Contains(header(rpl, "To"), "tag=rpctag") || header(rpl, "X-Why") != "operator" || header(rpl, "X-Ticket") != "7" {
		t.Errorf("404 sent:\n%s", rpl)
	}
	if err := s.tmRPC(t, nil, "tm.reply", 500, "Again", e.ID, 0, "other"); err == nil || err.Code != 500 {
		t.Errorf("second final reply: %v", err)
	}
	// The refused reply did not change the transaction's To tag: the 404's
	// retransmission still carries the first one.
	rpl, _ = s.caller.expect("SIP/2.0 404 Not Here", 2*time.Second)
	if !strings.Contains(header(rpl, "To"), "tag=rpctag") {
		t.Errorf("404 retransmission after a refused tm.reply: To %q", header(rpl, "To"))
	}
	if err := s.tmRPC(t, nil, "tm.reply", 404, "X", e.ID, 0, "bad;tag"); err == nil || err.Code != rpc.CodeInvalidParams {
		t.Errorf("to_tag that is no token: %v", err)
	}
	if err := s.tmRPC(t, nil, "tm.reply", 404, "X", "0123456789abcdef", 0, ""); err == nil || err.Code != 481 {
		t.Errorf("unknown id: %v", err)
	}
	if err := s.tmRPC(t, nil, "tm.reply_callid", 404, "X", s.callid, "1", "", "no colon"); err == nil || err.Code != rpc.CodeInvalidParams {
		t.Errorf("bad header line: %v", err)
	}
	if err := s.tmRPC(t, nil, "tm.reply", 99, "X", e.ID, 0, ""); err == nil || err.Code != rpc.CodeInvalidParams {
		t.Errorf("code 99: %v", err)
	}
}

// tm.list shows at most limit transactions, the oldest first.
func TestRPCListLimit(t *testing.T) {
	s := start(t, map[string]any{"fr_inv_timer": 30000})
	first := s.callid
	s.caller.send(s.srv, invite(s.caller, "b1", s.srv.Port, s.branch, first))
	s.callee1.expect("INVITE ", time.Second)
	s.caller.send(s.srv, invite(s.caller, "b1", s.srv.Port, s.branch+"x", first+"x"))
	s.callee1.expect("INVITE ", time.Second)
	var l []listed
	if err := s.tmRPC(t, &l, "tm.list", 1); err != nil || len(l) != 1 || l[0].CallID != first {
		t.Errorf("tm.list 1: %+v %v, want the first INVITE only", l, err)
	}
	if err := s.tmRPC(t, &l, "tm.list"); err != nil || len(l) != 2 {
		t.Errorf("tm.list: %d entries %v, want 2", len(l), err)
	}
	if err := s.tmRPC(t, nil, "tm.list", 0); err == nil || err.Code != rpc.CodeInvalidParams {
		t.Errorf("tm.list 0: %v", err)
	}
}

// tm.reply_callid finds the transaction by Call-ID and CSeq number.
func TestRPCReplyCallID(t *testing.T) {
	s := start(t, map[string]any{"fr_inv_timer": 30000})
	s.caller.send(s.srv, invite(s.caller, "b1", s.srv.Port, s.branch, s.callid))
	s.callee1.expect("INVITE ", time.Second)
	if err := s.tmRPC(t, nil, "tm.reply_callid", 480, "Gone Fishing", s.callid, "1 INVITE", ""); err != nil {
		t.Fatalf("tm.reply_callid: %v", err)
	}
	s.caller.expect("SIP/2.0 480 Gone Fishing", time.Second)
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }
