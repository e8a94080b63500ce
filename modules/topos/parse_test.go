package topos

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/luasbc/luasbc/core"
	"github.com/luasbc/luasbc/core/msg"
	"github.com/luasbc/luasbc/core/stats"
	"github.com/luasbc/luasbc/core/transport"
)

// bare is a topos without a core (no Record-Route is "ours", refusals are
// silent) over a memory store.
func bare(t testing.TB) *Topos {
	x := &Topos{log: zap.NewNop(), store: newMemStore(100000, time.Hour), branchExpire: time.Minute,
		dialogExpire: time.Hour, noContact: map[string]bool{"BYE": true, "CANCEL": true, "PRACK": true},
		updateTime: map[string]bool{"SUBSCRIBE": true}, cparam: "tps"}
	c := func() *stats.Counter { return &stats.Counter{} }
	x.st = topoStats{dialogs: c(), restoredReq: c(), restoredRpl: c(), unknown: c(), storeErr: c(), dropped: c(), unrestored: c()}
	x.outage.log = x.log
	t.Cleanup(x.store.Close)
	return x
}

func TestKeyOf(t *testing.T) {
	x := bare(t)
	id := newID()
	if !validID(id) || validID(strings.ToUpper(id)) || validID(id[1:]) || validID(id+"a") {
		t.Fatalf("validID")
	}
	for _, c := range []struct {
		mode   int
		uri    string
		side   byte
		wantID string
		ours   bool
	}{
		{0, "sip:atpsh-" + id + "@h:5060;transport=tcp", 'a', id, true},
		{0, "sips:btpsh-" + id + ";x=1@h", 'b', id, true},
		{0, "sip:ctpsh-" + id + "@h", 0, "", false},
		{0, "sip:bob@h", 0, "", false},
		{0, "sip:h", 0, "", false},
		{0, "garbage", 0, "", false},
		{1, "sip:bob@h;tps=btpsh-" + id, 'b', id, true},
		{1, "sip:atpsh-" + id + "@h", 0, "", false},
	} {
		x.contactMode = c.mode
		side, gotID, ours := x.keyOf(c.uri)
		if side != c.side || gotID != c.wantID || ours != c.ours {
			t.Errorf("keyOf(%q) mode %d = %c %q %v", c.uri, c.mode, side, gotID, ours)
		}
	}
}

func TestContactRendering(t *testing.T) {
	x := bare(t)
	w, _ := whereFromURI("sip:192.0.2.1:5070;transport=tcp;lr;ftag=x")
	if c := x.contact('b', "ID", "alice", w); c != "<sip:btpsh-ID@192.0.2.1:5070;transport=tcp>" {
		t.Errorf("mode 0: %s", c)
	}
	x.contactMode, x.cparam = 1, "tk"
	if c := x.contact('a', "ID", "bob", w); c != "<sip:bob@192.0.2.1:5070;transport=tcp;tk=atpsh-ID>" {
		t.Errorf("mode 1: %s", c)
	}
	x.contactHost = "sbc.example.com"
	if c := x.contact('a', "ID", "b;ad", w); c != "<sip:sbc.example.com;transport=tcp;tk=atpsh-ID>" {
		t.Errorf("contact_host, unsafe user dropped: %s", c)
	}
	v, _ := whereFromVia("SIP/2.0/TLS [2001:db8::1]:5061;branch=z9hG4bKx")
	if v.scheme != "sips" || v.hostport != "[2001:db8::1]:5061" || v.transport != "" {
		t.Errorf("from a TLS Via: %+v", v)
	}
}

func TestInternalHeaderValues(t *testing.T) {
	id := newID()
	if side, gid, ns, ok := parseXUID("b" + id + ";ctx=t1"); !ok || side != 'b' || gid != id || ns != "t1" {
		t.Errorf("parseXUID: %c %q %q %v", side, gid, ns, ok)
	}
	for _, bad := range []string{"", "a", "c" + id, "a" + id[1:], "a" + id + "x"} {
		if _, _, _, ok := parseXUID(bad); ok {
			t.Errorf("parseXUID(%q) ok", bad)
		}
	}
	if fromB, keep, ok := parseXBranch("z9hG4bKtm1.0;d=b;rr=2"); !ok || !fromB || keep != 2 {
		t.Errorf("parseXBranch: %v %d %v", fromB, keep, ok)
	}
	for _, bad := range []string{"z9", "z9;d=c;rr=1", "z9;d=a;rr=-1", "z9;d=a;rr=x"} {
		if _, _, ok := parseXBranch(bad); ok {
			t.Errorf("parseXBranch(%q) ok", bad)
		}
	}
}

