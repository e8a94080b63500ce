package rtpengine

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/luasbc/luasbc/core/rpc"
	"github.com/luasbc/luasbc/kemi/kemitest"
	_ "github.com/luasbc/luasbc/modules/sl"
	_ "github.com/luasbc/luasbc/modules/tm"
)

type peer = kemitest.Peer

var newPeer = kemitest.NewPeer

func body(m string) string {
	_, b, _ := strings.Cut(m, "\r\n\r\n")
	return b
}

// checkCL fails unless Content-Length matches the body.
func checkCL(t *testing.T, m string) {
	t.Helper()
	cl := kemitest.Headers(m, "Content-Length")
	if len(cl) != 1 || cl[0] != strconv.Itoa(len(body(m))) {
		t.Fatalf("Content-Length %v for a body of %d bytes:\n%s", cl, len(body(m)), m)
	}
}

func withBody(head, b string) string {
	return kemitest.CRLF(head) + "Content-Type: application/sdp\r\nContent-Length: " + strconv.Itoa(len(b)) + "\r\n\r\n" + b
}

const mediaScript = `
function ksr_request_route()
	if KSR.is_ACK() then
		if KSR.tm.t_check_trans() > 0 then KSR.tm.t_relay() end
		return
	end
	if KSR.tm.t_check_trans() == 0 then return end
	if KSR.is_INVITE() then
		local rc = KSR.rtpengine.rtpengine_manage("trust-address replace-origin replace-session-connection ICE=remove RTP/AVP")
		if rc < 0 then
			if KSR.pv.get("$hdr(X-Anchor)") == "optional" then
				KSR.info("media not anchored\n")
			else
				KSR.sl.sl_send_reply(488, "Not Acceptable Here")
				return
			end
		end
		KSR.tm.t_on_reply("media_reply")
		KSR.tm.t_on_failure("media_failure")
	elseif KSR.is_BYE() then
		KSR.rtpengine.rtpengine_manage("")
	elseif KSR.is_OPTIONS() then
		local r = KSR.rtpengine.rtpengine_query_v("j", "$var(q)")
		KSR.hdr.append_to_reply("X-Query: " .. r .. " " .. KSR.pv.get("$var(q)") .. "\r\n")
		KSR.hdr.append_to_reply("X-Stat: " .. KSR.pv.get("$rtpstat") .. "\r\n")
		KSR.sl.sl_send_reply(200, "OK")
		return
	end
	KSR.pv.sets("$du", "sip:127.0.0.1:CALLEE")
	if KSR.tm.t_relay() < 0 then KSR.sl.sl_reply_error() end
end

function media_reply()
	KSR.rtpengine.rtpengine_manage("trust-address replace-origin replace-session-connection")
end

function media_failure()
	KSR.rtpengine.rtpengine_manage("")
end
`

func startMedia(t *testing.T, ng *fakeNG, callee *peer, extra map[string]any) *kemitest.Harness {
	mod := map[string]any{"rtpengine_sock": ng.url(), "rtpengine_tout_ms": 100, "rtpengine_retr": 2}
	for k, v := range extra {
		mod[k] = v
	}
	return kemitest.New(t, strings.ReplaceAll(mediaScript, "CALLEE", strconv.Itoa(callee.Port())), kemitest.Options{
		Modules: map[string]map[string]any{"sl": nil, "tm": {"fr_timer": 1000, "fr_inv_timer": 2000}, "rtpengine": mod},
	})
}

func inviteWith(caller *peer, sport int, callid, sdp, extra string) string {
	head := fmt.Sprintf(`INVITE sip:bob@127.0.0.1:%d SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-%s;rport
From: <sip:alice@example.com>;tag=alice1
To: <sip:bob@example.com>
Call-ID: %s
CSeq: 1 INVITE
Contact: <sip:alice@127.0.0.1:%d>
Max-Forwards: 70
%s`, sport, caller.Port(), callid, callid, caller.Port(), extra)
	return withBody(head, sdp)
}

// replyTo builds a callee's reply to req with an SDP body.
func replyTo(req string, code int, reason, sdp string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "SIP/2.0 %d %s\r\n", code, reason)
	for _, v := range kemitest.Headers(req, "Via") {
		b.WriteString("Via: " + v + "\r\n")
	}
	b.WriteString("From: " + kemitest.Headers(req, "From")[0] + "\r\n")
	b.WriteString("To: " + kemitest.Headers(req, "To")[0] + ";tag=bob1\r\n")
	b.WriteString("Call-ID: " + kemitest.Headers(req, "Call-ID")[0] + "\r\n")
	b.WriteString("CSeq: " + kemitest.Headers(req, "CSeq")[0] + "\r\n")
	if sdp == "" {
		return b.String() + "Content-Length: 0\r\n\r\n"
	}
	return b.String() + "Content-Type: application/sdp\r\nContent-Length: " + strconv.Itoa(len(sdp)) + "\r\n\r\n" + sdp
}

