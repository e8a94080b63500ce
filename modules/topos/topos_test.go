package topos_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/luasbc/luasbc/core/stats"
	"github.com/luasbc/luasbc/kemi/kemitest"
	_ "github.com/luasbc/luasbc/modules/corex"
	_ "github.com/luasbc/luasbc/modules/rr"
	_ "github.com/luasbc/luasbc/modules/siputils"
	_ "github.com/luasbc/luasbc/modules/sl"
	_ "github.com/luasbc/luasbc/modules/tm"
	_ "github.com/luasbc/luasbc/modules/topoh"
	"github.com/luasbc/luasbc/modules/topoh/sipraw"
	"github.com/luasbc/luasbc/modules/topoh/thtest"
	_ "github.com/luasbc/luasbc/modules/topos"
)

// node is one proxy running topos.
type node struct {
	h    *kemitest.Harness
	addr string
}

type opts struct {
	params map[string]any
	script string
	extra  string
	topoh  map[string]any
}

func newNode(t *testing.T, o opts) *node {
	t.Helper()
	mods := thtest.ProxyModules()
	if o.params == nil {
		o.params = map[string]any{}
	}
	mods["topos"] = o.params
	if o.topoh != nil {
		mods["topoh"] = o.topoh
	}
	if o.script == "" {
		o.script = thtest.ProxyScript
	}
	h := kemitest.New(t, o.script, kemitest.Options{Modules: mods, Extra: o.extra})
	return &node{h: h, addr: h.Addr.String()}
}

// call is an established call caller -> node -> callee.
type call struct {
	n              *node
	caller, callee *thtest.Peer
	inv, ok200     *thtest.Msg
	uac, uas       *thtest.Dialog
}

// setup runs INVITE, 180, 200 and ACK; extra goes into the INVITE.
func setup(t *testing.T, n *node, caller, callee *thtest.Peer, extra ...string) *call {
	t.Helper()
	caller.Send(n.addr, caller.Invite(n.addr, callee.Addr, extra...))
	inv := callee.Expect("INVITE ")
	callee.Send(n.addr, callee.Reply(inv, 180, "Ringing", "bt1", ""))
	caller.Expect("SIP/2.0 180")
	callee.Send(n.addr, callee.Reply(inv, 200, "OK", "bt1", ""))
	ok := caller.Expect("SIP/2.0 200")
	c := &call{n: n, caller: caller, callee: callee, inv: inv, ok200: ok,
		uac: thtest.UACDialog(caller, ok, 1), uas: thtest.UASDialog(callee, inv, "bt1", 0)}
	caller.Send(n.addr, c.uac.Request("ACK"))
	ack := callee.Expect("ACK ")
	noLeak(t, "ACK at the callee", ack.Raw, caller.Addr)
	return c
}

// noLeak fails when text contains any of the addresses.
func noLeak(t *testing.T, what, text string, addrs ...string) {
	t.Helper()
	for _, a := range addrs {
		if strings.Contains(text, a) {
			t.Errorf("%s shows %s:\n%s", what, a, text)
		}
	}
}

// stripped checks what a side receives from the proxy: one Via (the
// proxy's) for requests, no Record-Route, and a Contact of ours.
func stripped(t *testing.T, what string, m *thtest.Msg, n *node, side string) {
	t.Helper()
	if m.Request {
		if v := m.All("Via"); len(v) != 1 || !strings.Contains(v[0], n.addr) {
			t.Errorf("%s: Via %q, want only the proxy's", what, v)
		}
	}
	if rr := m.All("Record-Route"); len(rr) != 0 {
		t.Errorf("%s: Record-Route %q, want none", what, rr)
	}
	if c := m.Get("Contact"); c != "" && !strings.HasPrefix(c, "<sip:"+side+"tpsh-") {
		t.Errorf("%s: Contact %q, want <sip:%stpsh-...>", what, c, side)
	}
}

