package nathelper_test

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/luasbc/luasbc/core/rpc"
)

const nhRURI = "sip:bob@127.0.0.1:{nh}"

func TestNatUACTestBits(t *testing.T) {
	tests := []string{"1", "2", "4", "8", "16", "32", "64", "128", "256", "512", "19", "1023"}
	var exprs []string
	for _, f := range tests {
		exprs = append(exprs, "KSR.nathelper.nat_uac_test("+f+")")
	}
	s := start(t, exprs, nil, nil)
	// Nothing NATed: Via, Contact and SDP name the source 127.0.0.1:{cport}.
	clean := requestBody("INVITE", "sip:bob@127.0.0.1", "", strings.ReplaceAll(strings.ReplaceAll(sdp, "192.168.1.20", "127.0.0.1"), "a=rtcp", "a=x"),
		"Contact: <sip:alice@127.0.0.1:{cport}>")
	eq(t, "clean", s.results(t, clean), []string{"-1", "-1", "-1", "-1", "-1", "-1", "-1", "-1", "-1", "-1", "-1", "-1"})

	cases := []struct {
		name string
		req  string
		want []string
	}{
		{"private contact", request("INVITE", "sip:bob@127.0.0.1", "", "Contact: <sip:alice@10.1.2.3:{cport}>"),
			[]string{"1", "-1", "-1", "-1", "-1", "-1", "-1", "-1", "-1", "-1", "1", "1"}},
		{"shared-address contact, bare URI", request("INVITE", "sip:bob@127.0.0.1", "", "m: sip:alice@100.64.0.7:{cport};expires=60"),
			[]string{"1", "-1", "-1", "-1", "-1", "-1", "-1", "-1", "-1", "-1", "1", "1"}},
		{"private Via, own port", request("INVITE", "sip:bob@127.0.0.1", "192.168.0.10:{cport}", "Contact: <sip:alice@127.0.0.1:{cport}>"),
			[]string{"-1", "1", "1", "-1", "-1", "-1", "-1", "-1", "-1", "-1", "1", "1"}},
		{"public Via host, other port", request("INVITE", "sip:bob@127.0.0.1", "198.51.100.7:5062", "Contact: <sip:alice@127.0.0.1:{cport}>"),
			[]string{"-1", "1", "-1", "-1", "1", "-1", "-1", "-1", "-1", "-1", "1", "1"}},
		{"Via host name, no port", request("INVITE", "sip:bob@127.0.0.1", "ua.example.com", "Contact: <sip:alice@127.0.0.1:{cport}>"),
			[]string{"-1", "1", "-1", "-1", "1", "-1", "-1", "-1", "-1", "-1", "1", "1"}},
		{"contact port differs", request("INVITE", "sip:bob@127.0.0.1", "", "Contact: <sip:alice@127.0.0.1>"),
			[]string{"-1", "-1", "-1", "-1", "-1", "-1", "-1", "1", "-1", "-1", "-1", "1"}},
		{"private SDP", requestBody("INVITE", "sip:bob@127.0.0.1", "", sdp, "Contact: <sip:alice@127.0.0.1:{cport}>"),
			[]string{"-1", "-1", "-1", "1", "-1", "-1", "-1", "-1", "1", "-1", "-1", "1"}},
		{"public SDP elsewhere", requestBody("INVITE", "sip:bob@127.0.0.1", "", strings.ReplaceAll(sdp, "192.168.1.20", "203.0.113.5"), "Contact: <sip:alice@127.0.0.1:{cport}>"),
			[]string{"-1", "-1", "-1", "-1", "-1", "-1", "-1", "-1", "1", "-1", "-1", "1"}},
	}
	for _, c := range cases {
		eq(t, c.name, s.results(t, c.req), c.want)
	}
}

