package e2e

import (
	"strings"
	"testing"
	"time"
)

const forwardTmpl = `MESSAGE sip:bob@192.0.2.55 SIP/2.0
Via: SIP/2.0/UDP {me};branch={branch}
From: <sip:alice@example.com>;tag={tag}
To: <sip:bob@example.com>
Call-ID: {callid}
CSeq: 7 MESSAGE
Max-Forwards: 70
X-Remove-Me: secret
X-Keep: kept
Content-Type: text/plain
Content-Length: {cl}

hello bob`

// TestForward: KSR.forward() to $du sends the request on with our Via on top,
// Max-Forwards decremented and the header edits applied; the callee's 200
// comes back to the caller with our Via removed. Header text with an empty
// line is refused (-1) and nothing is injected.
func TestForward(t *testing.T) {
	t.Parallel()
	callee := NewUDP(t)
	s := StartServer(t, Opts{Script: "forward.lua", Replace: map[string]string{"__CALLEE__": "sip:" + callee.Addr}})
	caller := NewUDP(t)
	req := NewReq(forwardTmpl, caller.Addr, s.Addr, "UDP")
	caller.Send(s.Addr, []byte(req.Text))

	raw, from, err := callee.RecvRaw(replyWait)
	if err != nil {
		if m, err2 := caller.Recv(200 * time.Millisecond); err2 == nil {
			t.Fatalf("callee got nothing; caller got %q", m.First)
		}
		t.Fatalf("callee got nothing: %v", err)
	}
	if from.String() != s.Addr {
		t.Errorf("forwarded from %s, want the listening socket %s", from, s.Addr)
	}
	fw, err := ParseMsg(string(raw))
	if err != nil {
		t.Fatalf("forwarded request: %v", err)
	}
	if fw.First != "MESSAGE sip:bob@192.0.2.55 SIP/2.0" {
		t.Errorf("request line %q", fw.First)
	}
	vias := fw.All("via")
	if len(vias) != 2 {
		t.Fatalf("forwarded Vias %q, want ours and the caller's", vias)
	}
	if !strings.HasPrefix(vias[0], "SIP/2.0/UDP "+s.Addr+";branch=z9hG4bK") {
		t.Errorf("top Via %q, want SIP/2.0/UDP %s;branch=z9hG4bK…", vias[0], s.Addr)
	}
	if !strings.Contains(vias[1], req.Branch) {
		t.Errorf("second Via %q, want the caller's", vias[1])
	}
	if mf := fw.Get("max-forwards"); mf != "69" {
		t.Errorf("Max-Forwards %q, want 69", mf)
	}
	if _, ok := fw.Lookup("x-remove-me"); ok {
		t.Errorf("X-Remove-Me was not removed")
	}
	for name, want := range map[string]string{"x-keep": "kept", "x-added": "yes", "x-a": "1", "x-b": "2",
		"x-inject-result": "1,-1", "call-id": req.CallID, "cseq": "7 MESSAGE"} {
		if got := fw.Get(name); got != want {
			t.Errorf("forwarded %s = %q, want %q", name, got, want)
		}
	}
	if n := len(fw.All("x-a")); n != 1 {
		t.Errorf("%d X-A headers, want 1 (the refused text must add nothing)", n)
	}
	if strings.Contains(string(raw), "INJECT") {
		t.Errorf("injected text reached the callee:\n%s", raw)
	}
	if fw.Body != "hello bob" || fw.Get("content-length") != "9" {
		t.Errorf("body %q with Content-Length %q", fw.Body, fw.Get("content-length"))
	}

	// The callee answers to the proxy; the caller gets the reply without our Via.
	rpl := string(replyFor(fw, 200, "Callee OK", "callee1"))
	callee.Send(from.String(), []byte(rpl))
	r, err := caller.RecvFor(req.CallID, replyWait)
	if err != nil {
		t.Fatalf("caller got no reply: %v", err)
	}
	if r.Code != 200 || r.Reason != "Callee OK" {
		t.Errorf("caller got %q, want 200 Callee OK", r.First)
	}
	if v := r.All("via"); len(v) != 1 || !strings.Contains(v[0], req.Branch) {
		t.Errorf("reply Vias at the caller %q, want only the caller's", v)
	}
	if !strings.Contains(r.Get("to"), "tag=callee1") {
		t.Errorf("reply To %q", r.Get("to"))
	}
	// The counter moves after the send, so it may trail the caller's receive.
	if n := s.WaitStat("core:fwd_replies", 1, time.Second); n != 1 {
		t.Errorf("core:fwd_replies = %d, want 1", n)
	}
	// A reply whose top Via is not ours is not relayed.
	stray := strings.Replace(rpl, "Via: SIP/2.0/UDP "+s.Addr, "Via: SIP/2.0/UDP 192.0.2.99:5060", 1)
	callee.Send(s.Addr, []byte(stray))
	caller.ExpectNothing(t, 300*time.Millisecond, "reply with a foreign top Via")
}
