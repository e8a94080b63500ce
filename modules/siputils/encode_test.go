package siputils

import (
	"encoding/base64"
	"testing"
)

func TestEncodeDecodeURI(t *testing.T) {
	for _, c := range []struct{ in, enc, dec string }{
		{"sip:bob:pw@10.0.0.5:5070;transport=tcp;foo", "sip:enc*bob*pw*10.0.0.5*5070*tcp@h", "sip:bob:pw@10.0.0.5:5070;transport=tcp"},
		{"sip:10.0.0.6", "sip:enc***10.0.0.6**@h", "sip:10.0.0.6"},
		{"sip:alice@[2001:db8::1]:5062;transport=tcp", "sip:enc*alice**%5B2001%3Adb8%3A%3A1%5D*5062*tcp@h", "sip:alice@[2001:db8::1]:5062;transport=tcp"},
		{"sip:[::1]", "sip:enc***%5B%3A%3A1%5D**@h", "sip:[::1]"},
	} {
		enc, err := encodeURI(c.in, "enc", "h", '*')
		if err != nil || enc != c.enc {
			t.Errorf("encode %s = %q %v, want %q", c.in, enc, err, c.enc)
			continue
		}
		if dec, err := decodeURI(enc, '*'); err != nil || dec != c.dec {
			t.Errorf("decode %s = %q %v, want %q", enc, dec, err, c.dec)
		}
	}
	// URIs that cannot be encoded so that they decode again.
	for _, in := range []string{"sip:@@", "sip:a@b:70000", "sip:a:b:c@h", "sip:a@h>x", "nonsense"} {
		if enc, err := encodeURI(in, "enc", "h", '*'); err == nil {
			t.Errorf("encode %q = %q", in, enc)
		}
	}
	// Encoded URIs that do not decode to something usable.
	for _, in := range []string{
		"sip:enc*u*p*h*5060@h",        // five fields
		"sip:enc*u*p**5060*udp@h",     // no host
		"sip:enc*u*p*h*50x*udp@h",     // port not a number
		"sip:enc*u*p*h*0*udp@h",       // port 0
		"sip:enc*u*p*h*65536*udp@h",   // port too big
		"sip:enc*u*p*a%3Eb*5060*@h",   // '>' after unescaping
		"sip:enc*u*p*a%20b*5060*@h",   // space after unescaping
		"sip:enc*u*p*a%zzb*5060*@h",   // bad escape
		"sip:enc*u*p*ab%3*5060*@h",    // short escape
		"sip:enc*u*p*a%0D%0A*5060*@h", // CRLF
	} {
		if dec, err := decodeURI(in, '*'); err == nil {
			t.Errorf("decode %q = %q", in, dec)
		}
	}
}

func TestValidEncodeArgs(t *testing.T) {
	for _, c := range []struct {
		prefix, host string
		ok           bool
	}{
		{"enc", "198.51.100.7", true},
		{"", "sbc.example.com:5060", true},
		{"a-b.c_d!~'()&=+$/%20", "[2001:db8::1]:5060", true},
		{"enc", "[2001:db8::1]", true},
		{"en:c", "h", false},
		{"en*c", "h", false},
		{"en@c", "h", false},
		{"en c", "h", false},
		{"[", "]", false},
		{"enc", "", false},
		{"enc", "h:0", false},
		{"enc", "h:x", false},
		{"enc", "h;x", false},
		{"enc", "h>", false},
		{"enc", "[::1", false},
	} {
		if got := validEncodeArgs(c.prefix, c.host, '*'); got != c.ok {
			t.Errorf("validEncodeArgs(%q, %q) = %v", c.prefix, c.host, got)
		}
	}
}

func TestDecodedParamRefusesNonURIs(t *testing.T) {
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	for _, bad := range []string{
		"sip:a@b>;expires=0, <sip:evil@203.0.113.66",
		"<sip:a@b>",
		`sip:"a"@b`,
		"sip:a@b c",
		"sip:a@b\tc",
		"not a uri",
		"sip:a@b\r\nX-Evil: 1",
		"sip:a@b\x00",
	} {
		if d, ok, err := decodedParam("sip:x;ksu="+enc(bad), "ksu"); err == nil || ok {
			t.Errorf("%q decoded to %q", bad, d)
		}
	}
	d, ok, err := decodedParam("sip:x;ksu="+enc("sip:alice@10.1.1.1:5062;transport=tcp;alias=10.0.0.1~5060~1"), "KSU")
	if err != nil || !ok || d != "sip:alice@10.1.1.1:5062;transport=tcp;alias=10.0.0.1~5060~1" {
		t.Errorf("decoded %q %v %v", d, ok, err)
	}
	if _, ok, err := decodedParam("sip:x;other=1", "ksu"); ok || err != nil {
		t.Errorf("absent parameter: %v %v", ok, err)
	}
}