func TestNatUACTestTarget(t *testing.T) {
	s := start(t, []string{"KSR.nathelper.nat_uac_test(512)", "KSR.setdsturi('sip:127.0.0.1:5099')", "KSR.nathelper.nat_uac_test(512)",
		"KSR.setdsturi('sip:127.0.0.1:{nh}')"}, nil, nil)
	// Before $du is set: -1; $du to another port than the R-URI: 1.
	eq(t, "512", s.results(t, request("INVITE", "sip:bob@127.0.0.1:5060", "")), []string{"-1", "true", "1", "true"})
	// $du to the R-URI's own address (default port 5060).
	s2 := start(t, []string{"KSR.setdsturi('sip:127.0.0.1')", "KSR.nathelper.nat_uac_test(512)",
		"KSR.setdsturi('sip:127.0.0.1:5060;transport=ws')", "KSR.nathelper.nat_uac_test(512)"}, nil, nil)
	eq(t, "512 same", s2.results(t, request("INVITE", "sip:bob@127.0.0.1:5060", "")), []string{"true", "-1", "true", "1"})
}

// Replies: test 512 looks at the second Via; set_contact_alias works on
// the reply's Contact and the relayed reply carries it.
func TestReplyRoute(t *testing.T) {
	s := start(t, nil, []string{"KSR.nathelper.nat_uac_test(512)", "KSR.nathelper.nat_uac_test(1)", "KSR.nathelper.set_contact_alias()"}, nil)
	reply := func(via2, contact string) string {
		return "SIP/2.0 200 OK\n" +
			"Via: SIP/2.0/UDP 127.0.0.1:{sport};branch=z9hG4bKsl.x1\n" +
			"Via: SIP/2.0/UDP " + via2 + ";branch=z9hG4bK-up\n" +
			"From: <sip:alice@example.com>;tag=a\nTo: <sip:bob@example.com>;tag=b\nCall-ID: rr1@test\nCSeq: 1 INVITE\n" +
			"Contact: " + contact + "\nContent-Length: 0\n\n"
	}
	got := s.forward(t, reply("10.0.0.8:5060;received=127.0.0.1;rport={nh}", "<sip:bob@192.168.5.5:5080;transport=udp>"))
	eq(t, "results", xr(t, got), []string{"1", "1", "1"})
	eq(t, "contact", headers(got, "Contact"), []string{"<sip:bob@192.168.5.5:5080;transport=udp;alias=127.0.0.1~" + s.cport() + "~1>"})
	got = s.forward(t, reply("127.0.0.1:{nh}", "sip:bob@127.0.0.1"))
	eq(t, "results", xr(t, got), []string{"-1", "-1", "1"})
	eq(t, "contact", headers(got, "Contact"), []string{"<sip:bob@127.0.0.1;alias=127.0.0.1~" + s.cport() + "~1>"})
}

func TestIsRFC1918(t *testing.T) {
	addrs := []string{"10.0.0.1", "172.16.0.1", "172.32.0.1", "192.168.255.255", "100.64.0.1", "100.128.0.1", "192.0.0.5",
		"192.0.0.9", "8.8.8.8", "fd00::1", "[fd12::2]", "2001:db8::1", "example.com", "", "10.0.0.1\r\nX: y"}
	var exprs []string
	for _, a := range addrs {
		exprs = append(exprs, "KSR.nathelper.is_rfc1918("+luaStr(a)+")")
	}
	want := []string{"1", "1", "-1", "1", "1", "-1", "1", "1", "-1", "1", "1", "-1", "-1", "-1", "-1"}
	s := start(t, exprs, nil, nil)
	eq(t, "nat_addr_mode 1", s.results(t, request("OPTIONS", "sip:127.0.0.1", "")), want)
	want[7] = "-1" // 192.0.0.9 is outside 192.0.0.0/29
	s0 := start(t, exprs, nil, map[string]any{"nat_addr_mode": 0})
	eq(t, "nat_addr_mode 0", s0.results(t, request("OPTIONS", "sip:127.0.0.1", "")), want)
}

func luaStr(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\r", `\r`, "\n", `\n`)
	return `"` + r.Replace(s) + `"`
}

