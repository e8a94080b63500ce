package sanity_test

import (
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/luasbc/luasbc/kemi/kemitest"
	_ "github.com/luasbc/luasbc/modules/sanity"
	_ "github.com/luasbc/luasbc/modules/sl"
)

// The request route runs sanity_check with the bitmasks named in X-Checks
// and X-URI-Checks (Kamailio's example values when absent), logs the result
// and answers 200 "Passed" when the checks pass.
const script = `
function ksr_request_route()
  local rc
  if KSR.hdr.get("X-Defaults") then
    rc = KSR.sanity.sanity_check_defaults()
  else
    rc = KSR.sanity.sanity_check(tonumber(KSR.hdr.get("X-Checks") or "17895"),
      tonumber(KSR.hdr.get("X-URI-Checks") or "7"))
  end
  KSR.info("sanity rc=" .. rc .. " ci=" .. KSR.pv.get("$ci"))
  if rc < 0 then
    if KSR.hdr.get("X-Then-Reply") then
      KSR.info("sanity_reply rc=" .. KSR.sanity.sanity_reply() .. " ci=" .. KSR.pv.get("$ci"))
    end
    KSR.x.exit()
  end
  if KSR.hdr.get("X-Reply-Anyway") then
    KSR.sanity.sanity_reply()
    KSR.x.exit()
  end
  KSR.sl.sl_send_reply(200, "Passed")
end

function ksr_reply_route()
  local rc = KSR.sanity.sanity_check(17604, 6)
  KSR.info("sanity reply rc=" .. rc .. " ci=" .. KSR.pv.get("$ci"))
  if rc < 0 then
    KSR.x.drop()
  end
end
`

var seq atomic.Int64

// sipMsg is a message under construction; the methods return modified copies
// so table rows stay short.
type sipMsg struct {
	line   string
	hdrs   []string
	body   string
	callID string
}

func request(method, ruri string) sipMsg {
	id := "sanity-" + strconv.FormatInt(seq.Add(1), 10)
	return sipMsg{line: method + " " + ruri + " SIP/2.0", callID: id, hdrs: []string{
		"Via: SIP/2.0/UDP 127.0.0.1:{cport};branch=z9hG4bK-" + id + ";rport",
		"From: \"Alice\" <sip:alice@example.com>;tag=ft1",
		"To: <sip:bob@example.com>",
		"Call-ID: " + id,
		"CSeq: 1 " + method,
		"Max-Forwards: 70",
	}}
}

func opts() sipMsg { return request("OPTIONS", "sip:bob@127.0.0.1") }

func reply(code int) sipMsg {
	id := "sanity-r-" + strconv.FormatInt(seq.Add(1), 10)
	return sipMsg{line: "SIP/2.0 " + strconv.Itoa(code) + " OK", callID: id, hdrs: []string{
		"Via: SIP/2.0/UDP 127.0.0.1:{sport};branch=z9hG4bK-" + id,
		"From: <sip:alice@example.com>;tag=ft1",
		"To: <sip:bob@example.com>;tag=tt1",
		"Call-ID: " + id,
		"CSeq: 1 INVITE",
	}}
}

func name(line string) string {
	n, _, _ := strings.Cut(line, ":")
	return strings.ToLower(strings.TrimSpace(n))
}

// with replaces the first header of the same name, or appends the line.
func (m sipMsg) with(lines ...string) sipMsg {
	m.hdrs = append([]string(nil), m.hdrs...)
next:
	for _, l := range lines {
		for i, h := range m.hdrs {
			if name(h) == name(l) {
				m.hdrs[i] = l
				continue next
			}
		}
		m.hdrs = append(m.hdrs, l)
	}
	return m
}

func (m sipMsg) line1(l string) sipMsg { m.line = l; return m }

func (m sipMsg) withBody(b, cl string) sipMsg {
	m.body = b
	return m.with("Content-Length: " + cl)
}

