package msg

import (
	"net/netip"
	"strconv"
	"strings"
	"testing"
)

var src = netip.MustParseAddrPort("192.0.2.10:5062")
var sock = &Socket{Proto: UDP, Addr: netip.MustParseAddrPort("127.0.0.1:5060"), Name: "udp:127.0.0.1:5060"}

const invite = "INVITE sip:bob@example.com SIP/2.0\r\n" +
	"Via: SIP/2.0/UDP host.example.com:5062;branch=z9hG4bK776;rport, SIP/2.0/UDP second.example.com\r\n" +
	"Max-Forwards: 70\r\n" +
	"From: Alice <sip:alice@example.com>;tag=1928\r\n" +
	"To: <sip:bob@example.com>\r\n" +
	"Call-ID: a84b4c76e66710\r\n" +
	"CSeq: 314159 INVITE\r\n" +
	"Record-Route: <sip:rr.example.com;lr>\r\n" +
	"X-Long: part one\r\n  folded part\r\n" +
	"Content-Type: application/sdp\r\n" +
	"Content-Length: 4\r\n\r\nv=0\n"

func parse(t testing.TB, s string) *Msg {
	t.Helper()
	m, err := Parse([]byte(s), src, sock, UDP)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return m
}

func TestIndexAndAccessors(t *testing.T) {
	m := parse(t, invite)
	if v, _ := m.Header("x-long"); v != "part one\r\n  folded part" {
		t.Fatalf("folded header %q", v)
	}
	if v, _ := m.Header("l"); v != "4" {
		t.Fatalf("compact name lookup %q", v)
	}
	if m.Body() != "v=0\n" || m.Method() != "INVITE" || m.CallID() != "a84b4c76e66710" {
		t.Fatalf("body/method/callid")
	}
	if v, ok := m.SecondVia(); !ok || v != "SIP/2.0/UDP second.example.com" {
		t.Fatalf("second via %q", v)
	}
}