func TestFixNatedContact(t *testing.T) {
	s := start(t, []string{"KSR.nathelper.fix_nated_contact()", "KSR.nathelper.fix_nated_contact()", "KSR.pv.get('$ct')"}, nil, nil)
	got := s.forward(t, request("INVITE", nhRURI, "", `Contact: "Alice" <sip:alice@10.0.0.5:5062;transport=udp;maddr=10.0.0.1>;expires=30`, "Contact: <sip:other@10.0.0.6>"))
	// The second call fails: the URI was already rewritten. $ct still
	// reads what was received.
	eq(t, "results", xr(t, got), []string{"1", "-1", `"Alice" <sip:alice@10.0.0.5:5062;transport=udp;maddr=10.0.0.1>;expires=30`})
	eq(t, "contact", headers(got, "Contact"), []string{`"Alice" <sip:alice@127.0.0.1:` + s.cport() + `;transport=udp>;expires=30`, "<sip:other@10.0.0.6>"})

	// A bare URI keeps its header parameters outside the URI.
	got = s.forward(t, request("INVITE", nhRURI, "", "m: sip:alice@[fd00::5];expires=30"))
	eq(t, "bare", headers(got, "m"), []string{"sip:alice@127.0.0.1:" + s.cport() + ";expires=30"})

	// No Contact, the wildcard, a tel: URI: -1 and nothing changed.
	for _, ct := range []string{"X-No: contact", "Contact: *", "Contact: <tel:+4930123>"} {
		got = s.forward(t, request("INVITE", nhRURI, "", ct))
		eq(t, ct, xr(t, got)[:2], []string{"-1", "-1"})
	}
}

func TestFixNatedRegister(t *testing.T) {
	exprs := []string{"KSR.nathelper.fix_nated_register()", "KSR.pv.get('$avp(RECEIVED)')"}
	s := start(t, exprs, nil, map[string]any{"received_avp": "$avp(RECEIVED)"})
	eq(t, "avp", s.results(t, request("REGISTER", "sip:127.0.0.1", "", "Contact: <sip:alice@10.0.0.5>")),
		[]string{"1", "sip:127.0.0.1:" + s.cport()})
	// Without received_avp: 1, nothing stored.
	s2 := start(t, exprs, nil, nil)
	eq(t, "no avp", s2.results(t, request("REGISTER", "sip:127.0.0.1", "")), []string{"1", "nil"})
}

func TestReceivedAVPMustBeAssignable(t *testing.T) {
	for _, v := range []string{"$si", "$var(rcv)", "$nosuchpv(x)", "avp"} {
		_, err := tryStart(map[string]map[string]any{"nathelper": {"received_avp": v}})
		if err == nil {
			t.Errorf("received_avp %q accepted", v)
		}
	}
}

func TestAddRcvParam(t *testing.T) {
	s := start(t, []string{"KSR.nathelper.add_rcv_param(0)"}, nil, nil)
	// (sipgo refuses a bare URI after a comma that follows a parameter, so
	// the bare one comes first.)
	got := s.forward(t, request("REGISTER", nhRURI, "", "Contact: sip:b@10.0.0.6, <sip:a@10.0.0.5>;expires=60", "Contact: <sip:c@10.0.0.7>"))
	rcv := `;received="sip:127.0.0.1:` + s.cport() + `"`
	eq(t, "header param", headers(got, "Contact"), []string{"<sip:b@10.0.0.6>" + rcv + ", <sip:a@10.0.0.5>;expires=60" + rcv, "<sip:c@10.0.0.7>" + rcv})

	s1 := start(t, []string{"KSR.nathelper.add_rcv_param(1)", "KSR.nathelper.add_rcv_param(1)"}, nil, nil)
	got = s1.forward(t, request("REGISTER", nhRURI, "", "Contact: sip:b@10.0.0.6;expires=60"))
	rcv = ";received=sip:127.0.0.1:" + s1.cport()
	// Calls stack: the second adds to what the first wrote.
	eq(t, "uri param", headers(got, "Contact"), []string{"<sip:b@10.0.0.6" + rcv + rcv + ">;expires=60"})
}