func (m sipMsg) checks(msgChecks, uriChecks int) sipMsg {
	return m.with("X-Checks: "+strconv.Itoa(msgChecks), "X-URI-Checks: "+strconv.Itoa(uriChecks))
}

// text renders the message; bodies must not contain newlines (Expand would
// turn them into CRLF behind the Content-Length).
func (m sipMsg) text() string {
	var b strings.Builder
	b.WriteString(m.line + "\n")
	cl := false
	for _, h := range m.hdrs {
		b.WriteString(h + "\n")
		cl = cl || name(h) == "content-length" || name(h) == "l"
	}
	if !cl {
		b.WriteString("Content-Length: " + strconv.Itoa(len(m.body)) + "\n")
	}
	b.WriteString("\n" + m.body)
	return b.String()
}

func reason(reply string) string {
	first, _, _ := strings.Cut(reply, "\r\n")
	if len(first) < 12 {
		return ""
	}
	return first[12:]
}

// waitLog polls the observed log for s.
func waitLog(h *kemitest.Harness, s string) bool {
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if h.LogContains(s) {
			return true
		}
	}
	return false
}

type exchangeCase struct {
	name   string
	m      sipMsg
	code   int    // 200 = passed
	reason string // expected reason phrase
	header string // a header line the reply must carry
}

func run(t *testing.T, h *kemitest.Harness, cases []exchangeCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := h.Exchange(tc.m.text())
			if kemitest.StatusCode(r) != tc.code || reason(r) != tc.reason {
				t.Fatalf("want %d %q, got %q", tc.code, tc.reason, r)
			}
			if !strings.Contains(r, "Call-ID: "+tc.m.callID+"\r\n") {
				t.Fatalf("reply for another request: %q", r)
			}
			if tc.header != "" && !strings.Contains(r, "\r\n"+tc.header+"\r\n") {
				t.Fatalf("reply lacks %q: %q", tc.header, r)
			}
			wantRC := " rc=1 "
			if tc.code != 200 {
				wantRC = " rc=-1 "
			}
			if !waitLog(h, "sanity"+wantRC+"ci="+tc.m.callID) {
				t.Fatalf("script did not see%sfor %s", wantRC, tc.m.callID)
			}
		})
	}
}

func newHarness(t *testing.T, params map[string]any) *kemitest.Harness {
	return kemitest.New(t, script, kemitest.Options{Modules: map[string]map[string]any{"sl": nil, "sanity": params}})
}

const (
	passed      = "Passed"
	digestCreds = `Digest username="alice", realm="example.com", nonce="abc", uri="sip:127.0.0.1", response="0123456789abcdef0123456789abcdef"`
)

