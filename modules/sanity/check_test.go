package sanity

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/luasbc/luasbc/core/msg"
)

const tortureDir = "testdata/torture"

// parse builds a Msg from text written with bare LF line ends.
func parse(t testing.TB, raw string) *msg.Msg {
	t.Helper()
	raw = strings.ReplaceAll(strings.ReplaceAll(raw, "\r\n", "\n"), "\n", "\r\n")
	m, err := msg.Parse([]byte(raw), netip.MustParseAddrPort("192.0.2.9:5060"), nil, msg.UDP)
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, raw)
	}
	return m
}

const okRequest = `OPTIONS sip:bob@example.com SIP/2.0
Via: SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bK-1
From: "Alice" <sip:alice@example.com>;tag=a1
To: Bob <sip:bob@example.com>
Call-ID: c1@192.0.2.9
CSeq: 1 OPTIONS
Content-Length: 0

`

const okReply = `SIP/2.0 200 OK
Via: SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bK-1
From: "Alice" <sip:alice@example.com>;tag=a1
To: Bob <sip:bob@example.com>;tag=b1
Call-ID: c1@192.0.2.9
CSeq: 1 INVITE
Contact: <sip:bob@192.0.2.10>
Content-Length: 0

`

const allChecks = 1<<17 - 1

// setHeader replaces the raw value of the first header of type ht, the way
// a message the core parser would refuse reaches the checks.
func setHeader(m *msg.Msg, ht msg.HType, v string) {
	for i := range m.Hdrs {
		if m.Hdrs[i].Type == ht {
			m.Hdrs[i].Value = v
			return
		}
	}
}

func dropHeader(m *msg.Msg, ht msg.HType) {
	out := m.Hdrs[:0]
	for _, h := range m.Hdrs {
		if h.Type != ht {
			out = append(out, h)
		}
	}
	m.Hdrs = out
}

func TestValidMessagesPassEveryCheck(t *testing.T) {
	p := &Params{SizeChecks: true, SizeMessage: 16384, SizeHeaders: 8192, SizeBody: 8192, SizeHeader: 2048,
		SizeMethod: 32, SizeRURI: 256, SizeFromURI: 256, SizeToURI: 256, SizeContactURI: 256, SizeRouteURI: 256,
		SizePathURI: 256, SizePAIURI: 256}
	for _, raw := range []string{okRequest, okReply} {
		if f := Check(parse(t, raw), allChecks, 15, p); f != nil {
			t.Errorf("unexpected failure %v for\n%s", f, raw)
		}
	}
}

var withBody = strings.Replace(okRequest, "Content-Length: 0\n\n", "Content-Length: 2\n\nok", 1)

// The core parser refuses these before routing, so they are checked here
// on a parsed message whose raw header index is altered.
func TestChecksTheCoreParserPreempts(t *testing.T) {
	for _, tc := range []struct {
		name   string
		edit   func(m *msg.Msg)
		bit    int
		code   int
		reason string
	}{
		{"no Call-ID", func(m *msg.Msg) { dropHeader(m, msg.HCallID) }, CheckRequiredHeaders, 400, "Missing Required Header in Request"},
		{"no Via", func(m *msg.Msg) { dropHeader(m, msg.HVia) }, CheckRequiredHeaders, 400, "Missing Required Header in Request"},
		{"empty To", func(m *msg.Msg) { setHeader(m, msg.HTo, "") }, CheckRequiredHeaders, 400, "Missing Required Header in Request"},
		{"CSeq over 32 bits", func(m *msg.Msg) { setHeader(m, msg.HCSeq, "4294967296 OPTIONS") }, CheckCSeqValue, 400, "Bad CSeq Number"},
		{"CSeq not a number", func(m *msg.Msg) { setHeader(m, msg.HCSeq, "1a OPTIONS") }, CheckCSeqValue, 400, "Bad CSeq Number"},
		{"CSeq negative", func(m *msg.Msg) { setHeader(m, msg.HCSeq, "-1 OPTIONS") }, CheckCSeqValue, 400, "Bad CSeq Number"},
		{"CSeq without method", func(m *msg.Msg) { setHeader(m, msg.HCSeq, "1") }, CheckCSeqMethod, 400, "CSeq method does not match request method"},
		{"Content-Length not a number", func(m *msg.Msg) { setHeader(m, msg.HContentLength, "-1") }, CheckContentLength, 400, "Content-Length mis-match"},
		{"Content-Length larger", func(m *msg.Msg) { setHeader(m, msg.HContentLength, "1") }, CheckContentLength, 400, "Content-Length mis-match"},
		{"Content-Length smaller", func(m *msg.Msg) { setHeader(m, msg.HContentLength, "4") }, CheckContentLength, 400, "Content-Length mis-match"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := parse(t, withBody)
			if f := Check(m, tc.bit, 0, nil); f != nil {
				t.Fatalf("valid message failed: %v", f)
			}
			tc.edit(m)
			f := Check(m, tc.bit, 0, nil)
			if f == nil || f.Code != tc.code || f.Reason != tc.reason {
				t.Fatalf("got %v, want %d %s", f, tc.code, tc.reason)
			}
		})
	}
	m := parse(t, okRequest)
	setHeader(m, msg.HCSeq, "4294967295 OPTIONS")
	if f := Check(m, CheckCSeqValue, 0, nil); f != nil {
		t.Fatalf("largest 32-bit CSeq refused: %v", f)
	}
}