func TestContactAlias(t *testing.T) {
	s := start(t, []string{"KSR.nathelper.add_contact_alias()"}, nil, nil)
	got := s.forward(t, request("INVITE", nhRURI, "", "Contact: <sip:alice@10.0.0.5:5062>"))
	eq(t, "added", xr(t, got), []string{"1"})
	eq(t, "contact", headers(got, "Contact"), []string{"<sip:alice@10.0.0.5:5062;alias=127.0.0.1~" + s.cport() + "~1>"})
	// add_contact_alias puts the alias right after host:port, as Kamailio.
	got = s.forward(t, request("INVITE", nhRURI, "", "Contact: <sip:alice@10.0.0.5:5062;transport=udp;ob>;+sip.instance=\"<urn:x>\""))
	eq(t, "params", headers(got, "Contact"), []string{"<sip:alice@10.0.0.5:5062;alias=127.0.0.1~" + s.cport() + "~1;transport=udp;ob>;+sip.instance=\"<urn:x>\""})
	// The Contact names the source already: nothing to add.
	got = s.forward(t, request("INVITE", nhRURI, "", "Contact: <sip:alice@127.0.0.1:{cport}>"))
	eq(t, "same", xr(t, got), []string{"2"})
	eq(t, "same contact", headers(got, "Contact"), []string{"<sip:alice@127.0.0.1:" + s.cport() + ">"})
	// Same address, other transport: the alias is needed.
	got = s.forward(t, request("INVITE", nhRURI, "", "Contact: <sip:alice@127.0.0.1:{cport};transport=tcp>"))
	eq(t, "transport", xr(t, got), []string{"1"})
	got = s.forward(t, request("INVITE", nhRURI, ""))
	eq(t, "no contact", xr(t, got), []string{"2"})

	a := start(t, []string{`KSR.nathelper.add_contact_alias_addr("2001:db8::7", "5071", "tls")`,
		`KSR.nathelper.add_contact_alias_addr("2001:db8::7", "5071", "tls")`}, nil, map[string]any{"alias_name": "saddr"})
	got = a.forward(t, request("INVITE", nhRURI, "", "Contact: sip:alice@10.0.0.5"))
	eq(t, "addr", xr(t, got), []string{"1", "-1"})
	eq(t, "addr contact", headers(got, "Contact"), []string{"<sip:alice@10.0.0.5;saddr=[2001:db8::7]~5071~3>"})

	tr := start(t, []string{"KSR.nathelper.set_contact_alias_trim()", "KSR.pv.get('$ct')"}, nil, nil)
	got = tr.forward(t, request("INVITE", nhRURI, "", "Contact: <sip:alice@10.0.0.5;alias=1.2.3.4~5060~1;lr>"))
	eq(t, "trim", xr(t, got), []string{"1", "<sip:alice@10.0.0.5;alias=1.2.3.4~5060~1;lr>"})
	eq(t, "trim contact", headers(got, "Contact"), []string{"<sip:alice@10.0.0.5;lr;alias=127.0.0.1~" + tr.cport() + "~1>"})
}

func TestBadAliasArgumentsRefused(t *testing.T) {
	s := start(t, []string{
		`KSR.nathelper.add_contact_alias_addr("1.2.3.4\r\nX-Evil: 1", "5060", "udp")`,
		`KSR.nathelper.add_contact_alias_addr("1.2.3.4", "5060\r\nX-Evil: 1", "udp")`,
		`KSR.nathelper.add_contact_alias_addr("1.2.3.4", "5060", "udp\r\nX-Evil: 1")`,
		`KSR.nathelper.add_contact_alias_addr("evil.example.com", "5060", "udp")`,
		`KSR.nathelper.add_contact_alias_addr("1.2.3.4", "70000", "udp")`,
		`KSR.nathelper.add_contact_alias_addr("1.2.3.4", "5060", "carrier-pigeon")`,
		`KSR.nathelper.fix_nated_sdp_ip(2, "1.2.3.4\r\nX-Evil: 1")`,
	}, nil, nil)
	got := s.forward(t, requestBody("INVITE", nhRURI, "", sdp, "Contact: <sip:alice@10.0.0.5>"))
	eq(t, "refused", xr(t, got), []string{"-1", "-1", "-1", "-1", "-1", "-1", "-1"})
	eq(t, "contact unchanged", headers(got, "Contact"), []string{"<sip:alice@10.0.0.5>"})
	if len(headers(got, "X-Evil")) != 0 || strings.Contains(got, "X-Evil") {
		t.Errorf("injected text reached the next hop:\n%s", got)
	}
}

