package msg

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// withFirstLine replaces the request line of the test INVITE.
func withFirstLine(line string) string {
	return line + invite[strings.Index(invite, "\r\n"):]
}

func TestParseRejectsBadFirstLine(t *testing.T) {
	reply := "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP a:1;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>;tag=2\r\n" +
		"Call-ID: 1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
	withStatus := func(line string) string { return line + reply[strings.Index(reply, "\r\n"):] }
	for _, tc := range []struct{ in, reason string }{
		{withFirstLine(" sip:bob@example.com SIP/2.0"), "request line: empty method"},
		{withFirstLine("OPT<>IONS sip:bob@example.com SIP/2.0"), "request line: method is not a token"},
		{withFirstLine("INV:ITE sip:bob@example.com SIP/2.0"), "request line: method is not a token"},
		{withFirstLine("INVITE\x00 sip:bob@example.com SIP/2.0"), "request line: method is not a token"},
		{withFirstLine("INVITÉ sip:bob@example.com SIP/2.0"), "request line: method is not a token"},
		{withFirstLine("INVITE sip:bob@example.com SIP"), "request line: SIP version is not SIP/2.0"},
		{withFirstLine("INVITE sip:bob@example.com sip/2.0"), "request line: SIP version is not SIP/2.0"},
		{withFirstLine("INVITE sip:bob@example.com SIP/2.0x"), "request line: SIP version is not SIP/2.0"},
		{withFirstLine("INVITE sip:bob@example.com SIP/2"), "request line: SIP version is not SIP/2.0"},
		{withFirstLine("INVITE sip:bob@example.com SIP/.0"), "request line: SIP version is not SIP/2.0"},
		{withFirstLine("INVITE sip:bob@example.com HTTP/1.1"), "request line: SIP version is not SIP/2.0"},
		{withFirstLine("INVITE sip:bob@example.com SIP/2.0 "), "request line: parts not separated by exactly one SP"},
		{withFirstLine("INVITE  sip:bob@example.com SIP/2.0"), "request line: parts not separated by exactly one SP"},
		{withFirstLine("INVITE sip:bob@example.com  SIP/2.0"), "request line: parts not separated by exactly one SP"},
		{withFirstLine("INVITE  SIP/2.0"), "request line: empty Request-URI"},
		{withFirstLine("INVITE sip:bob@example.com; lr SIP/2.0"), "request line: white space or control character in Request-URI"},
		{withFirstLine("INVITE sip:bob@exa\tmple.com SIP/2.0"), "request line: white space or control character in Request-URI"},
		{withFirstLine("INVITE sip:bob@exa\x00mple.com SIP/2.0"), "request line: white space or control character in Request-URI"},
		{withFirstLine("INVITE"), "request line: not Method SP Request-URI SP SIP-Version"},
		{withFirstLine("INVITE sip:bob@example.com"), "request line: not Method SP Request-URI SP SIP-Version"},
		{withFirstLine(""), "request line: not Method SP Request-URI SP SIP-Version"},
		{withStatus("SIP/2.0 4294967301 better not break the receiver"), "status line: status code must be three digits followed by one space"},
		{withStatus("SIP/2.0 20 OK"), "status line: status code must be three digits followed by one space"},
		{withStatus("SIP/2.0 2000 OK"), "status line: status code must be three digits followed by one space"},
		{withStatus("SIP/2.0 2x0 OK"), "status line: status code must be three digits followed by one space"},
		{withStatus("SIP/2.0 200"), "status line: status code must be three digits followed by one space"},
		{withStatus("SIP/2.0  200 OK"), "status line: status code must be three digits followed by one space"},
		{withStatus("SIP/2.0 099 Low"), "status line: status code outside 100-699"},
		{withStatus("SIP/2.0 700 High"), "status line: status code outside 100-699"},
		{withStatus("SIP/2.0 200 O\x00K"), "status line: control character in reason phrase"},
		{withStatus("SIP/2.0 200 O\x7fK"), "status line: control character in reason phrase"},
		{withStatus("SIP/3.0 200 OK"), "status line: SIP version is not SIP/2.0"},
		{withStatus("sip/2.0 200 OK"), "status line: SIP version is not SIP/2.0"},
		{withStatus("SIP/2.0"), "status line: SIP version is not SIP/2.0"},
		// A valid status line that sipgo takes for a request (a one-word
		// reason starting with "sip" looks like a version to it): refused.
		{withStatus("SIP/2.0 200 sip"), "parse"},
	} {
		_, err := Parse([]byte(tc.in), src, sock, UDP)
		var pe *ParseError
		if !errors.As(err, &pe) || pe.Reason != tc.reason {
			t.Errorf("%q: got %v, want %q", tc.in[:strings.Index(tc.in, "\r\n")], err, tc.reason)
		}
	}
}

