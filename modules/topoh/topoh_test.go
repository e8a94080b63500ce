package topoh_test

import (
	"strings"
	"testing"
	"time"

	"github.com/luasbc/luasbc/kemi/kemitest"
	_ "github.com/luasbc/luasbc/modules/corex"
	_ "github.com/luasbc/luasbc/modules/rr"
	_ "github.com/luasbc/luasbc/modules/siputils"
	_ "github.com/luasbc/luasbc/modules/sl"
	_ "github.com/luasbc/luasbc/modules/tm"
	_ "github.com/luasbc/luasbc/modules/topoh"
	"github.com/luasbc/luasbc/modules/topoh/sipraw"
	"github.com/luasbc/luasbc/modules/topoh/thtest"
)

// proxy starts the test proxy with topoh configured by params, plus a
// caller and a callee.
func proxy(t *testing.T, params map[string]any, script string) (*kemitest.Harness, *thtest.Peer, *thtest.Peer) {
	t.Helper()
	mods := thtest.ProxyModules()
	if params == nil {
		params = map[string]any{}
	}
	if _, ok := params["mask_key"]; !ok {
		params["mask_key"] = "test secret"
	}
	mods["topoh"] = params
	if script == "" {
		script = thtest.ProxyScript
	}
	h := kemitest.New(t, script, kemitest.Options{Modules: mods})
	return h, thtest.NewPeer(t, "alice"), thtest.NewPeer(t, "bob")
}

// call sets up a call caller -> proxy -> callee and returns both dialogs and
// what each side received.
type callState struct {
	h              *kemitest.Harness
	caller, callee *thtest.Peer
	proxy          string
	inv, ok200     *thtest.Msg // INVITE at the callee, 200 at the caller
	uac, uas       *thtest.Dialog
}

func setupCall(t *testing.T, h *kemitest.Harness, caller, callee *thtest.Peer) *callState {
	t.Helper()
	proxy := h.Addr.String()
	caller.Send(proxy, caller.Invite(proxy, callee.Addr))
	inv := callee.Expect("INVITE ")
	callee.Send(proxy, callee.Reply(inv, 180, "Ringing", "bt1", ""))
	caller.Expect("SIP/2.0 180")
	callee.Send(proxy, callee.Reply(inv, 200, "OK", "bt1", ""))
	ok := caller.Expect("SIP/2.0 200")
	cs := &callState{h: h, caller: caller, callee: callee, proxy: proxy, inv: inv, ok200: ok,
		uac: thtest.UACDialog(caller, ok, 1), uas: thtest.UASDialog(callee, inv, "bt1", 0)}
	caller.Send(proxy, cs.uac.Request("ACK"))
	callee.Expect("ACK ")
	return cs
}

