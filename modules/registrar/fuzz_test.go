package registrar

import (
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
)

// FuzzParseContacts feeds Contact header values (one per line) to the
// parser save uses on untrusted REGISTERs.
func FuzzParseContacts(f *testing.F) {
	for _, s := range []string{
		"<sip:alice@192.0.2.1:5060>;expires=60;q=0.5",
		"\"Alice\" <sip:alice@[2001:db8::1]:5060;transport=tcp>;+sip.instance=\"<urn:uuid:1>\";reg-id=1",
		"*",
		"sip:bob@example.com;expires=0, <sips:bob@example.com>",
		"<tel:+1555;phone-context=x>;q=1.000",
		"<sip:a@b>;expires=99999999999;q=1.5;reg-id=0",
		"Alice Smith <sip:a@b>\r\n ;expires=1",
		"<sip:a@b>;x=\"a\\\"b;c\"\n*",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		list, err := parseContacts(strings.Split(in, "\n"))
		if err != nil {
			return
		}
		if list.Star && len(list.Contacts) > 0 {
			t.Fatal("star and contacts together")
		}
		for _, c := range list.Contacts {
			if c.URI == "" || strings.ContainsAny(c.URI, " \t\r\n\x00<>\"") {
				t.Fatalf("bad URI %q", c.URI)
			}
			if c.Expires < -1 || c.Expires > maxDelta {
				t.Fatalf("expires %d", c.Expires)
			}
			if c.Q != qAbsent && (c.Q < 0 || c.Q > 1000) {
				t.Fatalf("q %d", c.Q)
			}
			if c.RegID < 0 || strings.ContainsAny(c.Instance, "\r\n\x00") {
				t.Fatalf("reg-id %d instance %q", c.RegID, c.Instance)
			}
			if s := strings.ToLower(c.URI); strings.HasPrefix(s, "sip:") || strings.HasPrefix(s, "sips:") {
				var u sip.Uri
				if err := sip.ParseUri(c.URI, &u); err != nil || u.Host == "" {
					t.Fatalf("accepted URI %q does not parse: %v", c.URI, err)
				}
			}
		}
	})
}

// FuzzNumbers checks the delta-seconds, qvalue and reg-id readers and that
// a q written in a reply reads back the same.
func FuzzNumbers(f *testing.F) {
	for _, s := range []string{"0", "3600", "4294967295", "4294967296", "0.5", "1.000", "1.", "0.1234", "-1", "007"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if d := parseDelta(s); d < -1 || d > maxDelta {
			t.Fatalf("delta %d", d)
		}
		if q, ok := parseQ(s); ok {
			if q < 0 || q > 1000 {
				t.Fatalf("q %d", q)
			}
			if back, ok := parseQ(qString(q)); !ok || back != q {
				t.Fatalf("q %d renders %q, reads back %d %v", q, qString(q), back, ok)
			}
		}
		if n, ok := parseRegID(s); ok && (n < 1 || n > 1<<31-1) {
			t.Fatalf("reg-id %d", n)
		}
	})
}

// FuzzPathAndAOR feeds Path entries and AoR URIs.
func FuzzPathAndAOR(f *testing.F) {
	for _, s := range []string{"<sip:edge.example.net;lr;received=sip:1.2.3.4%3A5060>", "sip:alice@example.com",
		"<sip:%41lice@Sip.Example.COM;user=phone>", "tel:+15551234;ext=1", "sip:[::1]", "\"x\" <sip:a@b>;p"} {
		f.Add(s)
	}
	r := &Registrar{cfg: config{realmPrefix: "sip."}}
	f.Fuzz(func(t *testing.T, s string) {
		if u, err := pathURI(s); err == nil && (u == "" || strings.ContainsAny(u, "\r\n\x00 ")) {
			t.Fatalf("path URI %q", u)
		}
		if rcv := pathReceived(s); strings.ContainsAny(rcv, "\r\n\x00 <>\"") {
			t.Fatalf("received %q", rcv)
		}
		for _, useDomain := range []bool{false, true} {
			aor, err := r.aorFromString(s, useDomain)
			if err != nil {
				continue
			}
			if aor == "" || len(aor) > maxAOR || aor != asciiLower(aor) {
				t.Fatalf("aor %q", aor)
			}
			for i := 0; i < len(aor); i++ {
				if aor[i] < ' ' || aor[i] == 0x7f {
					t.Fatalf("control character in aor %q", aor)
				}
			}
		}
	})
}