func TestParseAcceptsFirstLines(t *testing.T) {
	for _, line := range []string{
		"INVITE sip:bob@example.com SIP/2.0",
		"invite sip:bob@example.com SIP/2.0", // an extension method as far as RFC 3261 goes
		"!interesting-Method0123456789_*+`.%indeed'~ sip:bob@example.com SIP/2.0",
		"RE%47IST%45R sip:bob@example.com SIP/2.0",
		"INVITE tel:+1-201-555-0123 SIP/2.0",
		// Another well-formed version reaches sanity_check, which answers 505.
		"INVITE sip:bob@example.com SIP/3.0",
		"INVITE sip:bob@example.com SIP/20.10",
	} {
		if _, err := Parse([]byte(withFirstLine(line)), src, sock, UDP); err != nil {
			t.Errorf("%q refused: %v", line, err)
		}
	}
	for _, line := range []string{"SIP/2.0 100 ", "SIP/2.0 200 OK", "SIP/2.0 699 x\ty", "SIP/2.0 183 Session  Progress", "SIP/2.0 200 \xd0\xbe\xd0\xba"} {
		s := line + "\r\nVia: SIP/2.0/UDP a:1;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>;tag=2\r\nCall-ID: 1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
		if _, err := Parse([]byte(s), src, sock, UDP); err != nil {
			t.Errorf("%q refused: %v", line, err)
		}
	}
}

// TestTortureFirstLines: every RFC 4475 §3.1.1 valid message parses; the
// §3.1.2 messages whose start line is broken are refused for that reason.
func TestTortureFirstLines(t *testing.T) {
	valid, _ := filepath.Glob("testdata/torture/valid/*.dat")
	if len(valid) < 13 {
		t.Fatalf("%d valid torture messages", len(valid))
	}
	for _, f := range valid {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Parse(b, src, sock, UDP); err != nil {
			t.Errorf("%s refused: %v", f, err)
		}
	}
	for file, reason := range map[string]string{
		"bigcode":  "status line: status code must be three digits followed by one space",
		"lwsstart": "request line: parts not separated by exactly one SP",
		"trws":     "request line: parts not separated by exactly one SP",
		"lwsruri":  "request line: white space or control character in Request-URI",
	} {
		b, err := os.ReadFile("testdata/torture/invalid/" + file + ".dat")
		if err != nil {
			t.Fatal(err)
		}
		_, err = Parse(b, src, sock, UDP)
		var pe *ParseError
		if !errors.As(err, &pe) || pe.Reason != reason {
			t.Errorf("%s: got %v, want %q", file, err, reason)
		}
	}
}

func TestMethodCaseKept(t *testing.T) {
	raw := "invite sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\nFrom: <sip:a@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\nCall-ID: c1\r\nCSeq: 1 invite\r\nContent-Length: 0\r\n\r\n"
	m, err := Parse([]byte(raw), netip.MustParseAddrPort("192.0.2.1:5060"), nil, UDP)
	if err != nil {
		t.Fatal(err)
	}
	if m.Method() != "invite" || m.Req.Method == "INVITE" {
		t.Errorf("method %q (%q): an extension method \"invite\" is not INVITE", m.Method(), m.Req.Method)
	}
	var b Builder
	m.BuildRequest(&b, ForwardOpts{RURI: m.RURIString(), MaxFwd: -1})
	if !strings.HasPrefix(string(b.B), "invite ") {
		t.Errorf("forwarded as %q", strings.SplitN(string(b.B), "\r\n", 2)[0])
	}
}