func TestHidesBothSides(t *testing.T) {
	h, caller, callee := proxy(t, nil, "")
	cs := setupCall(t, h, caller, callee)
	// The callee sees nothing of the caller: no address, its Via and
	// Contact masked, the proxy's Record-Route only.
	if strings.Contains(cs.inv.Raw, caller.Addr) {
		t.Errorf("callee saw the caller's address:\n%s", cs.inv.Raw)
	}
	vias := cs.inv.All("Via")
	if len(vias) != 2 || !strings.Contains(vias[1], "127.0.0.8;branch=z9hG4bKsr-") {
		t.Errorf("callee's Vias = %q, want ours and one masked", vias)
	}
	if c := cs.inv.Get("Contact"); !strings.HasPrefix(c, "<sip:127.0.0.8;line=sr-") {
		t.Errorf("callee's Contact = %q, want masked", c)
	}
	if rr := cs.inv.All("Record-Route"); len(rr) != 1 || !strings.Contains(rr[0], cs.proxy) {
		t.Errorf("callee's Record-Route = %q, want the proxy's", rr)
	}
	// The caller sees nothing of the callee, and its own Via came back.
	if strings.Contains(cs.ok200.Raw, callee.Addr) {
		t.Errorf("caller saw the callee's address:\n%s", cs.ok200.Raw)
	}
	if v := cs.ok200.All("Via"); len(v) != 1 || !strings.Contains(v[0], caller.Addr) {
		t.Errorf("caller's 200 Via = %q, want its own", v)
	}
	if c := cs.ok200.Get("Contact"); !strings.HasPrefix(c, "<sip:127.0.0.8;line=sr-") {
		t.Errorf("caller's Contact = %q, want masked", c)
	}
	// BYE from the caller reaches the callee's real contact; from the callee
	// (next call) the caller's.
	caller.Send(cs.proxy, cs.uac.Request("BYE"))
	bye := callee.Expect("BYE ")
	if bye.RURI != "sip:bob@"+callee.Addr {
		t.Errorf("BYE R-URI at the callee = %q, want its contact", bye.RURI)
	}
	if strings.Contains(bye.Raw, caller.Addr) {
		t.Errorf("callee saw the caller's address in the BYE:\n%s", bye.Raw)
	}
	callee.Send(cs.proxy, callee.Reply(bye, 200, "OK", "", "-"))
	r := caller.Expect("SIP/2.0 200")
	if v := r.All("Via"); len(v) != 1 || !strings.Contains(v[0], caller.Addr) {
		t.Errorf("BYE 200 at the caller: Via %q", v)
	}
}

func TestCalleeHangsUpAndReINVITE(t *testing.T) {
	h, caller, callee := proxy(t, map[string]any{"mask_callid": 1}, "")
	cs := setupCall(t, h, caller, callee)
	callerCID := cs.uac.CallID
	if cs.inv.CallID() == callerCID || !strings.HasPrefix(cs.inv.CallID(), "!!:") {
		t.Errorf("callee's Call-ID = %q, want masked", cs.inv.CallID())
	}
	if cs.ok200.CallID() != callerCID {
		t.Errorf("caller's 200 Call-ID = %q, want %q", cs.ok200.CallID(), callerCID)
	}
	// re-INVITE from the callee, with a new contact.
	callee.Send(cs.proxy, cs.uas.Request("INVITE", "Contact: <sip:bob2@"+callee.Addr+">"))
	re := caller.Expect("INVITE ")
	if re.RURI != "sip:alice@"+caller.Addr || re.CallID() != callerCID {
		t.Errorf("re-INVITE at the caller: R-URI %q Call-ID %q", re.RURI, re.CallID())
	}
	if strings.Contains(re.Raw, callee.Addr) {
		t.Errorf("caller saw the callee's address:\n%s", re.Raw)
	}
	caller.Send(cs.proxy, caller.Reply(re, 200, "OK", "", ""))
	ok := callee.Expect("SIP/2.0 200")
	if ok.CallID() != cs.inv.CallID() {
		t.Errorf("callee's 200 Call-ID = %q, want the masked %q", ok.CallID(), cs.inv.CallID())
	}
	if strings.Contains(ok.Raw, caller.Addr) {
		t.Errorf("callee saw the caller's address:\n%s", ok.Raw)
	}
	callee.Send(cs.proxy, cs.uas.Request("ACK"))
	caller.Expect("ACK ")
	// The callee's new contact is what the caller targets now.
	cs.uac.Target = sipraw.URIOf(re.Get("Contact"))
	caller.Send(cs.proxy, cs.uac.Request("BYE"))
	bye := callee.Expect("BYE ")
	if bye.RURI != "sip:bob2@"+callee.Addr {
		t.Errorf("BYE R-URI = %q, want the refreshed contact", bye.RURI)
	}
}