func TestCallerHangsUp(t *testing.T) {
	n := newNode(t, opts{})
	caller, callee := thtest.NewPeer(t, "alice"), thtest.NewPeer(t, "bob")
	c := setup(t, n, caller, callee)
	stripped(t, "INVITE at the callee", c.inv, n, "b")
	noLeak(t, "INVITE at the callee", c.inv.Raw, caller.Addr)
	stripped(t, "200 at the caller", c.ok200, n, "a")
	noLeak(t, "200 at the caller", c.ok200.Raw, callee.Addr)
	if v := c.ok200.All("Via"); len(v) != 1 || !strings.Contains(v[0], caller.Addr) {
		t.Errorf("200 at the caller: Via %q, want its own", v)
	}
	caller.Send(n.addr, c.uac.Request("BYE"))
	bye := callee.Expect("BYE ")
	if bye.RURI != "sip:bob@"+callee.Addr {
		t.Errorf("BYE at the callee: R-URI %q", bye.RURI)
	}
	stripped(t, "BYE at the callee", bye, n, "b")
	noLeak(t, "BYE at the callee", bye.Raw, caller.Addr)
	callee.Send(n.addr, callee.Reply(bye, 200, "OK", "", "-"))
	r := caller.Expect("SIP/2.0 200")
	noLeak(t, "BYE 200 at the caller", r.Raw, callee.Addr)
}

func TestCalleeHangsUp(t *testing.T) {
	n := newNode(t, opts{})
	caller, callee := thtest.NewPeer(t, "alice"), thtest.NewPeer(t, "bob")
	c := setup(t, n, caller, callee)
	callee.Send(n.addr, c.uas.Request("BYE"))
	bye := caller.Expect("BYE ")
	if bye.RURI != "sip:alice@"+caller.Addr {
		t.Errorf("BYE at the caller: R-URI %q", bye.RURI)
	}
	stripped(t, "BYE at the caller", bye, n, "a")
	noLeak(t, "BYE at the caller", bye.Raw, callee.Addr)
	caller.Send(n.addr, caller.Reply(bye, 200, "OK", "", "-"))
	r := callee.Expect("SIP/2.0 200")
	noLeak(t, "BYE 200 at the callee", r.Raw, caller.Addr)
	if v := r.All("Via"); len(v) != 1 || !strings.Contains(v[0], callee.Addr) {
		t.Errorf("BYE 200 at the callee: Via %q, want its own", v)
	}
}

// Early dialog: 183 with 100rel, PRACK from the caller, UPDATE from the
// callee before the answer, then the answer.
func TestEarlyDialogPRACKAndUpdate(t *testing.T) {
	n := newNode(t, opts{})
	caller, callee := thtest.NewPeer(t, "alice"), thtest.NewPeer(t, "bob")
	caller.Send(n.addr, caller.Invite(n.addr, callee.Addr, "Supported: 100rel"))
	inv := callee.Expect("INVITE ")
	callee.Send(n.addr, callee.Reply(inv, 183, "Session Progress", "bt1", "", "Require: 100rel", "RSeq: 1"))
	p183 := caller.Expect("SIP/2.0 183")
	stripped(t, "183 at the caller", p183, n, "a")
	uac := thtest.UACDialog(caller, p183, 1)
	uas := thtest.UASDialog(callee, inv, "bt1", 0)
	caller.Send(n.addr, uac.Request("PRACK", "RAck: 1 1 INVITE"))
	pr := callee.Expect("PRACK ")
	if pr.RURI != "sip:bob@"+callee.Addr {
		t.Errorf("PRACK R-URI %q", pr.RURI)
	}
	stripped(t, "PRACK at the callee", pr, n, "b")
	if pr.Get("Contact") != "" {
		t.Errorf("PRACK got a Contact (methods_nocontact): %q", pr.Get("Contact"))
	}
	callee.Send(n.addr, callee.Reply(pr, 200, "OK", "", "-"))
	caller.Expect("SIP/2.0 200")
	// UPDATE from the callee in the early dialog.
	callee.Send(n.addr, uas.Request("UPDATE"))
	up := caller.Expect("UPDATE ")
	if up.RURI != "sip:alice@"+caller.Addr {
		t.Errorf("early UPDATE R-URI %q", up.RURI)
	}
	stripped(t, "UPDATE at the caller", up, n, "a")
	noLeak(t, "UPDATE at the caller", up.Raw, callee.Addr)
	caller.Send(n.addr, caller.Reply(up, 200, "OK", "", ""))
	uok := callee.Expect("SIP/2.0 200")
	noLeak(t, "UPDATE 200 at the callee", uok.Raw, caller.Addr)
	// The answer; then an UPDATE from the caller in the confirmed dialog.
	callee.Send(n.addr, callee.Reply(inv, 200, "OK", "bt1", ""))
	caller.Expect("SIP/2.0 200")
	caller.Send(n.addr, uac.Request("ACK"))
	callee.Expect("ACK ")
	caller.Send(n.addr, uac.Request("UPDATE"))
	up = callee.Expect("UPDATE ")
	stripped(t, "UPDATE at the callee", up, n, "b")
	callee.Send(n.addr, callee.Reply(up, 200, "OK", "", ""))
	caller.Expect("SIP/2.0 200")
	caller.Send(n.addr, uac.Request("BYE"))
	callee.Expect("BYE ")
}

