package siputils

import (
	"encoding/base64"
	"strings"
	"testing"
)

// safeURI reports why s may not be spliced into a Contact header or
// installed as the R-URI ("" when it may): it must parse as a URI and hold
// no white space, control characters or the <>" that would end or open a
// name-addr.
func unsafeURI(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == 0x7f || c == '<' || c == '>' || c == '"' {
			return "forbidden byte " + string(rune(c))
		}
	}
	if _, ok := parseURI(s); !ok {
		return "does not parse"
	}
	return ""
}

var uriSeeds = []string{
	"sip:enc*bob*pw*10.0.0.5*5070*tcp@198.51.100.7",
	"sip:enc*bob**10.0.0.5*5070*tcp@127.0.0.1",
	"sip:enc**pw*10.0.0.6**@198.51.100.7",
	"sip:enc*a*b*c*d*e@h;x=1?h=v",
	"sip:enc*%3Cevil%3E*x*h*1*udp@h",
	"sip:enc*u**[2001:db8::1]*5060*udp@h",
	"sips:enc*****@h",
	"sip:bob:pw@10.0.0.5:5070;transport=tcp;foo",
	"sip:[::1]:5060",
	"tel:+123",
	"sip:a@b\r\nX: 1",
}

// FuzzDecodeURI: decode_contact and decode_contact_header put what
// decodeURI returns into the R-URI or a Contact header.
func FuzzDecodeURI(f *testing.F) {
	for _, s := range uriSeeds {
		f.Add(s, byte('*'))
	}
	f.Add("sip:x#a#b#c#d#e@h", byte('#'))
	f.Fuzz(func(t *testing.T, uri string, sep byte) {
		out, err := decodeURI(uri, sep)
		if err != nil {
			return
		}
		if why := unsafeURI(out); why != "" {
			t.Fatalf("decodeURI(%q, %q) = %q: %s", uri, sep, out, why)
		}
	})
}

// FuzzEncodeURI: encode_contact rewrites Contact URIs received from the
// network; the result must be safe and decode back to the same address.
func FuzzEncodeURI(f *testing.F) {
	for _, s := range uriSeeds {
		f.Add(s, "enc", "198.51.100.7", byte('*'))
	}
	f.Fuzz(func(t *testing.T, uri, prefix, host string, sep byte) {
		// encode_contact itself refuses such prefixes and hosts.
		if !validEncodeArgs(prefix, host, sep) {
			return
		}
		enc, err := encodeURI(uri, prefix, host, sep)
		if err != nil {
			return
		}
		if why := unsafeURI(enc); why != "" {
			t.Fatalf("encodeURI(%q, %q, %q) = %q: %s", uri, prefix, host, enc, why)
		}
		u, _ := parseURI(uri)
		// A field holding the separator cannot come back (as in Kamailio).
		if strings.IndexByte(u.User+u.Password+u.Host, sep) >= 0 {
			return
		}
		// Only separators that may stand in a user part can round-trip.
		if strings.IndexByte("*!~-_.$&+=", sep) < 0 {
			return
		}
		for _, kv := range u.UriParams {
			if strings.EqualFold(kv.K, "transport") && strings.IndexByte(kv.V, sep) >= 0 {
				return
			}
		}
		dec, err := decodeURI(enc, sep)
		if err != nil {
			t.Fatalf("encodeURI(%q) = %q does not decode: %v", uri, enc, err)
		}
		d, ok := parseURI(dec)
		if !ok || !strings.EqualFold(d.Host, u.Host) || d.Port != u.Port || d.User != u.User {
			t.Fatalf("%q -> %q -> %q: address changed", uri, enc, dec)
		}
	})
}

// FuzzB64Dec: the parameter value of contact_param_decode* comes from the
// network.
func FuzzB64Dec(f *testing.F) {
	for _, s := range []string{"c2lwOmFsaWNlQDEwLjEuMS4y", "c2lwOmFAYg0KWC1FdmlsOiAx", "", "=", "YQ==", "YQ", "Y", "a+/b", "%41"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out, err := b64dec(s)
		if err != nil {
			return
		}
		if strings.ContainsAny(out, "\r\n\x00") {
			t.Fatalf("b64dec(%q) = %q", s, out)
		}
		if again, err := b64dec(base64.RawURLEncoding.EncodeToString([]byte(out))); err != nil || again != out {
			t.Fatalf("b64dec round trip of %q: %q %v", out, again, err)
		}
	})
}

// FuzzDecodedParam: the whole contact_param_decode path for one URI.
func FuzzDecodedParam(f *testing.F) {
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	for _, s := range []string{
		"sip:203.0.113.1:5060;ksu=" + enc("sip:alice@10.1.1.1:5062;transport=tcp"),
		"sip:203.0.113.1;ksu=" + enc("sip:alice@127.0.0.1:5062"),
		"sip:x;ksu=" + enc("sip:a@b\r\nX-Evil: 1"),
		"sip:x;ksu=" + enc("sip:a@b>;expires=0, <sip:evil@203.0.113.66"),
		"sip:x;ksu=" + enc("sip:a@b;alias=10.0.0.1~5060~1"),
		"sip:x;ksu=" + enc("not a uri"),
		"sip:x;KSU=" + enc("sip:a@b") + ";ksu=zz",
		"sip:x;ksu",
		"sip:x;ksu=",
		"sip:user;ksu=@x;ksu=" + enc("sip:a@b"),
	} {
		f.Add(s, "ksu")
	}
	f.Fuzz(func(t *testing.T, uri, pname string) {
		d, ok, err := decodedParam(uri, pname)
		if err != nil || !ok {
			return
		}
		if why := unsafeURI(d); why != "" {
			t.Fatalf("decodedParam(%q, %q) = %q: %s", uri, pname, d, why)
		}
	})
}
