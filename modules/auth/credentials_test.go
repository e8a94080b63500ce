package auth

import (
	"errors"
	"strings"
	"testing"
)

const md5Resp = "6629fae49393a05397450978507c4ef1"

func TestParseCredentialsGood(t *testing.T) {
	cases := []struct {
		in    string
		check func(c *Credentials) bool
	}{
		// SIPp's form: no blanks after commas, algorithm and qop unquoted.
		{`Digest username="alice",realm="example.com",cnonce="6b8b4567",nc=00000001,qop=auth,uri="sip:example.com",nonce="abc",response="` + md5Resp + `",algorithm=MD5`,
			func(c *Credentials) bool {
				return c.Username == "alice" && c.User == "alice" && c.Domain == "" && c.Realm == "example.com" && c.QOP == "auth" &&
					c.NCValue == 1 && c.CNonce == "6b8b4567" && c.Alg == AlgMD5 && c.AlgParam == "MD5" && c.URI == "sip:example.com"
			}},
		// RFC 2069 form, no algorithm: MD5.
		{`Digest username="bob@example.com", realm="r", nonce="n", uri="sip:x", response="` + md5Resp + `"`,
			func(c *Credentials) bool {
				return c.User == "bob" && c.Domain == "example.com" && c.QOP == "" && c.Alg == AlgMD5 && c.AlgParam == ""
			}},
		// Case-insensitive scheme and names, quoted qop and algorithm, tabs,
		// folding, escapes, unknown parameters kept out.
		{"digest USERNAME=\"a\\\"b\",\trealm = \"r\" ,\r\n nonce=\"n\", uri=\"sip:x\", response=\"" + strings.ToUpper(md5Resp) +
			"\", algorithm=\"md5\", qop=\"AUTH-INT\", nc=0000000A, cnonce=\"c\", opaque=\"o\", x-ext=token",
			func(c *Credentials) bool {
				return c.Username == `a"b` && c.Realm == "r" && c.QOP == "auth-int" && c.NCValue == 10 && c.Opaque == "o"
			}},
		{`Digest username="u", realm="", nonce="n", uri="sip:x", response="` + strings.Repeat("a", 64) + `", algorithm=SHA-256`,
			func(c *Credentials) bool { return c.Alg == AlgSHA256 && c.Realm == "" }},
		{`Digest username="u", realm="r", nonce="n", uri="sip:x", response="` + md5Resp + `", algorithm=MD5-sess, cnonce="c"`,
			func(c *Credentials) bool { return c.Alg == AlgMD5Sess }},
		{`Digest username="u", realm="r", nonce="n", uri="sip:x", response="` + md5Resp + `", userhash=false`,
			func(c *Credentials) bool { return true }},
	}
	for _, c := range cases {
		cr, err := ParseCredentials(c.in)
		if err != nil {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		if !c.check(cr) {
			t.Errorf("%q: parsed as %+v", c.in, *cr)
		}
		// The canonical form parses back to the same credentials.
		again, err := ParseCredentials(cr.String())
		if err != nil || again.String() != cr.String() {
			t.Errorf("%q: round trip %q: %v", c.in, cr.String(), err)
		}
	}
}

// Malformed credentials: each is refused, never partly used. Several are
// the shapes behind past digest-parser vulnerabilities in SIP servers
// (missing or empty fields, unterminated quotes, duplicated parameters that
// two code paths read differently, oversized values, NUL and CR/LF).
func TestParseCredentialsBad(t *testing.T) {
	ok := `username="u", realm="r", nonce="n", uri="sip:x", response="` + md5Resp + `"`
	cases := map[string]string{
		"empty":               "",
		"scheme only":         "Digest",
		"scheme and blank":    "Digest ",
		"missing username":    `Digest realm="r", nonce="n", uri="sip:x", response="` + md5Resp + `"`,
		"empty username":      `Digest username="", realm="r", nonce="n", uri="sip:x", response="` + md5Resp + `"`,
		"missing realm":       `Digest username="u", nonce="n", uri="sip:x", response="` + md5Resp + `"`,
		"missing nonce":       `Digest username="u", realm="r", uri="sip:x", response="` + md5Resp + `"`,
		"missing uri":         `Digest username="u", realm="r", nonce="n", response="` + md5Resp + `"`,
		"missing response":    `Digest username="u", realm="r", nonce="n", uri="sip:x"`,
		"short response":      `Digest username="u", realm="r", nonce="n", uri="sip:x", response="abc"`,
		"non-hex response":    `Digest username="u", realm="r", nonce="n", uri="sip:x", response="` + strings.Repeat("g", 32) + `"`,
		"md5 length for sha":  "Digest " + ok + ", algorithm=SHA-256",
		"unknown algorithm":   "Digest " + ok + ", algorithm=SHA-1",
		"duplicate realm":     "Digest " + ok + `, realm="other"`,
		"duplicate any case":  "Digest " + ok + `, USERNAME="v"`,
		"duplicate unknown":   "Digest " + ok + `, x=1, x=2`,
		"unterminated quote":  `Digest username="u, realm="r", nonce="n", uri="sip:x", response="` + md5Resp,
		"backslash at end":    `Digest username="u\`,
		"escaped CR":          "Digest username=\"u\\\r\", realm=\"r\", nonce=\"n\", uri=\"sip:x\", response=\"" + md5Resp + "\"",
		"NUL in value":        "Digest username=\"u\x00\", realm=\"r\", nonce=\"n\", uri=\"sip:x\", response=\"" + md5Resp + "\"",
		"bare LF":             "Digest " + ok + ",\nqop=auth",
		"CRLF not folding":    "Digest " + ok + ",\r\nqop=auth",
		"trailing comma":      "Digest " + ok + ",",
		"empty element":       "Digest " + ok + ",, qop=auth",
		"leading comma":       "Digest , " + ok,
		"no value":            "Digest " + ok + ", qop",
		"empty token value":   "Digest " + ok + ", qop=",
		"unquoted uri":        `Digest username="u", realm="r", nonce="n", uri=sip:x@y, response="` + md5Resp + `"`,
		"junk after quote":    `Digest username="u"x, realm="r", nonce="n", uri="sip:x", response="` + md5Resp + `"`,
		"qop without nc":      "Digest " + ok + `, qop=auth, cnonce="c"`,
		"qop without cnonce":  "Digest " + ok + `, qop=auth, nc=00000001`,
		"nc without qop":      "Digest " + ok + `, nc=00000001, cnonce="c"`,
		"nc 7 digits":         "Digest " + ok + `, qop=auth, nc=0000001, cnonce="c"`,
		"nc 9 digits":         "Digest " + ok + `, qop=auth, nc=000000001, cnonce="c"`,
		"nc not hex":          "Digest " + ok + `, qop=auth, nc=0000000x, cnonce="c"`,
		"unknown qop":         "Digest " + ok + `, qop=auth-conf, nc=00000001, cnonce="c"`,
		"two qops":            "Digest " + ok + `, qop="auth,auth-int", nc=00000001, cnonce="c"`,
		"sess without cnonce": "Digest " + ok + ", algorithm=MD5-sess",
		"userhash":            "Digest " + ok + ", userhash=true",
		"huge value":          "Digest " + ok + `, x="` + strings.Repeat("a", maxParamValue+1) + `"`,
		"huge header":         "Digest " + ok + strings.Repeat(`, x="aaaa"`, 500),
		"huge nonce":          `Digest username="u", realm="r", nonce="` + strings.Repeat("n", maxNonceLen+1) + `", uri="sip:x", response="` + md5Resp + `"`,
		"huge username":       `Digest username="` + strings.Repeat("u", maxUserLen+1) + `", realm="r", nonce="n", uri="sip:x", response="` + md5Resp + `"`,
		"too many params":     "Digest " + ok + strings.Repeat(", p=1", 0) + manyParams(maxCredParams),
		"control char":        "Digest username=\"u\x01\", realm=\"r\", nonce=\"n\", uri=\"sip:x\", response=\"" + md5Resp + "\"",
		"escaped control":     "Digest username=\"u\\\x01\", realm=\"r\", nonce=\"n\", uri=\"sip:x\", response=\"" + md5Resp + "\"",
		"DEL":                 "Digest username=\"u\x7f\", realm=\"r\", nonce=\"n\", uri=\"sip:x\", response=\"" + md5Resp + "\"",
		"equals in name":      "Digest " + ok + `, a=b=c`,
		"missing comma":       `Digest username="u" realm="r", nonce="n", uri="sip:x", response="` + md5Resp + `"`,
	}
	for name, in := range cases {
		c, err := ParseCredentials(in)
		if err == nil {
			t.Errorf("%s: accepted as %+v", name, *c)
		}
		if errors.Is(err, ErrNotDigest) {
			t.Errorf("%s: taken for another scheme", name)
		}
	}
	for _, other := range []string{`Basic dXNlcjpwYXNz`, `Bearer abc`, `NTLM x`, `Digestusername="u"`} {
		if _, err := ParseCredentials(other); !errors.Is(err, ErrNotDigest) {
			t.Errorf("%q: %v, want ErrNotDigest", other, err)
		}
	}
}

func manyParams(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.WriteString(", p" + string(rune('a'+i%26)) + string(rune('a'+i/26)) + "=1")
	}
	return b.String()
}