func TestParseRejects(t *testing.T) {
	for name, s := range map[string]string{
		"duplicate Call-ID": strings.Replace(invite, "CSeq:", "Call-ID: other\r\nCSeq:", 1),
		"duplicate CSeq":    strings.Replace(invite, "Call-ID:", "CSeq: 1 INVITE\r\nCall-ID:", 1),
		"no Call-ID":        strings.Replace(invite, "Call-ID: a84b4c76e66710\r\n", "", 1),
		"no header end":     strings.TrimSuffix(invite, "\r\n\r\nv=0\n"),
		"no colon":          strings.Replace(invite, "Max-Forwards: 70", "Max-Forwards 70", 1),
		"long body claim":   strings.Replace(invite, "Content-Length: 4", "Content-Length: 400", 1),
		"garbage":           "\x00\x01\x02garbage\r\n\r\n",
		"too many headers":  strings.Replace(invite, "X-Long", strings.Repeat("X-A: 1\r\n", 300)+"X-Long", 1),
	} {
		if _, err := Parse([]byte(s), src, sock, UDP); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestBuildRequestAppliesLumps(t *testing.T) {
	m := parse(t, invite)
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(m.AddLump(LumpAppend, "", "P-Hint: outbound\r\n"))
	must(m.AddLump(LumpRemove, "x-long", ""))
	must(m.AddLump(LumpInsertBefore, "Call-ID", "X-Before: 1\r\n"))
	must(m.AddLump(LumpAppendAfter, "t", "X-After-To: 1\r\n"))
	must(m.SetRURI("sip:carol@10.0.0.1:5070"))
	var b Builder
	m.BuildRequest(&b, ForwardOpts{RURI: m.RURIString(), Via: "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKx", MaxFwd: 69})
	out := string(b.B)
	if !strings.HasPrefix(out, "INVITE sip:carol@10.0.0.1:5070 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKx\r\nVia: SIP/2.0/UDP host.example.com") {
		t.Fatalf("start:\n%s", out)
	}
	for _, want := range []string{"P-Hint: outbound\r\n", "X-Before: 1\r\nCall-ID:", "To: <sip:bob@example.com>\r\nX-After-To: 1\r\n", "Max-Forwards: 69\r\n", "\r\n\r\nv=0\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
	if strings.Contains(out, "X-Long") || strings.Contains(out, "Max-Forwards: 70") {
		t.Fatalf("removed header kept:\n%s", out)
	}
	// The forwarded copy must parse.
	if _, err := Parse(b.B, src, sock, UDP); err != nil {
		t.Fatalf("forwarded request does not parse: %v", err)
	}
}

func TestBuildReplyRelayPopsOurVia(t *testing.T) {
	reply := "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKx, SIP/2.0/UDP host.example.com:5062;branch=z9hG4bK776\r\n" +
		"From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
	m := parse(t, reply)
	var b Builder
	if !m.BuildReplyRelay(&b) {
		t.Fatal("relay refused")
	}
	out := string(b.B)
	if strings.Contains(out, "127.0.0.1:5060") || !strings.Contains(out, "Via: SIP/2.0/UDP host.example.com:5062;branch=z9hG4bK776\r\n") {
		t.Fatalf("relay:\n%s", out)
	}
}

func TestBuildReply(t *testing.T) {
	m := parse(t, invite)
	var b Builder
	m.BuildReply(&b, ReplyOpts{Code: 180, Reason: "Ringing", ToTag: "abc", Server: "Server: t", Headers: []string{"X-R: 1\r\n"}})
	out := string(b.B)
	for _, want := range []string{
		"SIP/2.0 180 Ringing\r\n",
		"Via: SIP/2.0/UDP host.example.com:5062;branch=z9hG4bK776;received=192.0.2.10;rport=5062, SIP/2.0/UDP second.example.com\r\n",
		"To: <sip:bob@example.com>;tag=abc\r\n", "Record-Route: <sip:rr.example.com;lr>\r\n",
		"X-R: 1\r\nServer: t\r\nContent-Length: 0\r\n\r\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
	// No To-tag on 100, and an existing tag is kept.
	m.BuildReply(&b, ReplyOpts{Code: 100, Reason: "Trying", ToTag: "abc"})
	if strings.Contains(string(b.B), "tag=abc") {
		t.Fatal("100 Trying got a To tag")
	}
}

func TestCheckHeaderText(t *testing.T) {
	ok := []string{"X-A: 1\r\n", "X-A: 1", "X-A: 1\r\nX-B: 2\r\n", "X-Empty:\r\n"}
	bad := []string{"", "X-A: 1\r\n\r\nbody", "X-A: 1\nX-B: 2\r\n", "X-A: a\rb\r\n", "X-A: \x00\r\n", ": v\r\n", "X A: v\r\n", "novalue\r\n", "X-A: 1\n"}
	for _, s := range ok {
		if _, err := CheckHeaderText(s); err != nil {
			t.Errorf("%q refused: %v", s, err)
		}
	}
	for _, s := range bad {
		if _, err := CheckHeaderText(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}

func TestSplitComma(t *testing.T) {
	got := SplitComma(`"Doe, John" <sip:a@b;x=1,2>;p=1, <sip:c@d>`)
	if len(got) != 2 || got[1] != "<sip:c@d>" {
		t.Fatalf("%q", got)
	}
}

func BenchmarkParse(b *testing.B) {
	data := []byte(invite)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := Parse(data, src, sock, UDP); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBuildRequest(b *testing.B) {
	m := parse(b, invite)
	_ = m.AddLump(LumpAppend, "", "P-Hint: outbound\r\n")
	var bb Builder
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		m.BuildRequest(&bb, ForwardOpts{RURI: m.RURIString(), Via: "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKx", MaxFwd: 69})
	}
}

// A relayed reply whose body the script replaced (rtpengine's answer) says
// the new length.
func TestReplyRelayNewBodyLength(t *testing.T) {
	raw := "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.0.2.9;branch=z9hG4bKus\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKthem\r\n" +
		"From: <sip:a@x>;tag=1\r\nTo: <sip:b@x>;tag=2\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nContent-Type: application/sdp\r\n" +
		"Content-Length: 10\r\n\r\n0123456789"
	m, err := Parse([]byte(raw), netip.MustParseAddrPort("192.0.2.2:5060"), nil, UDP)
	if err != nil {
		t.Fatal(err)
	}
	nb := "v=0\r\no=- 1 1 IN IP4 203.0.113.5\r\n"
	m.NewBody = &nb
	var b Builder
	if !m.BuildReplyRelay(&b) {
		t.Fatal("not built")
	}
	out := string(b.B)
	if !strings.Contains(out, "Content-Length: "+strconv.Itoa(len(nb))+"\r\n") || !strings.HasSuffix(out, "\r\n\r\n"+nb) {
		t.Errorf("relayed reply:\n%s", out)
	}
}

func TestUnfold(t *testing.T) {
	for in, want := range map[string]string{
		"<sip:a>":                        "<sip:a>",
		"<sip:a>,\r\n <sip:b>":           "<sip:a>, <sip:b>",
		"a\r\n\t \tb":                    "a b",
		"a\n b":                          "a b",
		"INVITE, ACK,\r\n  BYE\r\n\tFOO": "INVITE, ACK, BYE FOO",
	} {
		if got := Unfold(in); got != want {
			t.Errorf("Unfold(%q) = %q, want %q", in, got, want)
		}
		if CheckValue(Unfold(in)) != nil {
			t.Errorf("Unfold(%q) does not pass CheckValue", in)
		}
	}
}