func TestOfferAnswerDeleteThroughTM(t *testing.T) {
	ng := newFakeNG(t)
	caller, callee := newPeer(t), newPeer(t)
	h := startMedia(t, ng, callee, nil)
	caller.Send(h.Addr, inviteWith(caller, h.ServerPort(), "call-oad", goodSDP, ""))
	inv := callee.Expect("INVITE ", 2*time.Second)
	checkCL(t, inv)
	if b := body(inv); b != fakeSDP(40000+ng.port()%1000) {
		t.Fatalf("forwarded INVITE body is not rtpengine's SDP:\n%s", b)
	}
	offer := ng.commands()[0]
	if offer["command"] != "offer" || offer["call-id"] != "call-oad" || offer["from-tag"] != "alice1" || offer["sdp"] != goodSDP ||
		offer["ICE"] != "remove" || offer["transport protocol"] != "RTP/AVP" {
		t.Fatalf("offer command: %#v", offer)
	}
	if rf, _ := offer["received from"].([]any); len(rf) != 2 || rf[0] != "IP4" || rf[1] != "127.0.0.1" {
		t.Errorf("received from: %#v", offer["received from"])
	}
	if _, has := offer["to-tag"]; has {
		t.Error("offer of an initial INVITE carries a to-tag")
	}
	calleeSDP := strings.ReplaceAll(goodSDP, "192.0.2.10", "192.0.2.20")
	callee.Send(h.Addr, replyTo(inv, 200, "OK", calleeSDP))
	ok := caller.Expect("SIP/2.0 200", 2*time.Second)
	checkCL(t, ok)
	if b := body(ok); b != fakeSDP(40000+ng.port()%1000) {
		t.Fatalf("relayed 200 body is not rtpengine's SDP:\n%s", b)
	}
	cmds := ng.commands()
	ans := cmds[len(cmds)-1]
	if ans["command"] != "answer" || ans["to-tag"] != "bob1" || ans["sdp"] != calleeSDP {
		t.Fatalf("answer command: %#v", ans)
	}
	bye := fmt.Sprintf("BYE sip:bob@127.0.0.1:%d SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-bye1;rport\nFrom: <sip:alice@example.com>;tag=alice1\nTo: <sip:bob@example.com>;tag=bob1\nCall-ID: call-oad\nCSeq: 2 BYE\nMax-Forwards: 70\nContent-Length: 0\n\n", h.ServerPort(), caller.Port())
	caller.Send(h.Addr, bye)
	callee.Expect("BYE ", 2*time.Second)
	cmds = ng.commands()
	del := cmds[len(cmds)-1]
	if del["command"] != "delete" || del["call-id"] != "call-oad" {
		t.Fatalf("delete: %#v", del)
	}
	if _, has := del["to-tag"]; has {
		t.Error("delete carries a to-tag without the to-tag flag")
	}
}

func TestMalformedSDPGets488(t *testing.T) {
	ng := newFakeNG(t)
	caller, callee := newPeer(t), newPeer(t)
	h := startMedia(t, ng, callee, nil)
	caller.Send(h.Addr, inviteWith(caller, h.ServerPort(), "call-bad", "v=0\r\nthis is not sdp\r\n", ""))
	caller.Expect("SIP/2.0 488", 2*time.Second)
	if len(ng.commands()) != 0 {
		t.Errorf("malformed SDP was sent to rtpengine: %v", ng.commands())
	}
	if !h.LogContains("malformed SDP") {
		t.Error("no log line names the malformed SDP")
	}
}

func TestRtpengineDownScriptChooses(t *testing.T) {
	ng := newFakeNG(t)
	ng.silent()
	caller, callee := newPeer(t), newPeer(t)
	h := startMedia(t, ng, callee, nil)
	// Fail cleanly: 488 within the bounded retries (2 x 100ms).
	start := time.Now()
	caller.Send(h.Addr, inviteWith(caller, h.ServerPort(), "call-down1", goodSDP, ""))
	caller.Expect("SIP/2.0 488", 2*time.Second)
	if el := time.Since(start); el > time.Second {
		t.Errorf("488 after %v", el)
	}
	if !h.LogContains("rtpengine: offer failed") {
		t.Error("no log line for the failed offer")
	}
	// Proceed without anchoring: the INVITE goes on with its own SDP.
	caller.Send(h.Addr, inviteWith(caller, h.ServerPort(), "call-down2", goodSDP, "X-Anchor: optional\n"))
	inv := callee.Expect("INVITE ", 2*time.Second)
	if body(inv) != goodSDP {
		t.Fatalf("unanchored INVITE changed its SDP:\n%s", body(inv))
	}
}

