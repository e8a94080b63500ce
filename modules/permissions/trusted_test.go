package permissions

import (
	"strings"
	"testing"

	"github.com/luasbc/luasbc/core/msg"
)

func mustTrusted(t *testing.T, file string) *trustedTable {
	t.Helper()
	rows, err := parseTrustedFile("tf", []byte(file))
	if err != nil {
		t.Fatal(err)
	}
	entries, err := buildTrustedEntries(rows, compileTrustedPattern)
	if err != nil {
		t.Fatal(err)
	}
	return newTrustedTable(entries)
}

const sampleTrusted = `
# src_ip     proto from_pattern                 ruri_pattern          tag   priority
10.0.0.1     any   -                            -                     gw1
10.0.0.2     udp   "^sip:.*@example\.com$"      -                     carrier
10.0.0.2     tcp   -                            -                     tcp-only
10.0.0.3     any   "^sip:alice@"                -                     low   1
# in a basic expression (as in Kamailio) '+' is a plain character
10.0.0.3     any   "^sip:"                      "^sip:+1"             high  10
10.0.0.3     any   "^sip:"                      -                     mid   5
2001:DB8::1  tls   -                            -                     v6
10.0.0.4     none  -                            -                     never
10.0.0.5     any   "with space"  -  "tag with space"  -3
`

func TestTrustedMatch(t *testing.T) {
	tab := mustTrusted(t, sampleTrusted)
	req := func(src string, p msg.Proto, furi, ruri string) *trustedRequest {
		return &trustedRequest{src: src, proto: p, furi: furi, ruri: ruri, isReq: true}
	}
	tags := func(es []*trustedEntry) string {
		var s []string
		for _, e := range es {
			s = append(s, e.tag)
		}
		return strings.Join(s, ",")
	}
	cases := []struct {
		r    *trustedRequest
		all  bool
		want string
	}{
		{req("10.0.0.1", msg.TCP, "sip:x@y", "sip:z@w"), false, "gw1"},
		{req("10.0.0.9", msg.UDP, "sip:x@y", "sip:z@w"), false, ""},
		// Transport and From pattern.
		{req("10.0.0.2", msg.UDP, "sip:bob@example.com", "sip:z"), false, "carrier"},
		{req("10.0.0.2", msg.UDP, "sip:bob@example.org", "sip:z"), false, ""},
		{req("10.0.0.2", msg.TCP, "sip:bob@example.org", "sip:z"), false, "tcp-only"},
		{req("10.0.0.2", msg.WS, "sip:bob@example.com", "sip:z"), false, ""},
		// "any" given by the caller matches every transport.
		{req("10.0.0.2", msg.ProtoNone, "sip:bob@example.org", "sip:z"), false, "tcp-only"},
		// Priority order: high (10) needs the R-URI pattern, then mid (5).
		{req("10.0.0.3", msg.UDP, "sip:alice@x", "sip:+1555@x"), false, "high"},
		{req("10.0.0.3", msg.UDP, "sip:alice@x", "sip:+4455@x"), false, "mid"},
		{req("10.0.0.3", msg.UDP, "sip:alice@x", "sip:+1555@x"), true, "high,mid,low"},
		{req("10.0.0.3", msg.UDP, "sip:alice@x", "sip:+4455@x"), true, "mid,low"},
		// IPv6 written in any form matches the canonical source text.
		{req("2001:db8::1", msg.TLS, "", ""), false, "v6"},
		{req("2001:db8::1", msg.UDP, "", ""), false, ""},
		// proto none never matches.
		{req("10.0.0.4", msg.ProtoNone, "", ""), false, ""},
		{req("10.0.0.5", msg.UDP, "x with space y", ""), false, "tag with space"},
	}
	for i, tc := range cases {
		if got := tags(tab.match(tc.r, tc.all)); got != tc.want {
			t.Errorf("case %d %+v: got %q, want %q", i, *tc.r, got, tc.want)
		}
	}
	// The R-URI pattern is not applied to replies.
	r := &trustedRequest{src: "10.0.0.3", proto: msg.UDP, furi: "sip:a@x"}
	if got := tags(tab.match(r, false)); got != "high" {
		t.Errorf("reply: %q", got)
	}
}

func TestTrustedFileParse(t *testing.T) {
	rows, err := parseTrustedFile("tf", []byte(`1.2.3.4 any "a \"q\" \\ \. #x" - "" 7 # c`))
	if err != nil {
		t.Fatal(err)
	}
	r := rows[0]
	if *r.from != `a "q" \ \. #x` || r.ruri != nil || r.tag == nil || *r.tag != "" || r.priority != 7 {
		t.Errorf("%+v from=%q", r, *r.from)
	}
	for _, tc := range []struct{ line, want string }{
		{`1.2.3.4`, "want"},
		{`1.2.3.4 any a b c 1 extra`, "at most 6"},
		{`1.2.3.4 any "unterminated`, "unterminated"},
		{`1.2.3.4 any "a"b`, "after a closing quote"},
		{`1.2.3.4 any a"b`, "quote inside"},
		{`1.2.3.4 any - - - x`, "priority"},
		{`1.2.3.4 any - - - "1"`, "priority"},
		{`- any`, "cannot be NULL"},
	} {
		if _, err := parseTrustedFile("tf", []byte(tc.line)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.line, err, tc.want)
		}
	}
	for _, tc := range []struct{ line, want string }{
		{`1.2.3.4 smtp`, "protocol"},
		{`1.2.3.4 any "\("`, "from_pattern"},
		{`1.2.3.4 any - "a\1"`, "ruri_pattern"},
	} {
		rows, err := parseTrustedFile("tf", []byte(tc.line))
		if err == nil {
			_, err = buildTrustedEntries(rows, compileTrustedPattern)
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "tf:1: ") {
			t.Errorf("%q: %v, want %q", tc.line, err, tc.want)
		}
	}
}
