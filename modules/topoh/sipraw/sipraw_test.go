package sipraw

import (
	"strings"
	"testing"

	"github.com/luasbc/luasbc/core/msg"
)

const invite = "INVITE sip:bob@example.com SIP/2.0\r\n" +
	"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1, SIP/2.0/TCP [2001:db8::1]:5070;branch=z9hG4bK2;rport\r\n" +
	"v: SIP/2.0/UDP host.example;branch=z9hG4bK3\r\n" +
	"Record-Route: <sip:192.0.2.9;lr;ftag=x>,\r\n <sip:p2.example;lr>\r\n" +
	"From: \"A, B\" <sip:alice@example.com;x=1>;tag=ftag1\r\n" +
	"To: sip:bob@example.com;tag=ttag\r\n" +
	"Call-ID: abc@192.0.2.1\r\n" +
	"CSeq: 7 INVITE\r\n" +
	"m: <sip:alice@192.0.2.1:5060;transport=tcp>;expires=60\r\n" +
	"Content-Length: 4\r\n\r\nbody"

func mustParse(t *testing.T, s string) *Msg {
	t.Helper()
	m, err := ParseString(s)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestParseAccessors(t *testing.T) {
	m := mustParse(t, invite)
	if !m.Request || m.Method != "INVITE" || m.RURI != "sip:bob@example.com" || m.Version() != "SIP/2.0" {
		t.Fatalf("first line: %+v", m)
	}
	if num, meth := m.CSeq(); num != "7" || meth != "INVITE" {
		t.Errorf("CSeq %q %q", num, meth)
	}
	if m.FromTag() != "ftag1" || m.ToTag() != "ttag" || !m.InDialog() {
		t.Errorf("tags %q %q", m.FromTag(), m.ToTag())
	}
	if m.CallID() != "abc@192.0.2.1" || m.TopViaBranch() != "z9hG4bK1" || m.ViaCount() != 3 {
		t.Errorf("call-id %q branch %q vias %d", m.CallID(), m.TopViaBranch(), m.ViaCount())
	}
	rr := m.Items(msg.HRecordRoute)
	if len(rr) != 2 || rr[1].Text != "<sip:p2.example;lr>" {
		t.Errorf("folded Record-Route items %+v", rr)
	}
	if c := URIOf(m.Items(msg.HContact)[0].Text); c != "sip:alice@192.0.2.1:5060;transport=tcp" {
		t.Errorf("contact URI %q", c)
	}
	if m.Body() != "body" {
		t.Errorf("body %q", m.Body())
	}
	r := mustParse(t, "SIP/2.0 183 Session Progress\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\nCSeq: 1 INVITE\r\n\r\n")
	if r.Request || r.Status != 183 || r.CSeqMethod() != "INVITE" {
		t.Errorf("reply: %+v", r)
	}
	for _, bad := range []string{"SIP/2.0 99 x\r\n\r\n", "INVITE\r\n\r\n", "SIP/2.0 20\r\n\r\n", "IN VITE x SIP/2.0\r\nA: b\r\n"} {
		if _, err := ParseString(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestNameAddr(t *testing.T) {
	for _, c := range []struct{ in, uri string }{
		{`"Bob <x>" <sip:bob@h>;tag=1`, "sip:bob@h"},
		{`sip:bob@h;tag=1`, "sip:bob@h"},
		{`  sip:bob@h`, "sip:bob@h"},
		{`<sip:a@b;lr>`, "sip:a@b;lr"},
		{`*`, ""},
		{`<sip:a`, ""},
		{`"unterminated <sip:a@b>`, ""},
	} {
		if got := URIOf(c.in); got != c.uri {
			t.Errorf("URIOf(%q) = %q, want %q", c.in, got, c.uri)
		}
	}
	if v, ok := ReplaceURI("sip:a@b;tag=1", "sip:x;p=1"); !ok || v != "<sip:x;p=1>;tag=1" {
		t.Errorf("ReplaceURI bare: %q", v)
	}
	if v, _ := ReplaceURI(`"A" <sip:a@b>;q=1`, "sip:c"); v != `"A" <sip:c>;q=1` {
		t.Errorf("ReplaceURI angle: %q", v)
	}
	if HeaderParam(`<sip:a@b;tag=no>;tag=yes`, "tag") != "yes" || HeaderParam("sip:a@b ; tag = t", "tag") != "t" {
		t.Errorf("HeaderParam")
	}
}

func TestURIAndVia(t *testing.T) {
	u, ok := ParseURI("sips:user;p=1@[2001:db8::1]:5061;transport=tls;lr?h=v")
	if !ok || u.Scheme != "sips" || u.User != "user;p=1" || u.Host != "[2001:db8::1]" || u.Port != "5061" ||
		u.Transport() != "tls" || u.Headers != "?h=v" {
		t.Fatalf("%+v", u)
	}
	if _, ok := u.Param("lr"); !ok {
		t.Errorf("lr not found")
	}
	if u.String() != "sips:user;p=1@[2001:db8::1]:5061;transport=tls;lr?h=v" {
		t.Errorf("String %q", u.String())
	}
	for _, bad := range []string{"", "nohost", "sip:", "sip:a@", "sip:h:port", "1sip:h", "sip:[::1", "sip:[::1]x"} {
		if _, ok := ParseURI(bad); ok {
			t.Errorf("ParseURI(%q) ok", bad)
		}
	}
	v, ok := ParseVia(" SIP / 2.0 / TCP  h.example:5070 ;branch=z9hG4bKx;rport")
	if !ok || v.Transport != "TCP" || v.HostPort() != "h.example:5070" || ViaParam(v.Params, "branch") != "z9hG4bKx" {
		t.Errorf("%+v", v)
	}
	if _, ok := ParseVia("SIP/2.0/UDP"); ok {
		t.Errorf("Via without host parsed")
	}
	if SetParam(";a=1;lr;b", "lr", "on") != ";a=1;lr=on;b" || SetParam("", "x", "") != ";x" {
		t.Errorf("SetParam: %q %q", SetParam(";a=1;lr;b", "lr", "on"), SetParam("", "x", ""))
	}
}

func TestEdit(t *testing.T) {
	m := mustParse(t, invite)
	e := NewEdit(m)
	if string(e.Bytes()) != invite || e.Changed() {
		t.Fatal("an empty edit must give the message back")
	}
	e.SetFirstLine("INVITE sip:new@h SIP/2.0")
	e.RemoveType(msg.HRecordRoute)
	e.Replace(m.First(msg.HCallID), "Call-ID: new\r\n")
	e.InsertBefore(m.First(msg.HFrom), "X-Before: 1\r\n")
	e.InsertAfter(m.First(msg.HFrom), "X-After: 1\r\n")
	e.Append("X-Last: 1\r\n")
	out := string(e.Bytes())
	n := mustParse(t, out)
	if n.RURI != "sip:new@h" || n.CallID() != "new" || len(n.Items(msg.HRecordRoute)) != 0 || n.Body() != "body" {
		t.Errorf("edited:\n%s", out)
	}
	if !strings.Contains(out, "X-Before: 1\r\nFrom:") || !strings.Contains(out, "X-Last: 1\r\n\r\nbody") {
		t.Errorf("insert positions:\n%s", out)
	}
	if _, ok := Line("X", "a\r\nInjected: 1"); ok {
		t.Errorf("Line accepted CRLF")
	}
	if got, err := ParseMethods("BYE, cancel ,PRACK"); err != nil || !got["CANCEL"] || len(got) != 3 {
		t.Errorf("ParseMethods %v %v", got, err)
	}
	if _, err := ParseMethods("BY E"); err == nil {
		t.Errorf("ParseMethods accepted a blank")
	}
}