// TestEachCheck has, per check bit, a message that passes and one that fails
// with the exact reply. Bits 4, 64 and 128 cannot fail here (the core
// parser refuses such messages first); check_test.go covers them.
func TestEachCheck(t *testing.T) {
	h := newHarness(t, map[string]any{"proxy_require": "foo, bar", "size_body": 100, "size_ruri": 100})
	longURI := "sip:" + strings.Repeat("u", 100) + "@127.0.0.1"
	run(t, h, []exchangeCase{
		{"1 pass", opts().checks(1, 0), 200, passed, ""},
		{"1 SIP/7.0", opts().line1("OPTIONS sip:bob@127.0.0.1 SIP/7.0").checks(1, 0), 505, "Version Not Supported (R-URI)", ""},
		{"2 pass sip", opts().checks(2, 0), 200, passed, ""},
		{"2 pass tel", request("OPTIONS", "tel:+1-201-555-0123").checks(2, 0), 200, passed, ""},
		{"2 urn", request("OPTIONS", "urn:service:sos").checks(2, 0), 416, "Unsupported URI Scheme in Request URI", ""},
		{"4 pass", opts().checks(4, 0), 200, passed, ""},
		{"8+16 are no-ops", opts().with("Via: SIP/2.0/XYZ 127.0.0.1:{cport};rport").checks(8|16, 0), 200, passed, ""},
		{"32 pass", opts().checks(32, 0), 200, passed, ""},
		{"32 other method", opts().with("CSeq: 1 INVITE").checks(32, 0), 400, "CSeq method does not match request method", ""},
		{"32 case differs", opts().with("CSeq: 1 options").checks(32, 0), 400, "CSeq method does not match request method", ""},
		{"64 pass", opts().with("CSeq: 2147483647 OPTIONS").checks(64, 0), 200, passed, ""},
		{"128 pass", opts().withBody("hello", "5").checks(128, 0), 200, passed, ""},
		{"128 pass without Content-Length (UDP)", opts().checks(128, 0), 200, passed, ""},
		{"256 pass", opts().with("Expires: 3600").checks(256, 0), 200, passed, ""},
		{"256 date", opts().with("Expires: Thu, 01 Dec 2094 16:00:00 GMT").checks(256, 0), 400, "Bad Expires Header", ""},
		{"256 too big", opts().with("Expires: 4294967296").checks(256, 0), 400, "Bad Expires Header", ""},
		{"512 pass", opts().with("Proxy-Require: foo, BAR").checks(512, 0), 200, passed, ""},
		{"512 unsupported", opts().with("Proxy-Require: foo, baz, qux").checks(512, 0), 420, "Bad Proxy Require Extension", "Unsupported: baz, qux"},
		{"1024 pass", opts().with("Contact: <sip:alice@192.0.2.1:5060;transport=udp>;expires=60").checks(1024, 15), 200, passed, ""},
		{"1024 R-URI", request("OPTIONS", "sip:bob@example..com").checks(1024, 1), 400, "Bad Request URI", ""},
		{"1024 From", opts().with("From: <sip:al%zzice@example.com>;tag=1").checks(1024, 2), 400, "Bad From URI", ""},
		{"1024 To", opts().with("To: <http://example.com/bob>").checks(1024, 4), 400, "Bad To URI", ""},
		{"1024 Contact", opts().with("Contact: <sip:alice@host:70000>").checks(1024, 8), 400, "Bad Contact URI", ""},
		{"1024 Contact unchecked without bit 8", opts().with("Contact: <sip:alice@host:70000>").checks(1024, 7), 200, passed, ""},
		{"2048 pass", opts().with("Authorization: "+digestCreds).checks(2048, 0), 200, passed, ""},
		{"2048 Basic", opts().with("Authorization: Basic YWxpY2U6c2VjcmV0").checks(2048, 0), 400, "Bad Authorization Header", ""},
		{"2048 no nonce", opts().with("Proxy-Authorization: "+strings.Replace(digestCreds, `nonce="abc", `, "", 1)).checks(2048, 0), 400, "Bad Authorization Header", ""},
		{"4096 pass", opts().checks(4096, 0), 200, passed, ""},
		{"4096 two From tags", opts().with("From: <sip:alice@example.com>;tag=a;tag=b").checks(4096, 0), 400, "Bad Request", ""},
		{"8192 pass Basic", opts().with("Authorization: Basic YWxpY2U6c2VjcmV0").checks(8192, 0), 200, passed, ""},
		{"8192 no response", opts().with("Authorization: "+strings.Replace(digestCreds, `, response="0123456789abcdef0123456789abcdef"`, "", 1)).checks(8192, 0), 400, "Bad Authorization Header", ""},
		{"16384 pass", opts().checks(16384, 0), 200, passed, ""},
		{"16384 no branch", opts().with("Via: SIP/2.0/UDP 127.0.0.1:{cport};rport").checks(16384, 0), 400, "Bad Via", ""},
		{"32768 pass", opts().with("Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr=on>").checks(32768, 0), 200, passed, ""},
		{"32768 old branch", opts().with("Via: SIP/2.0/UDP 127.0.0.1:{cport};branch=1234;rport").checks(32768, 0), 400, "Not RFC 3261 compliant", ""},
		{"32768 strict route", opts().with("Record-Route: <sip:p1.example.com;lr>, <sip:p2.example.com>").checks(32768, 0), 400, "Not RFC 3261 compliant", ""},
		{"65536 pass", opts().withBody(strings.Repeat("b", 100), "100").checks(65536, 0), 200, passed, ""},
		{"65536 body", opts().withBody(strings.Repeat("b", 101), "101").checks(65536, 0), 413, "Message Too Large", ""},
		{"65536 R-URI", request("OPTIONS", longURI).checks(65536, 0), 400, "Request URI Too Long", ""},
	})
}

