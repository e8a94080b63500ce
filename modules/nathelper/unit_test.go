package nathelper

import (
	"net/netip"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/luasbc/luasbc/core/msg"
	"github.com/luasbc/luasbc/kemi"
)

// parse builds a message received from src over proto.
func parse(t testing.TB, raw, src string, proto msg.Proto) *msg.Msg {
	t.Helper()
	raw = strings.ReplaceAll(strings.ReplaceAll(raw, "\r\n", "\n"), "\n", "\r\n")
	sock := &msg.Socket{Proto: proto, Addr: netip.MustParseAddrPort("192.0.2.1:5060"), Name: proto.String() + ":192.0.2.1:5060"}
	m, err := msg.Parse([]byte(raw), netip.MustParseAddrPort(src), sock, proto)
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, raw)
	}
	return m
}

func invite(via, contact string) string {
	return "INVITE sip:bob@192.0.2.1 SIP/2.0\nVia: SIP/2.0/UDP " + via + ";branch=z9hG4bK1\nFrom: <sip:a@x>;tag=1\n" +
		"To: <sip:bob@x>\nCall-ID: c1\nCSeq: 1 INVITE\nContact: " + contact + "\nContent-Length: 0\n\n"
}

func TestNatUACTestSourceAndTransport(t *testing.T) {
	m := parse(t, invite("10.0.0.5:5060", "<sip:a@10.0.0.5>"), "10.0.0.5:5060", msg.UDP)
	if !natUACTest(m, testSrcPrivate, true) {
		t.Error("32: source 10.0.0.5 not private")
	}
	// The UA is its own public address: nothing else says NAT.
	if natUACTest(m, testViaReceived|testViaPort|testContactPort|testWebSocket|testSDPSource|testTarget, true) {
		t.Error("a UA on a private network without NAT detected as NATed")
	}
	pub := parse(t, invite("203.0.113.5:5060", "<sip:a@203.0.113.5>"), "203.0.113.5:5060", msg.UDP)
	if natUACTest(pub, 1023, true) {
		t.Error("public UA detected as NATed")
	}
	ws := parse(t, invite("203.0.113.5:5060", "<sip:a@203.0.113.5>"), "203.0.113.5:5060", msg.WS)
	if !natUACTest(ws, testWebSocket, true) || natUACTest(pub, testWebSocket, true) {
		t.Error("64: WebSocket test")
	}
	wss := parse(t, invite("203.0.113.5:5060", "<sip:a@203.0.113.5>"), "203.0.113.5:5060", msg.WSS)
	if !natUACTest(wss, testWebSocket, true) {
		t.Error("64: secure WebSocket not detected")
	}
	v6 := parse(t, invite("[fd00::5]:5060", "<sip:a@[fd00::5]:5060>"), "[2001:db8::5]:5060", msg.UDP)
	for _, f := range []int{testViaReceived, testViaPrivate, testContactPrivate} {
		if !natUACTest(v6, f, true) {
			t.Errorf("IPv6 ULA, test %d: not NATed", f)
		}
	}
	same6 := parse(t, invite("[2001:db8::5]:5062", "<sip:a@[2001:db8::5]:5062>"), "[2001:db8::5]:5062", msg.UDP)
	if natUACTest(same6, 1023, true) {
		t.Error("public IPv6 UA detected as NATed")
	}
	// 192.0.0.9 is private only with nat_addr_mode 1.
	r := parse(t, invite("203.0.113.5", "<sip:a@192.0.0.9>"), "203.0.113.5:5060", msg.UDP)
	if !natUACTest(r, testContactPrivate, true) || natUACTest(r, testContactPrivate, false) {
		t.Error("nat_addr_mode does not select 192.0.0.0/24")
	}
}

func TestIsPrivateEdges(t *testing.T) {
	for h, want := range map[string]bool{
		"9.255.255.255": false, "10.0.0.0": true, "10.255.255.255": true, "11.0.0.0": false,
		"172.15.255.255": false, "172.31.255.255": true, "192.167.255.255": false, "100.63.255.255": false,
		"100.127.255.255": true, "192.0.0.7": true, "fc00::": true, "fdff:ffff::1": true, "fe80::1": false,
		"::ffff:10.0.0.1": true, "[::ffff:10.0.0.1]": true, "[10.0.0.1]": false, "10.0.0.1]": false,
		"fe80::1%eth0": false, "": false, "10.0.0.1:5060": false,
	} {
		if got := isPrivateHost(h, false); got != want {
			t.Errorf("isPrivateHost(%q) = %v", h, got)
		}
	}
}

