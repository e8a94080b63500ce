package dispatcher

import (
	"context"
	"strings"
	"testing"
)

// FuzzListFile: any list file text parses without panicking; every row
// read has a destination and a non-negative set, and every line is either
// a row, a report, or blank/comment.
func FuzzListFile(f *testing.F) {
	f.Add([]byte("1 sip:10.0.0.1:5060 0 0 duid=a;weight=50\n# c\n2 sip:h;transport=tcp 0x8 -3 x=\"a;b\" more\n"))
	f.Add([]byte("x y\n1\n1 sip:a#b 0\n\r\n\t1\tsip:b\t9\t9\t\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rows, bad, _ := parseListFile("f", data)
		for _, r := range rows {
			if r.uri == "" || r.setid < 0 || strings.ContainsAny(r.uri, " \t#") {
				t.Fatalf("bad row %+v", r)
			}
		}
		if n := strings.Count(string(data), "\n") + 1; len(rows)+len(bad) > n {
			t.Fatalf("%d rows and %d reports from %d lines", len(rows), len(bad), n)
		}
		// Building never panics either (no DNS: names are flagged 16).
		d := &Dispatcher{cfg: config{probingThreshold: 1, inactiveThreshold: 1}}
		for i := range rows {
			rows[i].flags |= flagNoDNS
		}
		_, _ = d.build(context.Background(), loaded{rows: rows}, buildOpts{})
	})
}

// FuzzAttrs: attribute strings parse without panicking, and what parses
// keeps its text and parses again the same way.
func FuzzAttrs(f *testing.F) {
	f.Add("duid=a;maxload=3;weight=25;rweight=10;socket=udp:1.2.3.4:5060;ping_from=sip:x@y;latency=5;cc=1")
	f.Add(`a="x;y";b;c=;=d`)
	f.Fuzz(func(t *testing.T, s string) {
		a, _, err := parseAttrs(s)
		if err != nil {
			return
		}
		if a.weight < 0 || a.weight > 100 || a.rweight < 0 || a.rweight > 100 || a.maxload < 0 {
			t.Fatalf("out of range: %+v", a)
		}
		b, _, err := parseAttrs(a.body)
		if err != nil || b != a {
			t.Fatalf("body %q does not parse the same: %+v / %+v %v", a.body, a, b, err)
		}
	})
}

// FuzzDestURI: destination URIs are accepted only as sip:/sips: URIs with
// a host and no white space, quotes or brackets outside IPv6.
func FuzzDestURI(f *testing.F) {
	f.Add("sip:10.0.0.1:5060;transport=tcp")
	f.Add("gw.example.com:5070")
	f.Add("sips:[2001:db8::1]")
	f.Fuzz(func(t *testing.T, s string) {
		uri, u, err := parseDestURI(s)
		if err != nil {
			return
		}
		if u.Host == "" || !hasScheme(uri) || strings.ContainsAny(uri, " \t\r\n\"<>") {
			t.Fatalf("accepted %q as %q", s, uri)
		}
		if _, err := uriProto(u); err == nil {
			_ = withUser(u, uri)
		}
	})
}