func TestReplies(t *testing.T) {
	r := parse(t, okReply)
	// CSeq method, R-URI, Proxy-Require and credential checks are request-only.
	if f := Check(r, CheckRURIVersion|CheckRURIScheme|CheckCSeqMethod|CheckProxyRequire|CheckDigest|CheckParseURIs, URIRequest, nil); f != nil {
		t.Fatalf("request-only checks failed a reply: %v", f)
	}
	if f := Check(r, 17604, 6, nil); f != nil {
		t.Fatalf("valid reply failed 17604: %v", f)
	}
	bad := parse(t, okReply)
	setHeader(bad, msg.HContentLength, "3")
	if f := Check(bad, 17604, 6, nil); f == nil || f.Check != "content_length" {
		t.Fatalf("CL mismatch in reply: %v", f)
	}
	bad = parse(t, strings.Replace(okReply, "<sip:alice@example.com>", "<sip:alice@exa..mple.com>", 1))
	if f := Check(bad, 17604, 6, nil); f == nil || f.Reason != "Bad From URI" {
		t.Fatalf("bad From in reply: %v", f)
	}
	bad = parse(t, strings.Replace(okReply, ";branch=z9hG4bK-1", "", 1))
	if f := Check(bad, 17604, 6, nil); f == nil || f.Reason != "Bad Via" {
		t.Fatalf("Via without branch in reply: %v", f)
	}
	long := parse(t, strings.Replace(okReply, "CSeq: 1 INVITE", "CSeq: 1 "+strings.Repeat("X", 40), 1))
	if f := Check(long, CheckSizes, 0, &Params{SizeMethod: 32}); f == nil || f.Reason != "Method Too Long" {
		t.Fatalf("long CSeq method in reply: %v", f)
	}
}

func TestSizes(t *testing.T) {
	big := strings.Repeat("a", 300)
	for _, tc := range []struct {
		name   string
		p      Params
		raw    string
		code   int
		reason string
	}{
		{"message", Params{SizeMessage: 100}, okRequest, 413, "Message Too Large"},
		{"headers", Params{SizeHeaders: 100}, okRequest, 413, "Message Too Large"},
		{"body", Params{SizeBody: 3}, strings.Replace(okRequest, "Content-Length: 0\n\n", "Content-Length: 4\n\nabcd", 1), 413, "Message Too Large"},
		{"header", Params{SizeHeader: 30}, okRequest, 400, "Header Too Long"},
		{"method", Params{SizeMethod: 5}, okRequest, 400, "Method Too Long"},
		{"R-URI", Params{SizeRURI: 256}, strings.Replace(okRequest, "OPTIONS sip:bob@", "OPTIONS sip:"+big+"@", 1), 400, "Request URI Too Long"},
		{"From", Params{SizeFromURI: 10}, okRequest, 400, "From URI Too Long"},
		{"To", Params{SizeToURI: 10}, okRequest, 400, "To URI Too Long"},
		{"Contact", Params{SizeContactURI: 256}, strings.Replace(okRequest, "CSeq:", "Contact: <sip:"+big+"@h>, <sip:b@h>\nCSeq:", 1), 400, "Contact URI Too Long"},
		{"Record-Route", Params{SizeRouteURI: 256}, strings.Replace(okRequest, "CSeq:", "Record-Route: <sip:"+big+";lr>\nCSeq:", 1), 400, "Route URI Too Long"},
		{"Path", Params{SizePathURI: 256}, strings.Replace(okRequest, "CSeq:", "Path: <sip:"+big+";lr>\nCSeq:", 1), 400, "Path URI Too Long"},
		{"PAI", Params{SizePAIURI: 256}, strings.Replace(okRequest, "CSeq:", "P-Asserted-Identity: <sip:"+big+"@h>\nCSeq:", 1), 400, "P-Asserted-Identity URI Too Long"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := parse(t, tc.raw)
			f := Check(m, CheckSizes, 0, &tc.p)
			if f == nil || f.Code != tc.code || f.Reason != tc.reason {
				t.Fatalf("got %v, want %d %s", f, tc.code, tc.reason)
			}
			if Check(m, CheckSizes, 0, &Params{}) != nil {
				t.Fatal("zero limits must disable the size checks")
			}
			// size_checks runs them even when the bit is not requested.
			sp := tc.p
			sp.SizeChecks = true
			if Check(m, 0, 0, &sp) == nil || Check(m, 0, 0, &tc.p) != nil {
				t.Fatal("size_checks parameter not honoured")
			}
		})
	}
}