// A re-INVITE that fails leaves the stored contact alone; one that succeeds
// replaces it.
func TestReINVITE(t *testing.T) {
	n := newNode(t, opts{})
	caller, callee := thtest.NewPeer(t, "alice"), thtest.NewPeer(t, "bob")
	c := setup(t, n, caller, callee)
	dead := thtest.NewPeer(t, "dead")
	// Callee re-INVITE with a contact elsewhere, refused by the caller.
	callee.Send(n.addr, c.uas.Request("INVITE", "Contact: <sip:moved@"+dead.Addr+">"))
	re := caller.Expect("INVITE ")
	stripped(t, "re-INVITE at the caller", re, n, "a")
	noLeak(t, "re-INVITE at the caller", re.Raw, callee.Addr, dead.Addr)
	caller.Send(n.addr, caller.Reply(re, 488, "Not Acceptable Here", "", "-"))
	callee.Expect("SIP/2.0 488")
	caller.Expect("ACK ") // the proxy's hop-by-hop ACK
	// The caller's next request still reaches the callee where it was.
	caller.Send(n.addr, c.uac.Request("INFO"))
	info := callee.Expect("INFO ")
	if info.RURI != "sip:bob@"+callee.Addr {
		t.Errorf("after a failed re-INVITE the callee is reached at %q", info.RURI)
	}
	callee.Send(n.addr, callee.Reply(info, 200, "OK", "", "-"))
	caller.Expect("SIP/2.0 200")
	// A successful caller re-INVITE with a new contact of the caller.
	caller.Send(n.addr, c.uac.Request("INVITE", "Contact: <sip:alice2@"+caller.Addr+">"))
	re = callee.Expect("INVITE ")
	stripped(t, "caller re-INVITE at the callee", re, n, "b")
	callee.Send(n.addr, callee.Reply(re, 200, "OK", "", "sip:bob2@"+callee.Addr))
	ok := caller.Expect("SIP/2.0 200")
	noLeak(t, "re-INVITE 200 at the caller", ok.Raw, callee.Addr)
	caller.Send(n.addr, c.uac.Request("ACK"))
	if a := callee.Expect("ACK "); a.RURI != "sip:bob2@"+callee.Addr {
		t.Errorf("ACK after the re-INVITE goes to %q, want the new contact", a.RURI)
	}
	callee.Send(n.addr, c.uas.Request("BYE"))
	if b := caller.Expect("BYE "); b.RURI != "sip:alice2@"+caller.Addr {
		t.Errorf("callee's BYE goes to %q, want the caller's new contact", b.RURI)
	}
}

