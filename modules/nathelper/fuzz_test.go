package nathelper

import (
	"net/netip"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/luasbc/luasbc/core/msg"
	"github.com/luasbc/luasbc/kemi"
)

// FuzzParseAlias: an alias comes from a R-URI or Contact the network sent;
// what parseAlias accepts becomes $du, so it must be a safe URI, and the
// alias must survive being written and read back.
func FuzzParseAlias(f *testing.F) {
	for _, s := range []string{"1.2.3.4~5060~1", "[2001:db8::1]~5061~3", "::ffff:1.2.3.4~1~6", "1.2.3.4~5060", "a~b~c",
		"1.2.3.4~5060~1~", "1.2.3.4%0d%0a~5060~1", "1.2.3.4~0x10~1", "[1.2.3.4]~5060~1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		a, err := parseAlias(v)
		if err != nil {
			return
		}
		u := a.uri()
		if _, ok := parseSIPURI(u); !ok || msg.CheckValue(u) != nil {
			t.Fatalf("parseAlias(%q) gives unsafe URI %q", v, u)
		}
		b, err := parseAlias(a.String())
		if err != nil || b != a {
			t.Fatalf("alias %q written as %q reads back as %+v (%v)", v, a.String(), b, err)
		}
	})
}

// FuzzParseSIPURI: accepted URIs are rendered back unchanged, carry no byte
// that could break out of a header, and stay valid after the edits the
// module makes.
func FuzzParseSIPURI(f *testing.F) {
	for _, s := range []string{"sip:alice@10.0.0.1:5060;transport=tcp", "sips:a:b@[::1]:1;lr?x=y", "sip:u;p@h;alias=1.2.3.4~1~1",
		"sip:h", "sip:a@h:", "sip:[::1", "tel:+1", "sip:a@h;;x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, ok := parseSIPURI(s)
		if !ok {
			return
		}
		if u.String() != s {
			t.Fatalf("%q rendered as %q", s, u.String())
		}
		for i := 0; i < len(s); i++ {
			if unsafeURIByte(s[i]) {
				t.Fatalf("%q accepted with byte %q", s, s[i])
			}
		}
		u.host, u.port = "192.0.2.1", "5060"
		for _, e := range []sipURI{u, u.withParam("alias=1.2.3.4~5060~1"), u.withoutParams("maddr")} {
			if _, ok := parseSIPURI(e.String()); !ok {
				t.Fatalf("%q edited to %q no longer parses", s, e.String())
			}
		}
	})
}

// FuzzRewriteSDP: SDP comes from the network. A rewrite never fails on
// its own output and, applied twice, changes nothing the second time.
func FuzzRewriteSDP(f *testing.F) {
	f.Add("v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nm=audio 1 RTP/AVP 0\r\na=rtcp:2 IN IP4 10.0.0.1\r\n", uint8(15))
	f.Add("c=IN IP6 fd00::1/2\nc=IN IP4 0.0.0.0\n", uint8(2))
	f.Add("o=a b c IN IP4 h.example\r\nc=IN IP4 h", uint8(11))
	f.Add("c=IN IP4 1.2.3.4\r\na=oldmediaip:10.0.0.1", uint8(3))
	f.Fuzz(func(t *testing.T, sdp string, flags uint8) {
		e := sdpEdit{media: flags&2 != 0, origin: flags&8 != 0, direction: flags&1 != 0, oldMediaIP: flags&16 != 0,
			ip: netip.MustParseAddr("203.0.113.7")}
		if flags&4 != 0 {
			e.nortpproxy = "a=nortpproxy:yes\r\n"
		}
		if flags&32 != 0 {
			e.ip = netip.MustParseAddr("2001:db8::7")
		}
		out, _, _, err := rewriteSDP(sdp, e)
		if err != nil {
			return
		}
		again, _, ch, err := rewriteSDP(out, e)
		if err != nil || ch || again != out {
			t.Fatalf("second rewrite of %q: changed=%v err=%v\nfirst  %q\nsecond %q", sdp, ch, err, out, again)
		}
	})
}

// FuzzSDPSpans: the SDP parts found in a body lie inside it, in order.
func FuzzSDPSpans(f *testing.F) {
	f.Add("multipart/mixed;boundary=b", "--b\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n--b--\r\n")
	f.Add("multipart/related; boundary=\"x y\"", "--x y\nContent-Type: application/sdp\n\nv=0\n--x y\n\nraw\n--x y--")
	f.Add("application/sdp", "v=0\r\n")
	f.Fuzz(func(t *testing.T, ct, body string) {
		last := 0
		for _, s := range sdpSpans(ct, body) {
			if s.start < last || s.end < s.start || s.end > len(body) {
				t.Fatalf("span %+v out of order or bounds (len %d)", s, len(body))
			}
			last = s.end
		}
	})
}