func TestFailureRouteDeletes(t *testing.T) {
	ng := newFakeNG(t)
	caller, callee := newPeer(t), newPeer(t)
	h := startMedia(t, ng, callee, nil)
	caller.Send(h.Addr, inviteWith(caller, h.ServerPort(), "call-busy", goodSDP, ""))
	inv := callee.Expect("INVITE ", 2*time.Second)
	callee.Send(h.Addr, replyTo(inv, 486, "Busy Here", ""))
	caller.Expect("SIP/2.0 486", 2*time.Second)
	// The reply route (486 to an INVITE) and the failure route each delete.
	deadline := time.Now().Add(time.Second)
	for ng.count("delete") < 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if ng.count("delete") < 1 {
		t.Fatalf("no delete after a failed call: %v", ng.commands())
	}
}

func TestQueryAndRPC(t *testing.T) {
	ng := newFakeNG(t)
	caller, callee := newPeer(t), newPeer(t)
	h := startMedia(t, ng, callee, nil)
	opt := fmt.Sprintf("OPTIONS sip:x@127.0.0.1:%d SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-o1\nFrom: <sip:a@x>;tag=qt\nTo: <sip:x@x>\nCall-ID: q-1\nCSeq: 1 OPTIONS\nContent-Length: 0\n\n", h.ServerPort(), caller.Port())
	caller.Send(h.Addr, opt)
	r := caller.Expect("SIP/2.0 200", 2*time.Second)
	if q := kemitest.Headers(r, "X-Query"); len(q) != 1 || !strings.HasPrefix(q[0], `1 {`) || !strings.Contains(q[0], `"packets":10`) {
		t.Errorf("X-Query %v", q)
	}
	if s := kemitest.Headers(r, "X-Stat"); len(s) != 1 || s[0] != "RTP: 1000 bytes, 10 packets, 0 errors; RTCP: 100 bytes, 1 packets, 0 errors" {
		t.Errorf("X-Stat %v", s)
	}
	call := func(method string, params ...any) (any, error) {
		var raw []json.RawMessage
		for _, p := range params {
			b, _ := json.Marshal(p)
			raw = append(raw, b)
		}
		res, rerr := h.RPC.Call(context.Background(), method, rpc.Params(raw))
		if rerr != nil {
			return nil, rerr
		}
		return res, nil
	}
	res, err := call("rtpengine.show", "all")
	if err != nil {
		t.Fatal(err)
	}
	ns := res.([]nodeInfo)
	if len(ns) != 1 || ns[0].URL != ng.url() || ns[0].Disabled != 0 || ns[0].Weight != 1 {
		t.Fatalf("show: %+v", ns)
	}
	if _, err := call("rtpengine.enable", ng.url(), 0); err != nil {
		t.Fatal(err)
	}
	res, _ = call("rtpengine.show", ng.url())
	if n := res.([]nodeInfo)[0]; n.Disabled != 1 || !n.Permanent {
		t.Fatalf("after enable 0: %+v", n)
	}
	// Disabled: the INVITE fails at once (no instance), 488.
	caller.Send(h.Addr, inviteWith(caller, h.ServerPort(), "call-dis", goodSDP, ""))
	caller.Expect("SIP/2.0 488", 2*time.Second)
	if _, err := call("rtpengine.enable", "all", 1); err != nil {
		t.Fatal(err)
	}
	res, _ = call("rtpengine.ping", "all")
	if b, _ := json.Marshal(res); !strings.Contains(string(b), `"ping":"success"`) {
		t.Errorf("ping: %s", b)
	}
	if _, err := call("rtpengine.show", "udp:1.2.3.4:5"); err == nil {
		t.Error("show of an unknown URL succeeded")
	}
	if _, err := call("rtpengine.reload"); err == nil {
		t.Error("reload without db_url succeeded")
	}
	ng.silent()
	res, _ = call("rtpengine.ping", "all")
	if b, _ := json.Marshal(res); !strings.Contains(string(b), `"ping":"fail"`) {
		t.Errorf("ping of a silent instance: %s", b)
	}
	if _, err := call("rtpengine.enable", "all", 1); err == nil {
		t.Error("enable of a silent instance succeeded")
	}
	if n, _ := call("rtpengine.get_hash_total"); n.(int) < 0 {
		t.Error("hash total")
	}
}