func TestForgedValuesAreRefused(t *testing.T) {
	h, caller, callee := proxy(t, nil, "")
	cs := setupCall(t, h, caller, callee)
	// Flip one character of the masked part of the target.
	target := cs.uac.Target
	i := strings.Index(target, "line=sr-") + len("line=sr-") + 5
	c := byte('A')
	if target[i] == 'A' {
		c = 'B'
	}
	cs.uac.Target = target[:i] + string(c) + target[i+1:]
	caller.Send(cs.proxy, cs.uac.Request("BYE"))
	caller.Expect("SIP/2.0 481")
	callee.ExpectNothing(300 * time.Millisecond)
	// A made-up value of the right shape is refused too.
	cs.uac.Target = "sip:127.0.0.8;line=sr-AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	caller.Send(cs.proxy, cs.uac.Request("INFO"))
	caller.Expect("SIP/2.0 481")
	callee.ExpectNothing(300 * time.Millisecond)
	// A reply whose masked Via was changed is dropped.
	cs.uac.Target = target
	caller.Send(cs.proxy, cs.uac.Request("INFO"))
	info := callee.Expect("INFO ")
	reply := callee.Reply(info, 200, "OK", "", "-")
	j := strings.Index(reply, "z9hG4bKsr-") + len("z9hG4bKsr-") + 7
	c = 'A'
	if reply[j] == 'A' {
		c = 'B'
	}
	callee.Send(cs.proxy, reply[:j]+string(c)+reply[j+1:])
	caller.ExpectNothing(300 * time.Millisecond)
	// The genuine reply still passes.
	callee.Send(cs.proxy, reply)
	caller.Expect("SIP/2.0 200")
}

func TestEventDropSkipsHiding(t *testing.T) {
	script := thtest.ProxyScript + `
function ksr_topoh_event(ev)
  KSR.info("topoh event " .. ev .. " to " .. KSR.pv.get("$sndto(ip)") .. ":" .. KSR.pv.get("$sndto(port)"))
  if ev == "topoh:msg-sending" and KSR.hdr.is_present("X-NoHide") > 0 then
    KSR.x.drop()
  end
end
`
	h, caller, callee := proxy(t, map[string]any{"event_callback": "ksr_topoh_event"}, script)
	proxy := h.Addr.String()
	invText := caller.Invite(proxy, callee.Addr, "X-NoHide: 1")
	caller.Send(proxy, invText)
	inv := callee.Expect("INVITE ")
	if !strings.Contains(inv.Raw, caller.Addr) {
		t.Errorf("with drop in topoh:msg-sending the INVITE should go unmasked:\n%s", inv.Raw)
	}
	callee.Send(proxy, callee.Reply(inv, 486, "Busy Here", "bt", "-"))
	busy := caller.Expect("SIP/2.0 486")
	caller.Send(proxy, thtest.AckFor(invText, busy))
	callee.Expect("ACK ")
	caller.Send(proxy, caller.Invite(proxy, callee.Addr))
	inv = callee.Expect("INVITE ")
	if strings.Contains(inv.Raw, caller.Addr) {
		t.Errorf("without drop the INVITE must be masked:\n%s", inv.Raw)
	}
	if !h.LogContains("topoh event topoh:msg-outgoing to 127.0.0.1:") || !h.LogContains("topoh event topoh:msg-sending") {
		t.Errorf("events not logged")
	}
}

func TestTwoNodesShareTheKey(t *testing.T) {
	params := map[string]any{"mask_key": "shared"}
	hA, caller, callee := proxy(t, params, "")
	cs := setupCall(t, hA, caller, callee)
	// Node B (same key, and node A's address as an alias, as two nodes
	// behind one name) routes the BYE it never saw the dialog of.
	mods := thtest.ProxyModules()
	mods["topoh"] = map[string]any{"mask_key": "shared"}
	hB := kemitest.New(t, thtest.ProxyScript, kemitest.Options{Modules: mods,
		Extra: `alias: ["` + cs.proxy + `"]`})
	caller.Send(hB.Addr.String(), cs.uac.Request("BYE"))
	bye := callee.Expect("BYE ")
	if bye.RURI != "sip:bob@"+callee.Addr {
		t.Errorf("BYE via node B: R-URI %q", bye.RURI)
	}
	// A node with another key refuses the masked values.
	mods["topoh"] = map[string]any{"mask_key": "other"}
	hC := kemitest.New(t, thtest.ProxyScript, kemitest.Options{Modules: mods,
		Extra: `alias: ["` + cs.proxy + `"]`})
	caller.Send(hC.Addr.String(), cs.uac.Request("BYE"))
	caller.Expect("SIP/2.0 481")
}