// TestKamailioExample uses the values of Kamailio's example script.
func TestKamailioExample(t *testing.T) {
	h := newHarness(t, nil)
	invite := request("INVITE", "sip:bob@127.0.0.1").with("Contact: <sip:alice@127.0.0.1:{cport}>", "Content-Type: application/sdp")
	run(t, h, []exchangeCase{
		{"INVITE", invite.withBody("v=0", "3"), 200, passed, ""},
		{"REGISTER", request("REGISTER", "sip:127.0.0.1").with("Expires: 600", "Contact: <sip:alice@127.0.0.1>"), 200, passed, ""},
		{"not in 17895: Proxy-Require", opts().with("Proxy-Require: nothingSupportsThis"), 200, passed, ""},
		{"not in 17895: Basic", opts().with("Authorization: Basic YWxpY2U="), 200, passed, ""},
		{"not in 17895: duplicated tag", opts().with("To: <sip:bob@example.com>;tag=1;tag=2"), 200, passed, ""},
		{"not in 17895: bad Contact", opts().with("Contact: <sip:a@b:99999>"), 200, passed, ""},
		{"not in 17895: old branch", opts().with("Via: SIP/2.0/UDP 127.0.0.1:{cport};branch=1;rport"), 200, passed, ""},
		{"version", opts().line1("OPTIONS sip:bob@127.0.0.1 SIP/3.0"), 505, "Version Not Supported (R-URI)", ""},
		{"scheme", request("OPTIONS", "urn:service:sos"), 416, "Unsupported URI Scheme in Request URI", ""},
		{"CSeq method", invite.with("CSeq: 1 OPTIONS"), 400, "CSeq method does not match request method", ""},
		{"Expires", request("REGISTER", "sip:127.0.0.1").with("Expires: -1"), 400, "Bad Expires Header", ""},
		{"R-URI", request("OPTIONS", "sip:bob@127.0.0.1?Route=%3Csip:x%3E"), 400, "Bad Request URI", ""},
		{"From", opts().with("From: <sip:alice@-example.com>;tag=1"), 400, "Bad From URI", ""},
		{"To", opts().with("To: sip:bob@example.com?x=y"), 400, "Bad To URI", ""},
		{"Via", opts().with("Via: SIP/2.0/UDP 127.0.0.1:{cport};rport"), 400, "Bad Via", ""},
	})

	// Replies: 17604/6 in the reply route; a failed reply is dropped and
	// never answered.
	for _, tc := range []struct {
		name string
		m    sipMsg
		rc   string
	}{
		{"reply passes", reply(200).with("Contact: <sip:bob@127.0.0.1>"), "1"},
		{"reply ignores request-only checks", reply(180).with("CSeq: 5 INVITE", "Proxy-Require: x"), "1"},
		{"reply From URI", reply(200).with("From: <sip:alice@exa..mple.com>;tag=1"), "-1"},
		{"reply To URI", reply(200).with("To: <sips:bob@-x.example.com>;tag=2"), "-1"},
		{"reply Via", reply(200).with("Via: SIP/2.0/UDP 127.0.0.1:{sport}"), "-1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h.Send(tc.m.text())
			if !waitLog(h, "sanity reply rc="+tc.rc+" ci="+tc.m.callID) {
				t.Fatalf("reply route did not log rc=%s", tc.rc)
			}
			if tc.rc == "-1" {
				if r := h.Recv(200 * time.Millisecond); r != "" {
					t.Fatalf("something was sent for a failed reply: %q", r)
				}
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	h := newHarness(t, map[string]any{"proxy_require": "foo"})
	def := func(m sipMsg) sipMsg { return m.with("X-Defaults: 1") }
	run(t, h, []exchangeCase{
		{"pass", def(opts().with("Proxy-Require: foo")), 200, passed, ""},
		{"proxy require", def(opts().with("Proxy-Require: bar")), 420, "Bad Proxy Require Extension", "Unsupported: bar"},
		{"digest", def(opts().with("Authorization: Basic YWxpY2U=")), 400, "Bad Authorization Header", ""},
		{"uri_checks 7 parses the R-URI only with bit 1024", def(request("OPTIONS", "sip:bob@a..b")), 200, passed, ""},
	})
	h2 := newHarness(t, map[string]any{"default_checks": 1024, "uri_checks": 1})
	run(t, h2, []exchangeCase{
		{"default_checks parameter", def(request("OPTIONS", "sip:bob@a..b")), 400, "Bad Request URI", ""},
	})
}

func TestNoReply(t *testing.T) {
	h := newHarness(t, map[string]any{"noreply": 1})
	bad := opts().with("CSeq: 1 INVITE")

	// The failed check sends nothing by itself.
	h.Send(bad.text())
	if !waitLog(h, "sanity rc=-1 ci="+bad.callID) {
		t.Fatal("check did not fail")
	}
	if r := h.Recv(300 * time.Millisecond); r != "" {
		t.Fatalf("reply sent despite noreply: %q", r)
	}

	// sanity_reply sends the prepared one.
	bad = opts().with("CSeq: 1 INVITE", "X-Then-Reply: 1")
	r := h.Exchange(bad.text())
	if kemitest.StatusCode(r) != 400 || reason(r) != "CSeq method does not match request method" {
		t.Fatalf("sanity_reply sent %q", r)
	}
	if !waitLog(h, "sanity_reply rc=1 ci="+bad.callID) {
		t.Fatal("sanity_reply did not return 1")
	}

	// The 420 keeps its Unsupported header.
	bad = opts().with("Proxy-Require: baz", "X-Then-Reply: 1").checks(512, 0)
	r = h.Exchange(bad.text())
	if kemitest.StatusCode(r) != 420 || !strings.Contains(r, "\r\nUnsupported: baz\r\n") {
		t.Fatalf("sanity_reply sent %q", r)
	}

	// Nothing prepared: 500.
	r = h.Exchange(opts().with("X-Reply-Anyway: 1").text())
	if kemitest.StatusCode(r) != 500 || reason(r) != "Server Sanity Failure" {
		t.Fatalf("sanity_reply without a failure sent %q", r)
	}
}

func TestSanityReplyWithoutNoReplyIsNoop(t *testing.T) {
	h := newHarness(t, nil)
	r := h.Exchange(opts().with("X-Reply-Anyway: 1").text())
	if r != "" {
		t.Fatalf("sanity_reply sent %q with noreply=0", r)
	}
}

func TestACKIsNeverReplied(t *testing.T) {
	for _, params := range []map[string]any{nil, {"noreply": 1}} {
		h := newHarness(t, params)
		ack := request("ACK", "sip:bob@127.0.0.1").with("CSeq: 1 INVITE", "X-Then-Reply: 1").checks(32, 0)
		h.Send(ack.text())
		if !waitLog(h, "sanity rc=-1 ci="+ack.callID) {
			t.Fatal("ACK with a bad CSeq passed")
		}
		if !waitLog(h, "sanity_reply rc=1 ci="+ack.callID) {
			t.Fatal("sanity_reply on ACK did not return 1")
		}
		if r := h.Recv(300 * time.Millisecond); r != "" {
			t.Fatalf("ACK answered: %q", r)
		}
		if !waitLog(h, "sanity check failed") {
			t.Fatal("failure not logged")
		}
	}
}