func TestCancel(t *testing.T) {
	n := newNode(t, opts{})
	caller, callee := thtest.NewPeer(t, "alice"), thtest.NewPeer(t, "bob")
	invText := caller.Invite(n.addr, callee.Addr)
	caller.Send(n.addr, invText)
	inv := callee.Expect("INVITE ")
	callee.Send(n.addr, callee.Reply(inv, 180, "Ringing", "bt1", ""))
	caller.Expect("SIP/2.0 180")
	// CANCEL: same Via branch, Call-ID, From, To, CSeq number as the INVITE.
	lines := strings.Split(strings.ReplaceAll(invText, "\r\n", "\n"), "\n")
	var cancel strings.Builder
	cancel.WriteString(strings.Replace(lines[0], "INVITE", "CANCEL", 1) + "\n")
	for _, l := range lines[1:] {
		switch {
		case strings.HasPrefix(l, "Via:"), strings.HasPrefix(l, "From:"), strings.HasPrefix(l, "To:"),
			strings.HasPrefix(l, "Call-ID:"), strings.HasPrefix(l, "Max-Forwards:"):
			cancel.WriteString(l + "\n")
		case strings.HasPrefix(l, "CSeq:"):
			cancel.WriteString("CSeq: 1 CANCEL\n")
		}
	}
	cancel.WriteString("Content-Length: 0\n\n")
	caller.Send(n.addr, cancel.String())
	caller.Expect("SIP/2.0 200")
	cn := callee.Expect("CANCEL ")
	noLeak(t, "CANCEL at the callee", cn.Raw, caller.Addr)
	callee.Send(n.addr, callee.Reply(cn, 200, "OK", "", "-"))
	callee.Send(n.addr, callee.Reply(inv, 487, "Request Terminated", "bt1", "-"))
	r := caller.Expect("SIP/2.0 487")
	noLeak(t, "487 at the caller", r.Raw, callee.Addr)
	if v := r.All("Via"); len(v) != 1 || !strings.Contains(v[0], caller.Addr) {
		t.Errorf("487 Via %q", v)
	}
	callee.Expect("ACK ")
}

func TestParallelFork(t *testing.T) {
	n := newNode(t, opts{})
	caller, b1, b2 := thtest.NewPeer(t, "alice"), thtest.NewPeer(t, "bob"), thtest.NewPeer(t, "carol")
	caller.Send(n.addr, caller.Invite(n.addr, b1.Addr, "X-Dst2: sip:"+b2.Addr))
	i1, i2 := b1.Expect("INVITE "), b2.Expect("INVITE ")
	c1, c2 := i1.Get("Contact"), i2.Get("Contact")
	if c1 == c2 {
		t.Errorf("both branches got the same contact %q: a dialog each is expected", c1)
	}
	noLeak(t, "INVITE at callee 2", i2.Raw, caller.Addr, b1.Addr)
	noLeak(t, "INVITE at callee 1", i1.Raw, caller.Addr, b2.Addr)
	b2.Send(n.addr, b2.Reply(i2, 180, "Ringing", "c2", ""))
	caller.Expect("SIP/2.0 180")
	b1.Send(n.addr, b1.Reply(i1, 200, "OK", "c1", ""))
	ok := caller.Expect("SIP/2.0 200")
	noLeak(t, "200 at the caller", ok.Raw, b1.Addr, b2.Addr)
	cn := b2.Expect("CANCEL ")
	b2.Send(n.addr, b2.Reply(cn, 200, "OK", "", "-"))
	b2.Send(n.addr, b2.Reply(i2, 487, "Request Terminated", "c2", "-"))
	b2.Expect("ACK ")
	uac := thtest.UACDialog(caller, ok, 1)
	caller.Send(n.addr, uac.Request("ACK"))
	b1.Expect("ACK ")
	caller.Send(n.addr, uac.Request("BYE"))
	if bye := b1.Expect("BYE "); bye.RURI != "sip:bob@"+b1.Addr {
		t.Errorf("BYE to the answering branch went to %q", bye.RURI)
	}
	caller.ExpectNothing(200 * time.Millisecond)
}