func TestParseSIPURI(t *testing.T) {
	for _, s := range []string{
		"sip:alice@10.0.0.1", "sips:alice:pw@example.com:5061;transport=tcp;lr?subject=x", "sip:[2001:db8::1]:5060;alias=1.2.3.4~5060~1",
		"SIP:Bob@Host", "sip:user;x=y@host;p", "sip:h", "sip:a@h;received=sip:1.2.3.4:5060",
	} {
		u, ok := parseSIPURI(s)
		if !ok {
			t.Errorf("%q refused", s)
			continue
		}
		if u.String() != s {
			t.Errorf("%q rendered back as %q", s, u.String())
		}
	}
	for _, s := range []string{
		"", "tel:+123", "sip:", "sip:a@", "sip:a@h:", "sip:a@h:0", "sip:a@h:65536", "sip:a@h:+80", "sip:a@h:8x",
		"sip:a@h;;x", "sip:a@h?", "sip:a@[::1", "sip:a@[::1]x", "sip:a@[1.2.3.4]", "sip:a b@h", "sip:a@h\r\nX: 1",
		"sip:a@h>", "sip:a@<h", "sip:a@h,b", "sip:a@h\"", "sip:a@ho/st", "sip:a@h%41",
	} {
		if _, ok := parseSIPURI(s); ok {
			t.Errorf("%q accepted", s)
		}
	}
	u, _ := parseSIPURI("sip:a@10.0.0.1:5070;alias=x;lr;ALIAS=y?h=1")
	if v, i := u.param("alias", true); v != "y" || i != 2 {
		t.Errorf("last alias %q %d", v, i)
	}
	if got := u.withoutParams("alias").String(); got != "sip:a@10.0.0.1:5070;lr?h=1" {
		t.Errorf("withoutParams %q", got)
	}
	if got := u.withParam("x=1").String(); got != "sip:a@10.0.0.1:5070;alias=x;lr;ALIAS=y;x=1?h=1" {
		t.Errorf("withParam %q", got)
	}
	if u.String() != "sip:a@10.0.0.1:5070;alias=x;lr;ALIAS=y?h=1" {
		t.Error("withParam/withoutParams changed the original")
	}
}

func TestParseAlias(t *testing.T) {
	for v, want := range map[string]string{
		"1.2.3.4~5060~1":           "sip:1.2.3.4:5060",
		"[2001:db8::1]~5061~3":     "sip:[2001:db8::1]:5061;transport=tls",
		"2001:db8::1~5061~2":       "sip:[2001:db8::1]:5061;transport=tcp",
		"1.2.3.4~1~4":              "sip:1.2.3.4:1;transport=sctp",
		"1.2.3.4~65535~5":          "sip:1.2.3.4:65535;transport=ws",
		"::ffff:1.2.3.4~5060~1":    "sip:1.2.3.4:5060",
		"1.2.3.4~5060~0":           "",
		"1.2.3.4~5060~7":           "",
		"1.2.3.4~5060~01":          "sip:1.2.3.4:5060",
		"1.2.3.4~05060~1":          "sip:1.2.3.4:5060",
		"1.2.3.4~ 5060~1":          "",
		" 1.2.3.4~5060~1":          "",
		"1.2.3.4~-1~1":             "",
		"1.2.3.4~5060~-1":          "",
		"host~5060~1":              "",
		"fe80::1%25eth0~5060~1":    "",
		"1.2.3.4~5060~1~":          "",
		"1.2.3.4~99999999999~1":    "",
		"1.2.3.4~5060~99999999999": "",
	} {
		a, err := parseAlias(v)
		got := ""
		if err == nil {
			got = a.uri()
		}
		if got != want {
			t.Errorf("parseAlias(%q) = %q (%v), want %q", v, got, err, want)
		}
	}
}

func TestContactEditsStackWithOtherModules(t *testing.T) {
	m := parse(t, invite("10.0.0.5", "<sip:a@10.0.0.5>"), "203.0.113.5:5062", msg.UDP)
	// Another module (siputils, textops) replaced the Contact first.
	if err := m.AddLump(msg.LumpReplace, "Contact", "Contact: <sip:enc@192.0.2.1;p=x>\r\n"); err != nil {
		t.Fatal(err)
	}
	x := &nathelper{aliasName: "alias"}
	if err := x.addAlias(m, sourceAlias(m), false, false); err != nil {
		t.Fatal(err)
	}
	if len(m.Lumps) != 1 || m.Lumps[0].Text != "Contact: <sip:enc@192.0.2.1;p=x;alias=203.0.113.5~5062~1>\r\n" {
		t.Errorf("lumps %q", m.Lumps)
	}
	// A URI rewrite once per message, as Kamailio: the second one fails and
	// leaves the lumps alone.
	if err := x.addAlias(m, sourceAlias(m), false, false); err == nil || len(m.Lumps) != 1 {
		t.Errorf("second alias: %v, lumps %q", err, m.Lumps)
	}
	// Contact headers the script removed are not brought back.
	r := parse(t, invite("10.0.0.5", "<sip:a@10.0.0.5>"), "203.0.113.5:5062", msg.UDP)
	if err := r.AddLump(msg.LumpRemove, "m", ""); err != nil {
		t.Fatal(err)
	}
	if err := x.addAlias(r, sourceAlias(r), false, false); err != errNoContact || len(r.Lumps) != 1 {
		t.Errorf("alias after remove: %v, lumps %q", err, r.Lumps)
	}
}