// Proxies on either side: each side sees the other side's Record-Route
// entries masked and its own in clear, and in-dialog requests reach the
// destination side's proxy with its Route in clear.
func TestRecordRouteFlip(t *testing.T) {
	h, caller, callee := proxy(t, nil, "")
	pa, pb := thtest.NewPeer(t, "pa"), thtest.NewPeer(t, "pb")
	addr := h.Addr.String()
	caller.Send(addr, caller.Invite(addr, callee.Addr, "Record-Route: <sip:"+pa.Addr+";lr>"))
	inv := callee.Expect("INVITE ")
	rr := inv.All("Record-Route")
	if len(rr) != 2 || !strings.Contains(rr[0], addr) || !strings.Contains(rr[1], "127.0.0.8;line=sr-") {
		t.Errorf("INVITE at the callee: Record-Route %q, want ours and the caller side's masked", rr)
	}
	reply := callee.Reply(inv, 200, "OK", "bt1", "")
	reply = strings.Replace(reply, "Record-Route:", "Record-Route: <sip:"+pb.Addr+";lr>\nRecord-Route:", 1)
	callee.Send(addr, reply)
	ok := caller.Expect("SIP/2.0 200")
	rr = ok.All("Record-Route")
	if len(rr) != 3 || !strings.Contains(rr[0], "127.0.0.8;line=sr-") || !strings.Contains(rr[1], addr) ||
		rr[2] != "<sip:"+pa.Addr+";lr>" {
		t.Errorf("200 at the caller: Record-Route %q, want the callee side's masked, ours, the caller side's", rr)
	}
	if strings.Contains(ok.Raw, pb.Addr) || strings.Contains(ok.Raw, callee.Addr) {
		t.Errorf("200 at the caller shows the callee side:\n%s", ok.Raw)
	}
	// The caller's BYE along its route set minus pa (which would have
	// consumed its entry): ours, then the masked pb.
	uac := thtest.UACDialog(caller, ok, 1)
	uac.Routes = uac.Routes[1:]
	caller.Send(addr, uac.Request("BYE"))
	bye := pb.Expect("BYE ")
	if bye.RURI != "sip:bob@"+callee.Addr || !strings.Contains(bye.Get("Route"), pb.Addr) {
		t.Errorf("BYE at the callee side's proxy:\n%s", bye.Raw)
	}
}

// $th(ecallid) is the Call-ID as topoh masks it: the same text for the same
// Call-ID, never the Call-ID itself.
func TestECallIDPV(t *testing.T) {
	script := `
function ksr_request_route()
  KSR.hdr.append_to_reply("X-E: " .. KSR.pv.get("$th(ecallid)") .. "\r\n")
  KSR.sl.sl_send_reply(200, "OK")
end
`
	h, caller, _ := proxy(t, map[string]any{"use_mode": 1}, script)
	addr := h.Addr.String()
	req := caller.Initial("OPTIONS", addr, "x")
	var got []string
	for i := 0; i < 2; i++ {
		caller.Send(addr, req)
		r := caller.Expect("SIP/2.0 200")
		got = append(got, r.Get("X-E"))
		if !strings.HasPrefix(got[i], "!!:") || strings.Contains(got[i], r.CallID()) {
			t.Errorf("$th(ecallid) = %q for Call-ID %q", got[i], r.CallID())
		}
	}
	if got[0] != got[1] {
		t.Errorf("$th(ecallid) differs for the same Call-ID: %q %q", got[0], got[1])
	}
}