func TestOutOfDialogRequest(t *testing.T) {
	n := newNode(t, opts{})
	caller, callee := thtest.NewPeer(t, "alice"), thtest.NewPeer(t, "bob")
	caller.Send(n.addr, caller.Initial("MESSAGE", n.addr, callee.Addr))
	m := callee.Expect("MESSAGE ")
	stripped(t, "MESSAGE at the callee", m, n, "b")
	noLeak(t, "MESSAGE at the callee", m.Raw, caller.Addr)
	callee.Send(n.addr, callee.Reply(m, 200, "OK", "m1", "-"))
	r := caller.Expect("SIP/2.0 200")
	noLeak(t, "MESSAGE 200 at the caller", r.Raw, callee.Addr)
	if v := r.All("Via"); len(v) != 1 || !strings.Contains(v[0], caller.Addr) {
		t.Errorf("MESSAGE 200 Via %q", v)
	}
}

func TestUnknownDialogs(t *testing.T) {
	n := newNode(t, opts{})
	caller, callee := thtest.NewPeer(t, "alice"), thtest.NewPeer(t, "bob")
	for _, target := range []string{
		"sip:atpsh-aaaaaaaaaaaaaaaaaaaaaaaa@" + n.addr, // well formed, never issued
		"sip:btpsh-zz@" + n.addr,                       // malformed id
		"sip:atpsh-AAAAAAAAAAAAAAAAAAAAAAAA@" + n.addr, // wrong alphabet
	} {
		d := &thtest.Dialog{Me: caller, CallID: "x@y", Local: "<sip:a@b>;tag=1", Remote: "<sip:c@d>;tag=2",
			Target: target, CSeq: 5}
		caller.Send(n.addr, d.Request("BYE"))
		caller.Expect("SIP/2.0 481")
		caller.Send(n.addr, d.Request("ACK"))
		caller.ExpectNothing(200 * time.Millisecond)
	}
	callee.ExpectNothing(100 * time.Millisecond)
	// A known key with another Call-ID is refused too.
	c := setup(t, n, caller, callee)
	c.uac.CallID = "other@call"
	caller.Send(n.addr, c.uac.Request("BYE"))
	caller.Expect("SIP/2.0 481")
	callee.ExpectNothing(200 * time.Millisecond)
}

// A reply to a request topos did not strip (a keepalive of another module)
// passes as it is; a reply to a stripped request (our Via is marked) whose
// branch record is gone is dropped, never relayed unrestored.
func TestReplyWithoutRecord(t *testing.T) {
	n := newNode(t, opts{})
	caller, callee := thtest.NewPeer(t, "alice"), thtest.NewPeer(t, "bob")
	reply := func(mark string) string {
		return "SIP/2.0 200 OK\nVia: SIP/2.0/UDP " + n.addr + ";branch=z9hG4bKtm0123456789abcdef.0" + mark + "\n" +
			"From: <sip:a@b>;tag=1\nTo: <sip:c@d>;tag=2\nCall-ID: nope\nCSeq: 1 OPTIONS\nContent-Length: 0\n\n"
	}
	unknown, dropped := stats.Lookup("topos:unknown_replies"), stats.Lookup("topos:dropped_replies")
	callee.Send(n.addr, reply(""))
	callee.Send(n.addr, reply(";tps"))
	callee.ExpectNothing(200 * time.Millisecond)
	caller.ExpectNothing(10 * time.Millisecond)
	if !waitStat(t, "topos:unknown_replies", unknown+1) || !waitStat(t, "topos:dropped_replies", dropped+1) {
		t.Errorf("the two replies were not told apart")
	}
	// The stripped INVITE carries the mark.
	caller.Send(n.addr, caller.Invite(n.addr, callee.Addr))
	if v := callee.Expect("INVITE ").Get("Via"); !strings.HasSuffix(v, ";tps") {
		t.Errorf("stripped INVITE's Via %q has no mark", v)
	}
}