func TestRewriteSDP(t *testing.T) {
	in := "v=0\no=- 1 1 IN IP4 10.0.0.1\ns=-\nc=IN IP4 10.0.0.1/127/2\nt=0 0\nm=audio 1 RTP/AVP 0\nc=IN IP6 fd00::1\na=rtcp:2\nm=video 3 RTP/AVP 31\nc=IN IP4 0.0.0.0\n"
	e := sdpEdit{media: true, origin: true, oldMediaIP: true, ip: netip.MustParseAddr("203.0.113.7")}
	out, _, ch, err := rewriteSDP(in, e)
	if err != nil || !ch {
		t.Fatal(err, ch)
	}
	want := "v=0\no=- 1 1 IN IP4 203.0.113.7\ns=-\nc=IN IP4 203.0.113.7/127/2\nt=0 0\nm=audio 1 RTP/AVP 0\nc=IN IP4 203.0.113.7\na=rtcp:2\nm=video 3 RTP/AVP 31\nc=IN IP4 0.0.0.0\n" +
		"a=oldmediaip:10.0.0.1\r\na=oldmediaip6:fd00::1\r\n"
	// (o= and the first c= had the same address: one a=oldmediaip line.)
	if out != want {
		t.Errorf("got\n%q\nwant\n%q", out, want)
	}
	// a=direction:active closes every media section, once.
	out, rep, ch, _ := rewriteSDP("v=0\r\nm=audio 1 RTP/AVP 0\r\na=sendrecv\r\nm=video 2 RTP/AVP 31\r\na=direction:active\r\nm=text 3 RTP/AVP 98",
		sdpEdit{direction: true})
	if out != "v=0\r\nm=audio 1 RTP/AVP 0\r\na=sendrecv\r\na=direction:active\r\nm=video 2 RTP/AVP 31\r\na=direction:active\r\nm=text 3 RTP/AVP 98\r\na=direction:active\r\n" || rep || !ch {
		t.Errorf("direction: %q replaced=%v changed=%v", out, rep, ch)
	}
	// IPv6 source: the address type changes with the address.
	out, _, _, _ = rewriteSDP("c=IN IP4 10.0.0.1\r\na=rtcp:9 IN IP4 10.0.0.1", sdpEdit{media: true, ip: netip.MustParseAddr("2001:db8::9")})
	if out != "c=IN IP6 2001:db8::9\r\na=rtcp:9 IN IP6 2001:db8::9" {
		t.Errorf("IPv6: %q", out)
	}
	for _, bad := range []string{"c=IN IP4\n", "c=IN IPX 1.2.3.4\n", "o=- 1 IN IP4 1.2.3.4\nc=IN IP4 1.2.3.4\n", "c=IN IP4 1.2.3.4\na=rtcp:1 IN IPX 1.2.3.4\n"} {
		if _, _, _, err := rewriteSDP(bad, sdpEdit{media: true, origin: true, ip: netip.MustParseAddr("192.0.2.1")}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestSDPSpans(t *testing.T) {
	b := "preamble\r\n--xx\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n--xx\r\nContent-Type: text/plain\r\n\r\nhi\r\n--xx\r\n" +
		"content-type: Application/SDP; charset=x\r\n\r\nv=1\r\n--xx--\r\nepilogue"
	var got []string
	for _, s := range sdpSpans(`multipart/mixed; boundary="xx"`, b) {
		got = append(got, b[s.start:s.end])
	}
	if strings.Join(got, "|") != "v=0|v=1" {
		t.Errorf("parts %q", got)
	}
	if s := sdpSpans("", "v=0\r\n"); len(s) != 1 {
		t.Error("a body without Content-Type is SDP")
	}
	for _, ct := range []string{"text/plain", "multipart/mixed", "bad;;type", "application/sdp"} {
		if s := sdpSpans(ct, ""); len(s) != 0 {
			t.Errorf("%s: empty body has SDP", ct)
		}
	}
}

func TestPingDestinationAndMessage(t *testing.T) {
	for _, tc := range []struct {
		t          PingTarget
		dst, route string
	}{
		{PingTarget{Contact: "sip:a@10.0.0.1:5062"}, "sip:a@10.0.0.1:5062", ""},
		{PingTarget{Contact: "sip:a@10.0.0.1", Received: "sip:203.0.113.1:4000;transport=tcp"}, "sip:203.0.113.1:4000;transport=tcp", ""},
		{PingTarget{Contact: "sip:a@10.0.0.1", Received: "sip:203.0.113.1", Path: "<sip:edge.example.com;lr>, <sip:core;lr>"},
			"sip:edge.example.com;lr", "<sip:edge.example.com;lr>, <sip:core;lr>"},
	} {
		d, r, err := pingDestination(tc.t, true)
		if err != nil || d != tc.dst || r != tc.route {
			t.Errorf("%+v: %q %q %v", tc.t, d, r, err)
		}
	}
	for _, bad := range []PingTarget{{Contact: "tel:+1"}, {Contact: "sip:a@h", Received: "sip:x y"}, {Contact: "sip:a@h", Path: "garbage"}} {
		if _, _, err := pingDestination(bad, true); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
	// An empty UDP ping ignores the Path.
	if d, r, _ := pingDestination(PingTarget{Contact: "sip:a@10.0.0.1", Received: "sip:203.0.113.1", Path: "<sip:edge;lr>"}, false); d != "sip:203.0.113.1" || r != "" {
		t.Errorf("UDP ping to %q route %q", d, r)
	}
	b, err := buildPing(pingRequest{method: "INFO", ruri: "sip:a@10.0.0.1", from: "sip:p@x", via: "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKnhp.1",
		callID: "c@x", tag: "t", userAgent: "User-Agent: luasbc"})
	if err != nil {
		t.Fatal(err)
	}
	m := parse(t, string(b), "192.0.2.1:5060", msg.UDP)
	if m.Method() != "INFO" || m.RURIString() != "sip:a@10.0.0.1" || m.CallID() != "c@x" {
		t.Errorf("ping %q", b)
	}
	if _, err := buildPing(pingRequest{method: "OPTIONS", ruri: "sip:a@h>\r\nX: y"}); err == nil {
		t.Error("unsafe contact accepted")
	}
}

func TestFindSocket(t *testing.T) {
	socks := []*msg.Socket{
		{Proto: msg.TCP, Addr: netip.MustParseAddrPort("192.0.2.1:5060"), Name: "tcp:192.0.2.1:5060"},
		{Proto: msg.UDP, Addr: netip.MustParseAddrPort("192.0.2.1:5060"), Name: "udp:192.0.2.1:5060"},
		{Proto: msg.TCP, Addr: netip.MustParseAddrPort("192.0.2.2:5070"), Name: "tcp:192.0.2.2:5070"},
	}
	for spec, want := range map[string]string{"udp:192.0.2.1:5060": "udp:192.0.2.1:5060", "192.0.2.1:5060": "udp:192.0.2.1:5060",
		"TCP:192.0.2.1:5060": "tcp:192.0.2.1:5060", "192.0.2.2:5070": "tcp:192.0.2.2:5070", "192.0.2.3:5060": ""} {
		s, err := findSocket(socks, spec)
		got := ""
		if err == nil {
			got = s.Name
		}
		if got != want {
			t.Errorf("findSocket(%q) = %q %v", spec, got, err)
		}
	}
}

// The KSR.nathelper table is Kamailio's, signature for signature
// (Appendix A of the KEMI reference).
func TestExportsMatchKamailio(t *testing.T) {
	want := map[string]string{
		"add_contact_alias": "() -> int", "add_contact_alias_addr": "(str, str, str) -> int", "add_rcv_param": "(int) -> int",
		"fix_nated_contact": "() -> int", "fix_nated_register": "() -> int", "fix_nated_sdp": "(int) -> int",
		"fix_nated_sdp_ip": "(int, str) -> int", "handle_ruri_alias": "() -> int", "handle_ruri_alias_mode": "(int) -> int",
		"is_rfc1918": "(str) -> int", "nat_uac_test": "(int) -> int", "set_alias_to_pv": "(str) -> int",
		"set_contact_alias": "() -> int", "set_contact_alias_trim": "() -> int",
	}
	def := kemi.LookupModule("nathelper")
	params, _, err := kemi.ValidateParams(def, nil)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := def.New(&kemi.Env{Params: params, Log: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, x := range inst.Exports() {
		got[x.Name] = x.Signature()
	}
	for n, sig := range want {
		if got[n] != sig {
			t.Errorf("%s: %q, want %q", n, got[n], sig)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d exports, want %d", len(got), len(want))
	}
}