// FuzzContactEdit: whatever Contact a user agent sends, the message the
// module's Contact edits produce must still be one a SIP parser accepts,
// with the edit in place — or the edit is refused.
func FuzzContactEdit(f *testing.F) {
	for _, s := range []string{`"A" <sip:a@10.0.0.1:5060;transport=udp>;expires=60`, "sip:a@10.0.0.1;q=0.5", "<sip:a@h;maddr=1.2.3.4>",
		"sip:b@h, <sip:a@h>;x=1", "*", "<tel:+1>", "<sip:a@[fd00::1]:5062;alias=1.2.3.4~5~1>", "<sip:a@h>;p=\"x,y\", <sip:b@h>"} {
		f.Add(s, uint8(0))
	}
	x := &nathelper{aliasName: "alias"}
	f.Fuzz(func(t *testing.T, contact string, op uint8) {
		if strings.ContainsAny(contact, "\r\n") {
			return
		}
		raw := "INVITE sip:b@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1\r\nFrom: <sip:a@x>;tag=1\r\n" +
			"To: <sip:b@x>\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\nContact: " + contact + "\r\nContent-Length: 0\r\n\r\n"
		sock := &msg.Socket{Proto: msg.UDP, Addr: netip.MustParseAddrPort("192.0.2.1:5060")}
		m, err := msg.Parse([]byte(raw), netip.MustParseAddrPort("203.0.113.5:5062"), sock, msg.UDP)
		if err != nil {
			return
		}
		c := &kemi.Ctx{M: m, Log: zap.NewNop()}
		var want string
		var rc int
		switch op % 4 {
		case 0:
			rc, want = x.fixNatedContact(c), "203.0.113.5:5062"
		case 1:
			rc, want = x.setContactAlias(c, op&4 != 0), "alias=203.0.113.5~5062~1"
		case 2:
			rc, want = x.addRcvParam(c, 0), `received="sip:203.0.113.5:5062"`
		case 3:
			rc, want = x.addRcvParam(c, 1), "received=sip:203.0.113.5:5062"
		}
		if rc < 0 || len(m.Lumps) == 0 { // refused, or nothing to do (Contact: *)
			return
		}
		var b msg.Builder
		m.BuildRequest(&b, msg.ForwardOpts{RURI: m.RURIString(), Via: "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKx", MaxFwd: 69})
		out, err := msg.Parse(b.B, netip.MustParseAddrPort("192.0.2.1:5060"), sock, msg.UDP)
		if err != nil {
			t.Fatalf("Contact %q, op %d: forwarded message does not parse: %v\n%s", contact, op%4, err, b.B)
		}
		if v, _ := out.HeaderType(msg.HContact); !strings.Contains(v, want) {
			t.Fatalf("Contact %q, op %d: forwarded Contact %q lacks %q", contact, op%4, v, want)
		}
	})
}

// FuzzHandleRURIAlias: the R-URI of an in-dialog request comes from the
// network; handle_ruri_alias either refuses it or leaves a R-URI and a $du
// that are valid and safe, with one alias parameter fewer.
func FuzzHandleRURIAlias(f *testing.F) {
	for _, s := range []string{"sip:bob@10.0.0.1;alias=1.2.3.4~5060~1", "sip:b@h;alias=[::1]~1~2;lr;alias=1.2.3.4~2~3",
		"sip:b@h;alias=", "sip:b@h;ALIAS=1.2.3.4~5060~1?x=y", "sips:h;alias=1.2.3.4~5060", "tel:+1;alias=1.2.3.4~5060~1"} {
		f.Add(s, false)
	}
	x := &nathelper{aliasName: "alias"}
	f.Fuzz(func(t *testing.T, ruri string, last bool) {
		if strings.ContainsAny(ruri, " \t\r\n") {
			return
		}
		raw := "BYE " + ruri + " SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1\r\nFrom: <sip:a@x>;tag=1\r\n" +
			"To: <sip:b@x>;tag=2\r\nCall-ID: c1\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"
		sock := &msg.Socket{Proto: msg.UDP, Addr: netip.MustParseAddrPort("192.0.2.1:5060")}
		m, err := msg.Parse([]byte(raw), netip.MustParseAddrPort("203.0.113.5:5062"), sock, msg.UDP)
		if err != nil {
			return
		}
		mode := 0
		if last {
			mode = 1
		}
		before := strings.Count(strings.ToLower(m.RURIString()), "alias=")
		if x.handleRURIAlias(&kemi.Ctx{M: m, Log: zap.NewNop()}, mode) != 1 {
			if m.RURIChanged() || m.DstURI != "" {
				t.Fatalf("R-URI %q: refused but changed R-URI or $du", ruri)
			}
			return
		}
		if _, ok := parseSIPURI(m.DstURI); !ok {
			t.Fatalf("R-URI %q: $du %q is not a valid URI", ruri, m.DstURI)
		}
		if after := strings.Count(strings.ToLower(m.RURIString()), "alias="); after != before-1 {
			t.Fatalf("R-URI %q became %q", ruri, m.RURIString())
		}
		var b msg.Builder
		m.BuildRequest(&b, msg.ForwardOpts{RURI: m.RURIString(), Via: "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKx", MaxFwd: 69})
		if _, err := msg.Parse(b.B, netip.MustParseAddrPort("192.0.2.1:5060"), sock, msg.UDP); err != nil {
			t.Fatalf("R-URI %q: forwarded request does not parse: %v", ruri, err)
		}
	})
}