func TestProxyRequire(t *testing.T) {
	p := &Params{ProxyRequire: []string{"foo", "bar"}}
	with := func(v string) *msg.Msg {
		return parse(t, strings.Replace(okRequest, "CSeq:", "Proxy-Require: "+v+"\nCSeq:", 1))
	}
	if f := Check(with("foo, BAR"), CheckProxyRequire, 0, p); f != nil {
		t.Fatalf("supported options refused: %v", f)
	}
	f := Check(with("foo,\n  baz , qux, baz"), CheckProxyRequire, 0, p)
	if f == nil || f.Code != 420 || len(f.Headers) != 1 || f.Headers[0] != "Unsupported: baz, qux\r\n" {
		t.Fatalf("got %v %q", f, f.Headers)
	}
	if f := Check(with("foo bar"), CheckProxyRequire, 0, p); f == nil || f.Code != 400 {
		t.Fatalf("option with white space accepted: %v", f)
	}
	if f := Check(with(" , "), CheckProxyRequire, 0, p); f == nil || f.Code != 400 {
		t.Fatalf("empty Proxy-Require accepted: %v", f)
	}
}

func TestCredentials(t *testing.T) {
	const good = `Digest username="alice", realm="example.com", nonce="n0nce", uri="sip:example.com", response="0123456789abcdef0123456789abcdef", algorithm=MD5, qop=auth, nc=00000001, cnonce="c"`
	for _, tc := range []struct {
		value         string
		digest, autho bool // pass 2048, pass 8192
	}{
		{good, true, true},
		{`Digest username="a", realm="", nonce="n", uri="sip:h", response="ab"`, true, true},
		{"Basic YWxpY2U6c2VjcmV0", false, true},
		{"NoOneKnowsThisScheme opaque-data=here", false, true},
		{strings.Replace(good, `nonce="n0nce", `, "", 1), false, false},
		{strings.Replace(good, `username="alice"`, `username=""`, 1), false, false},
		{strings.Replace(good, `response="0123456789abcdef0123456789abcdef"`, `response="xyz"`, 1), false, false},
		{strings.Replace(good, "nc=00000001", "nc=1", 1), false, false},
		{strings.Replace(good, `cnonce="c"`, `cnonce=""`, 1), false, false},
		{good + `, nonce="again"`, false, false},
		{`Digest username="alice`, false, false},
		{`Digest username="alice",`, false, false},
		{`Digest username "alice"`, false, false},
		{"Digest", false, false},
	} {
		for _, h := range []string{"Authorization", "Proxy-Authorization"} {
			m := parse(t, strings.Replace(okRequest, "CSeq:", h+": "+tc.value+"\nCSeq:", 1))
			if f := Check(m, CheckDigest, 0, nil); (f == nil) != tc.digest || f != nil && f.Reason != "Bad Authorization Header" {
				t.Errorf("2048 %s: %s: got %v", h, tc.value, f)
			}
			if f := Check(m, CheckAuthorization, 0, nil); (f == nil) != tc.autho {
				t.Errorf("8192 %s: %s: got %v", h, tc.value, f)
			}
		}
	}
	// Every instance is checked, not only the first.
	m := parse(t, strings.Replace(okRequest, "CSeq:", "Authorization: "+good+"\nProxy-Authorization: Digest username=\"x\"\nCSeq:", 1))
	if Check(m, CheckAuthorization, 0, nil) == nil {
		t.Error("second credentials not checked")
	}
}