func TestHandleRURIAlias(t *testing.T) {
	s := start(t, []string{"KSR.nathelper.handle_ruri_alias()", "KSR.pv.get('$du')", "KSR.pv.get('$ru')"}, nil, nil)
	// The alias points at the next hop; the R-URI host does not exist.
	got := s.forward(t, request("BYE", "sip:bob@10.9.9.9:5070;alias=127.0.0.1~{nh}~1;lr", ""))
	eq(t, "results", xr(t, got), []string{"1", "sip:127.0.0.1:" + s.nhPort(), "sip:bob@10.9.9.9:5070;lr"})
	if rl := requestLine(got); rl != "BYE sip:bob@10.9.9.9:5070;lr SIP/2.0" {
		t.Errorf("request line %q", rl)
	}
	// No alias: 2, nothing changes.
	eq(t, "none", s.results(t, request("BYE", "sip:bob@127.0.0.1:5070;lr", "")), []string{"2", "nil", "sip:bob@127.0.0.1:5070;lr"})
	// tcp and ws aliases put the transport into $du.
	eq(t, "tcp", s.results(t, request("BYE", "sip:bob@h;alias=[2001:db8::1]~5080~2", "")), []string{"1", "sip:[2001:db8::1]:5080;transport=tcp", "sip:bob@h"})
	eq(t, "wss", s.results(t, request("BYE", "sip:bob@h;alias=192.0.2.1~443~6", "")), []string{"1", "sip:192.0.2.1:443;transport=ws", "sip:bob@h"})

	// Bad aliases: -1 and R-URI and $du untouched.
	for _, a := range []string{"127.0.0.1~5060", "evil.com~5060~1", "127.0.0.1~0~1", "127.0.0.1~5060~9", "127.0.0.1~5060~1~x",
		"127.0.0.1%0d%0aX:1~5060~1", "127.0.0.1~50%0a60~1", "127.0.0.1~+5060~1"} {
		ruri := "sip:bob@h;alias=" + a
		eq(t, a, s.results(t, request("BYE", ruri, "")), []string{"-1", "nil", ruri})
	}

	m := start(t, []string{"KSR.nathelper.handle_ruri_alias_mode(1)", "KSR.pv.get('$du')", "KSR.pv.get('$ru')"}, nil, nil)
	eq(t, "last", m.results(t, request("BYE", "sip:bob@h;alias=192.0.2.1~5060~1;alias=192.0.2.2~5062~1", "")),
		[]string{"1", "sip:192.0.2.2:5062", "sip:bob@h;alias=192.0.2.1~5060~1"})
	m0 := start(t, []string{"KSR.nathelper.handle_ruri_alias_mode(0)", "KSR.pv.get('$du')", "KSR.pv.get('$ru')"}, nil, nil)
	eq(t, "first", m0.results(t, request("BYE", "sip:bob@h;alias=192.0.2.1~5060~1;alias=192.0.2.2~5062~1", "")),
		[]string{"1", "sip:192.0.2.1:5060", "sip:bob@h;alias=192.0.2.2~5062~1"})
}

// The alias add_contact_alias writes is what handle_ruri_alias reads back
// when the dialog's next request comes with that Contact as R-URI.
func TestAliasRoundTrip(t *testing.T) {
	s := start(t, []string{"KSR.nathelper.add_contact_alias()"}, nil, nil)
	got := s.forward(t, request("INVITE", nhRURI, "", "Contact: <sip:alice@10.0.0.5:5062>"))
	ct := headers(got, "Contact")[0]
	ruri := strings.TrimSuffix(strings.TrimPrefix(ct, "<"), ">")
	h := start(t, []string{"KSR.nathelper.handle_ruri_alias()", "KSR.pv.get('$du')", "KSR.pv.get('$ru')"}, nil, nil)
	eq(t, "round trip", h.results(t, request("BYE", ruri, "")), []string{"1", "sip:127.0.0.1:" + s.cport(), "sip:alice@10.0.0.5:5062"})
}