func TestEventCallback(t *testing.T) {
	script := thtest.ProxyScript + `
function ksr_topos_event(ev)
  KSR.info("topos event " .. ev .. "\n")
  if ev == "topos:msg-outgoing" and KSR.pv.get("$sndto(port)") == SKIP_PORT then
    KSR.x.drop()
  end
end
`
	caller, callee, plain := thtest.NewPeer(t, "alice"), thtest.NewPeer(t, "bob"), thtest.NewPeer(t, "carol")
	script = strings.Replace(script, "SKIP_PORT", itoa(plain.Port()), 1)
	n := newNode(t, opts{script: script, params: map[string]any{"event_callback": "ksr_topos_event"}})
	c := setup(t, n, caller, callee)
	stripped(t, "INVITE at the callee", c.inv, n, "b")
	for _, ev := range []string{"topos:msg-outgoing", "topos:msg-sending", "topos:msg-incoming", "topos:msg-receiving"} {
		if !n.h.LogContains("topos event " + ev) {
			t.Errorf("event %s not run", ev)
		}
	}
	// Dropped in msg-outgoing: the INVITE to this peer goes out whole, and
	// is still sent.
	caller.Send(n.addr, caller.Invite(n.addr, plain.Addr))
	inv := plain.Expect("INVITE ")
	if len(inv.All("Via")) != 2 || !strings.Contains(inv.Raw, caller.Addr) {
		t.Errorf("with drop in topos:msg-outgoing the INVITE should keep the caller's Via and Contact:\n%s", inv.Raw)
	}
}

func TestMaskCallID(t *testing.T) {
	n := newNode(t, opts{params: map[string]any{"mask_callid": 1}, topoh: map[string]any{"use_mode": 1, "mask_key": "k"}})
	caller, callee := thtest.NewPeer(t, "alice"), thtest.NewPeer(t, "bob")
	c := setup(t, n, caller, callee)
	if c.inv.CallID() == c.uac.CallID || !strings.HasPrefix(c.inv.CallID(), "!!:") {
		t.Errorf("callee's Call-ID %q, want masked", c.inv.CallID())
	}
	if c.ok200.CallID() != c.uac.CallID {
		t.Errorf("caller's Call-ID %q, want %q", c.ok200.CallID(), c.uac.CallID)
	}
	callee.Send(n.addr, c.uas.Request("BYE"))
	bye := caller.Expect("BYE ")
	if bye.CallID() != c.uac.CallID {
		t.Errorf("BYE at the caller: Call-ID %q", bye.CallID())
	}
	caller.Send(n.addr, caller.Reply(bye, 200, "OK", "", "-"))
	if r := callee.Expect("SIP/2.0 200"); r.CallID() != c.inv.CallID() {
		t.Errorf("200 at the callee: Call-ID %q, want the masked one", r.CallID())
	}
}

func TestContactModeParam(t *testing.T) {
	n := newNode(t, opts{params: map[string]any{"contact_mode": 1, "cparam_name": "tk"}})
	caller, callee := thtest.NewPeer(t, "alice"), thtest.NewPeer(t, "bob")
	c := setup(t, n, caller, callee)
	u := sipraw.URIOf(c.inv.Get("Contact"))
	if !strings.HasPrefix(u, "sip:alice@") || !strings.Contains(u, ";tk=btpsh-") {
		t.Errorf("callee's Contact %q, want the caller's user and the key in ;tk=", u)
	}
	if u := sipraw.URIOf(c.ok200.Get("Contact")); !strings.HasPrefix(u, "sip:bob@") || !strings.Contains(u, ";tk=atpsh-") {
		t.Errorf("caller's Contact %q", u)
	}
	caller.Send(n.addr, c.uac.Request("BYE"))
	callee.Expect("BYE ")
}