func TestValidateURI(t *testing.T) {
	for _, u := range []string{
		"sip:bob@example.com", "sips:bob@example.com:5061;transport=tcp", "sip:example.com", "sip:[2001:db8::1]:5060",
		"sip:192.0.2.1", "SIP:Bob@Example.COM", "sip:bob:secret@example.com", "sip:user;par=u%40example.net@example.com",
		"sip:sips%3Auser%40example.com@example.net", "sip:alice@atlanta.com;maddr=239.255.255.1;ttl=15",
		"sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com",
		"sip:host_with_underscore.example.com", "sip:example.com.", "sip:a@b;lr;", "sip:+1-212-555-1212@gw.example.com;user=phone",
		"tel:+1-201-555-0123", "tel:7042;phone-context=example.com", "tel:*21#", "tels:+44(0)20.7946.0000",
		"urn:service:sos", "urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6",
	} {
		if err := validateURI(u, false); err != nil {
			t.Errorf("%s refused: %v", u, err)
		}
	}
	for _, u := range []string{
		"", "sip:", "example.com", "1sip:x", "sip:@example.com", "sip:a@b@c", "sip:bob@", "sip:bob@exa mple.com",
		"sip:bob@-x.com", "sip:bob@x-.com", "sip:bob@a..b", "sip:bob@256.1.1.1", "sip:bob@1.2.3", "sip:bob@[::1",
		"sip:bob@[fe80::1%eth0]", "sip:bob@[192.0.2.1]", "sip:bob@h:", "sip:bob@h:65536", "sip:bob@h:5x", "sip:b%zzob@h",
		"sip:b%4@h", "sip:bob@h;=x", "sip:bob@h;a=", "sip:bob@h;a=<", "sip:bob@h?x=y", "sip:b<o>b@h", "sip:b\"ob@h",
		"http://example.com", "mailto:bob@example.com", "im:bob@example.com", "tel:", "tel:+", "tel:+12a", "tel:12;a=<",
		"urn:", "urn:x", "urn::x", "urn:x:a b", "sip:bob@h\r\n", "sip:bob\x00@h",
	} {
		if err := validateURI(u, false); err == nil {
			t.Errorf("%q accepted", u)
		}
	}
	if err := validateURI("sip:bob@h?subject=hi&priority=urgent", true); err != nil {
		t.Errorf("headers refused where allowed: %v", err)
	}
	if err := validateURI("sip:bob@h?subject", true); err == nil {
		t.Error("header without value accepted")
	}
}