func TestSetAliasToPV(t *testing.T) {
	s := start(t, []string{"KSR.nathelper.set_alias_to_pv('$avp(au)')", "KSR.pv.get('$avp(au)')", "KSR.nathelper.set_alias_to_pv('$si')"}, nil, nil)
	eq(t, "alias", s.results(t, request("INVITE", "sip:127.0.0.1", "", "Contact: <sip:a@h;alias=192.0.2.1~5061~3>")),
		[]string{"1", "sip:192.0.2.1:5061;transport=tls", "-1"})
	eq(t, "none", s.results(t, request("INVITE", "sip:127.0.0.1", "", "Contact: <sip:a@h>")), []string{"-1", "nil", "-1"})
	eq(t, "bad", s.results(t, request("INVITE", "sip:127.0.0.1", "", "Contact: <sip:a@h;alias=192.0.2.1~5061>")), []string{"-1", "nil", "-1"})
}

func TestRRCount(t *testing.T) {
	s := start(t, []string{"KSR.pv.get('$rr_count')", "KSR.pv.get('$rr_top_count')"}, nil, nil)
	eq(t, "none", s.results(t, request("INVITE", "sip:127.0.0.1", "")), []string{"0", "0"})
	eq(t, "double", s.results(t, request("INVITE", "sip:127.0.0.1", "",
		"Record-Route: <sip:192.0.2.1;r2=on;lr>, <sip:10.0.0.1;r2=on;lr>", "Record-Route: <sip:198.51.100.1;lr>")), []string{"3", "2"})
	eq(t, "single", s.results(t, request("INVITE", "sip:127.0.0.1", "", "Record-Route: <sip:198.51.100.1;lr>")), []string{"1", "1"})
}

func TestFixNatedSDP(t *testing.T) {
	s := start(t, []string{"KSR.nathelper.fix_nated_sdp(3)", "KSR.nathelper.fix_nated_sdp(3)", "KSR.nathelper.fix_nated_sdp_ip(8, '203.0.113.9')"}, nil, nil)
	got := s.forward(t, requestBody("INVITE", nhRURI, "", sdp))
	// The second call finds nothing left to change.
	eq(t, "results", xr(t, got), []string{"1", "2", "1"})
	want := "v=0\r\no=alice 2890844526 2890844526 IN IP4 203.0.113.9\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 49170 RTP/AVP 0\r\n" +
		"a=rtcp:49171 IN IP4 127.0.0.1\r\na=sendrecv\r\na=direction:active\r\na=oldmediaip:192.168.1.20\r\n"
	if b := body(got); b != want {
		t.Errorf("body:\n%q\nwant\n%q", b, want)
	}
	if cl := headers(got, "Content-Length"); len(cl) != 1 || cl[0] != strconv.Itoa(len(want)) {
		t.Errorf("Content-Length %v, body %d bytes", cl, len(want))
	}

	n := start(t, []string{"KSR.nathelper.fix_nated_sdp(6)"}, nil, map[string]any{"append_sdp_oldmediaip": 0, "nortpproxy_str": "a=sdpmangled:yes"})
	got = n.forward(t, requestBody("INVITE", nhRURI, "", sdp))
	if b := body(got); !strings.Contains(b, "c=IN IP4 127.0.0.1\r\n") || strings.Contains(b, "oldmediaip") || !strings.HasSuffix(b, "a=sdpmangled:yes\r\n") {
		t.Errorf("body:\n%s", b)
	}

	// Hold (0.0.0.0) stays; no SDP, or no c= line to rewrite: -1.
	hold := strings.ReplaceAll(sdp, "c=IN IP4 192.168.1.20", "c=IN IP4 0.0.0.0")
	hold = strings.ReplaceAll(hold, "a=rtcp:49171 IN IP4 192.168.1.20\n", "")
	e := start(t, []string{"KSR.nathelper.fix_nated_sdp(2)"}, nil, nil)
	// Only adding lines: 2 (no address replaced), the lines still go out.
	d := start(t, []string{"KSR.nathelper.fix_nated_sdp(5)"}, nil, nil)
	got = d.forward(t, requestBody("INVITE", nhRURI, "", sdp))
	if eq(t, "add only", xr(t, got), []string{"2"}); !strings.HasSuffix(body(got), "a=sendrecv\r\na=direction:active\r\na=nortpproxy:yes\r\n") {
		t.Errorf("body:\n%s", body(got))
	}
	eq(t, "hold", xr(t, e.forward(t, requestBody("INVITE", nhRURI, "", hold))), []string{"2"})
	eq(t, "no sdp", xr(t, e.forward(t, request("INVITE", nhRURI, ""))), []string{"-1"})
	eq(t, "no c=", xr(t, e.forward(t, requestBody("INVITE", nhRURI, "", "v=0\no=- 1 1 IN IP4 10.0.0.1\ns=-\n"))), []string{"-1"})
	eq(t, "not sdp", xr(t, e.forward(t, requestBody("INVITE", nhRURI, "", "c=IN IP4 10.0.0.1\n", "Content-Type: text/plain"))), []string{"-1"})
}