// Internal headers sent by a peer never reach the script or the next hop.
func TestInternalHeadersFromOutsideRemoved(t *testing.T) {
	x := bare(t)
	in := "OPTIONS sip:x@h SIP/2.0\r\nVia: SIP/2.0/UDP 1.2.3.4;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\n" +
		"Call-ID: c\r\nCSeq: 1 OPTIONS\r\nP-SR-XUID: a" + newID() + "\r\np-sr-xcontact: <sip:evil@h>, <sip:e2@h>\r\n" +
		"P-SR-XBranch: z9;d=a;rr=0\r\nContent-Length: 0\r\n\r\n"
	p := &transport.Packet{Data: []byte(in), Src: netip.MustParseAddrPort("192.0.2.1:5060")}
	if !x.received(p) {
		t.Fatal("dropped")
	}
	if strings.Contains(strings.ToLower(string(p.Data)), "p-sr-x") {
		t.Errorf("internal headers passed:\n%s", p.Data)
	}
}

// FuzzFilters runs the receive filter and the send filter on any input: no
// panic, and what they let through still indexes as a message.
func FuzzFilters(f *testing.F) {
	id := newID()
	f.Add([]byte("BYE sip:atpsh-" + id + "@h SIP/2.0\r\nVia: SIP/2.0/UDP 1.2.3.4;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\n" +
		"To: <sip:c@d>;tag=2\r\nCall-ID: c\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"))
	f.Add([]byte("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 1.1.1.1;branch=z9hG4bKtm1.0\r\nRecord-Route: <sip:p;lr>\r\n" +
		"From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nContact: <sip:b@2.2.2.2>\r\n" +
		"P-SR-XBranch: z9hG4bKtm1.0;d=b;rr=1\r\nP-SR-XContact: <sip:atpsh-x@h>\r\n\r\n"))
	f.Add([]byte("INVITE sip:b@h SIP/2.0\r\nVia: SIP/2.0/UDP 9.9.9.9;branch=z9hG4bKtm77.0\r\nVia: SIP/2.0/UDP 1.2.3.4;branch=z9hG4bK1\r\n" +
		"Record-Route: <sip:9.9.9.9;lr>\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n" +
		"Contact: <sip:a@1.2.3.4>\r\nContent-Length: 0\r\n\r\n"))
	f.Add([]byte("UPDATE sip:x SIP/2.0\r\nVia: SIP/2.0/UDP 9.9.9.9;branch=z9hG4bKtm7.1\r\nVia: x\r\nFrom: <sip:a@b>;tag=1\r\n" +
		"To: <sip:c@d>;tag=2\r\nCall-ID: c\r\nCSeq: 3 UPDATE\r\nP-SR-XUID: b" + id + "\r\nP-SR-XContact: <sip:a>, <sip:b>\r\n\r\n"))
	x := bare(f)
	src := netip.MustParseAddrPort("192.0.2.1:5060")
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _, _, inErr := msg.IndexHeaders(string(data), nil)
		p := &transport.Packet{Data: data, Src: src}
		if x.received(p) && inErr == nil {
			if _, _, _, err := msg.IndexHeaders(string(p.Data), nil); err != nil {
				t.Fatalf("receive filter broke a message: %v\n%q", err, p.Data)
			}
		}
		for _, local := range []bool{false, true} {
			o := &core.Outgoing{Data: data, Reply: strings.HasPrefix(string(data), "SIP/2.0 "), Local: local}
			if x.sending(o) && inErr == nil {
				if _, _, _, err := msg.IndexHeaders(string(o.Data), nil); err != nil {
					t.Fatalf("send filter broke a message: %v\n%q", err, o.Data)
				}
			}
		}
	})
}