func TestParseNameAddr(t *testing.T) {
	for _, tc := range []struct{ in, uri, tag string }{
		{`"Alice \"A\" <x>" <sip:alice@h>;tag=1`, "sip:alice@h", "1"},
		{`Alice Liddell <sip:alice@h> ; tag = 2`, "sip:alice@h", "2"},
		{`caller<sip:caller@example.com>;tag=323`, "sip:caller@example.com", "323"},
		{`sip:alice@h;tag=3`, "sip:alice@h", "3"},
		{"\"J Rosenberg \\\\\\\"\"       <sip:jdrosen@example.com>\r\n  ;\r\n  tag = 98asjd8", "sip:jdrosen@example.com", "98asjd8"},
		{`<sip:alice@h>;received=[2001:db8::1]`, "sip:alice@h", ""},
		{`Zoë <sip:zoe@h>`, "sip:zoe@h", ""},
	} {
		na, err := parseNameAddr(tc.in)
		if err != nil || na.uri != tc.uri {
			t.Errorf("%q: %+v %v", tc.in, na, err)
			continue
		}
		tag := ""
		for _, p := range na.params {
			if p.name == "tag" {
				tag = p.value
			}
		}
		if tag != tc.tag {
			t.Errorf("%q: tag %q", tc.in, tag)
		}
	}
	for _, in := range []string{"", `"unterminated <sip:a@h>`, `"Alice" sip:a@h`, "<sip:a@h", "<sip:a@h> x", "<sip:a@h>;",
		"<sip:a@h>;=1", "<sip:a@h>;tag=", `<sip:a@h>;p="x`, "sip:a@h?x=y", "Al\x01ice <sip:a@h>"} {
		if _, err := parseNameAddr(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

func TestParseVia(t *testing.T) {
	for _, in := range []string{
		"SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1",
		"SIP  /   2.0  /UDP    192.0.2.2;branch=390skdjuw",
		"sip/2.0/tcp [2001:db8::1]:5061 ; branch = z9hG4bK1 ; received=192.0.2.3",
		"SIP/2.0/TLS h.example.com : 5061;branch=z9hG4bK1;rport",
		`SIP/2.0/UDP h;branch=z9hG4bK1;x="quoted ; value"`,
	} {
		if v, err := parseVia(in); err != nil {
			t.Errorf("%q: %v", in, err)
		} else if b, _ := v.param("branch"); b == "" {
			t.Errorf("%q: no branch", in)
		}
	}
	for _, in := range []string{"", "SIP/2.0", "SIP/2.0/UDP", "SIP/2.0/UDP ", "SIP/3.0/UDP h", "HTTP/2.0/UDP h", "SIP/2.0/UDPh",
		"SIP/2.0/UDP h:99999", "SIP/2.0/UDP h:", "SIP/2.0/UDP [::1", "SIP/2.0/UDP h;branch=", "SIP/2.0/UDP h x", "SIP/2.0/UDP bad..host"} {
		if _, err := parseVia(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
	// A valueless branch is valid syntax but no branch for the Via check.
	m := parse(t, strings.Replace(okRequest, "branch=z9hG4bK-1", "branch", 1))
	if f := Check(m, CheckVia1, 0, nil); f == nil || f.Reason != "Bad Via" {
		t.Errorf("valueless branch: %v", f)
	}
}

// RFC 4475 torture messages the core parser lets through, with what the
// Kamailio example values (17895/7 for requests, 17604/6 for replies) and
// selected single checks make of them.
func TestTortureMessages(t *testing.T) {
	type want struct {
		checks, uris int
		check        string // failing check, "" for a pass
	}
	kam := want{17895, 7, ""}
	fails := func(check string) want { return want{17895, 7, check} }
	for _, tc := range []struct {
		file  string
		wants []want
	}{
		{"invalid/badbranch.dat", []want{kam, {CheckRFC3261, 0, ""}}},
		{"invalid/badvers.dat", []want{fails("ruri_sip_version")}},
		{"invalid/bcast.dat", []want{{17604, 6, ""}}},
		{"invalid/bext01.dat", []want{kam, {CheckProxyRequire, 0, "proxy_require"}}},
		{"invalid/cparam01.dat", []want{{17895, 15, ""}}},
		{"invalid/cparam02.dat", []want{{17895, 15, ""}}},
		{"invalid/escruri.dat", []want{fails("parse_uris")}},
		{"invalid/inv2543.dat", []want{fails("via1_header"), {CheckRFC3261, 0, "rfc3261_compliance"}}},
		{"invalid/mismatch01.dat", []want{fails("cseq_method")}},
		{"invalid/mismatch02.dat", []want{fails("cseq_method")}},
		{"invalid/regaut01.dat", []want{kam, {CheckDigest, 0, "digest_credentials"}, {CheckAuthorization, 0, ""}}},
		{"invalid/regbadct.dat", []want{kam, {CheckParseURIs, URIContact, "parse_uris"}}},
		{"invalid/regescrt.dat", []want{{17895, 15, ""}}},
		{"invalid/unksm2.dat", []want{fails("parse_uris")}},
		{"invalid/zeromf.dat", []want{kam}},
		// Extra octets after the Content-Length: the core may refuse the
		// datagram itself; if not, the Content-Length check does.
		{"valid/dblreq.dat", []want{fails("content_length")}},
		{"valid/esc01.dat", []want{{allChecks &^ CheckSizes, 15, ""}}},
		{"valid/esc02.dat", []want{{allChecks &^ CheckSizes, 15, ""}}},
		{"valid/escnull.dat", []want{{allChecks &^ CheckSizes, 15, ""}}},
		{"valid/intmeth.dat", []want{{allChecks &^ CheckSizes, 15, ""}}},
		{"valid/lwsdisp.dat", []want{{allChecks &^ CheckSizes, 15, ""}}},
		{"valid/mpart01.dat", []want{kam, {CheckRFC3261, 0, "rfc3261_compliance"}}},
		{"valid/noreason.dat", []want{{17604, 6, ""}}},
		{"valid/semiuri.dat", []want{{allChecks &^ CheckSizes, 15, ""}}},
		{"valid/transports.dat", []want{{allChecks &^ CheckSizes, 15, ""}}},
		{"valid/unreason.dat", []want{{17604, 6, ""}}},
		{"valid/wsinv.dat", []want{{17895 | CheckDigest | CheckDupTags, 15, ""}, {CheckRFC3261, 0, "rfc3261_compliance"}}},
	} {
		b, err := os.ReadFile(filepath.Join(tortureDir, tc.file))
		if err != nil {
			t.Fatal(err)
		}
		m, err := msg.Parse(b, netip.MustParseAddrPort("192.0.2.9:5060"), nil, msg.UDP)
		if err != nil && tc.file == "valid/dblreq.dat" {
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.file, err)
		}
		for _, w := range tc.wants {
			f := Check(m, w.checks, w.uris, &Params{ProxyRequire: []string{"x"}})
			got := ""
			if f != nil {
				got = f.Check
			}
			if got != w.check {
				t.Errorf("%s with %d/%d: got %v, want %q", tc.file, w.checks, w.uris, f, w.check)
			}
		}
	}
}