// Records expire: a refused call's after branch_expire, a confirmed
// dialog's after dialog_expire (then its requests get 481).
func TestExpiry(t *testing.T) {
	n := newNode(t, opts{params: map[string]any{"branch_expire": 1, "dialog_expire": 2, "clean_interval": 1}})
	caller, callee := thtest.NewPeer(t, "alice"), thtest.NewPeer(t, "bob")
	invText := caller.Invite(n.addr, callee.Addr)
	caller.Send(n.addr, invText)
	inv := callee.Expect("INVITE ")
	callee.Send(n.addr, callee.Reply(inv, 486, "Busy Here", "bt", "-"))
	busy := caller.Expect("SIP/2.0 486")
	caller.Send(n.addr, thtest.AckFor(invText, busy))
	callee.Expect("ACK ")
	if !waitStat(t, "topos:memory_dialogs", 0) || !waitStat(t, "topos:memory_branches", 0) {
		t.Errorf("records of a refused call still there after branch_expire")
	}
	c := setup(t, n, caller, callee)
	time.Sleep(2500 * time.Millisecond)
	caller.Send(n.addr, c.uac.Request("BYE"))
	caller.Expect("SIP/2.0 481")
	callee.ExpectNothing(100 * time.Millisecond)
}

// waitStat waits up to 4 s for a counter or gauge to reach want.
func waitStat(t *testing.T, name string, want int64) bool {
	t.Helper()
	deadline := time.Now().Add(4 * time.Second)
	for time.Now().Before(deadline) {
		if stats.Lookup(name) == want {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("%s = %d, want %d", name, stats.Lookup(name), want)
	return false
}

func itoa(n int) string { return strconv.Itoa(n) }

// Proxies on either side: the caller side's Record-Route comes back in the
// caller's replies (and only that), the callee side's in the callee's; an
// in-dialog request goes through the destination side's proxy with the
// route set it would have had without topos.
func TestRouteSetsOfBothSides(t *testing.T) {
	n := newNode(t, opts{})
	caller, callee := thtest.NewPeer(t, "alice"), thtest.NewPeer(t, "bob")
	pa, pb := thtest.NewPeer(t, "pa"), thtest.NewPeer(t, "pb")
	caller.Send(n.addr, caller.Invite(n.addr, callee.Addr, "Record-Route: <sip:"+pa.Addr+";lr>"))
	inv := callee.Expect("INVITE ")
	stripped(t, "INVITE at the callee", inv, n, "b")
	noLeak(t, "INVITE at the callee", inv.Raw, pa.Addr, caller.Addr)
	callee.Send(n.addr, callee.Reply(inv, 200, "OK", "bt1", "", "Record-Route: <sip:"+pb.Addr+";lr>"))
	ok := caller.Expect("SIP/2.0 200")
	if rr := ok.All("Record-Route"); len(rr) != 1 || rr[0] != "<sip:"+pa.Addr+";lr>" {
		t.Errorf("200 at the caller: Record-Route %q, want only the caller side's proxy", rr)
	}
	noLeak(t, "200 at the caller", ok.Raw, pb.Addr, callee.Addr)
	// The caller's BYE (its route set would start at pa, which forwards to us
	// without its own Route) goes to pb with pb's Route and the callee's target.
	uac := thtest.UACDialog(caller, ok, 1)
	uac.Routes = nil
	caller.Send(n.addr, uac.Request("BYE"))
	bye := pb.Expect("BYE ")
	if bye.RURI != "sip:bob@"+callee.Addr || len(bye.All("Route")) != 1 || !strings.Contains(bye.Get("Route"), pb.Addr) {
		t.Errorf("BYE at the callee side's proxy:\n%s", bye.Raw)
	}
	// The callee's BYE goes to pa with pa's Route and the caller's target.
	uas := thtest.UASDialog(callee, inv, "bt1", 0)
	callee.Send(n.addr, uas.Request("BYE"))
	bye = pa.Expect("BYE ")
	if bye.RURI != "sip:alice@"+caller.Addr || len(bye.All("Route")) != 1 || !strings.Contains(bye.Get("Route"), pa.Addr) {
		t.Errorf("BYE at the caller side's proxy:\n%s", bye.Raw)
	}
}