func TestFixNatedSDPMultipart(t *testing.T) {
	s := start(t, []string{"KSR.nathelper.fix_nated_sdp(2)"}, nil, map[string]any{"append_sdp_oldmediaip": 0})
	mp := "--b1\nContent-Type: application/sdp\n\n" + sdp + "\n--b1\nContent-Type: text/plain\n\nc=IN IP4 10.1.1.1\n--b1--\n"
	got := s.forward(t, requestBody("INVITE", nhRURI, "", mp, "Content-Type: multipart/mixed;boundary=b1"))
	eq(t, "result", xr(t, got), []string{"1"})
	b := body(got)
	if !strings.Contains(b, "c=IN IP4 127.0.0.1\r\n") || !strings.Contains(b, "c=IN IP4 10.1.1.1\r\n") || !strings.HasSuffix(b, "--b1--\r\n") {
		t.Errorf("multipart body:\n%s", b)
	}
}

func TestParamsValidated(t *testing.T) {
	for _, p := range []map[string]any{
		{"nat_addr_mode": 2},
		{"alias_name": "al;ias"},
		{"alias_name": ""},
		{"nortpproxy_str": "a=x\r\nb=y\r\n"},
		{"sipping_bflag": 32},
		{"natping_disable_bflag": -2},
		{"sipping_method": "OPT IONS"},
		{"sipping_from": "sip:pinger@example.com\r\nX: 1"},
		{"sipping_from": "pinger"},
		{"natping_interval": -1},
		{"keepalive_timeout": -5},
		{"received_avp": "$avp(x"},
		{"natping_interval": 10, "sipping_bflag": 7},
		{"natping_intervall": 10},
	} {
		if _, err := tryStart(map[string]map[string]any{"nathelper": p}); err == nil {
			t.Errorf("%v accepted", p)
		}
	}
	// Ignored parameters are accepted.
	if _, err := tryStart(map[string]map[string]any{"nathelper": {"natping_processes": 4, "natping_socket": "192.0.2.1:5060",
		"udpping_from_path": 1, "filter_server_id": 1}}); err != nil {
		t.Error(err)
	}
}

func TestEnablePingWithoutKeepalives(t *testing.T) {
	s := start(t, nil, nil, nil)
	_, err := s.h.RPC.Call(context.Background(), "nathelper.enable_ping", rpc.Params{json.RawMessage(`1`)})
	if err == nil || err.Code != 500 {
		t.Errorf("enable_ping with natping_interval 0: %v", err)
	}
	_, err = s.h.RPC.Call(context.Background(), "nathelper.enable_ping", nil)
	if err == nil || err.Code != 500 {
		t.Error("enable_ping without a parameter accepted")
	}
}
