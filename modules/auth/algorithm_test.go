package auth

import "testing"

// The worked examples of RFC 2617 §3.5 and RFC 7616 §3.9.1.
func TestRFCVectors(t *testing.T) {
	cases := []struct {
		alg                                  *Algorithm
		user, realm, pass, nonce, nc, cnonce string
		want                                 string
	}{
		{AlgMD5, "Mufasa", "testrealm@host.com", "Circle Of Life", "dcd98b7102dd2f0e8b11d0f600bfb0c093", "00000001", "0a4f113b",
			"6629fae49393a05397450978507c4ef1"},
		{AlgMD5, "Mufasa", "http-auth@example.org", "Circle of Life", "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", "00000001",
			"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", "8ca523f5e9506fed4657c9700eebdbec"},
		{AlgSHA256, "Mufasa", "http-auth@example.org", "Circle of Life", "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", "00000001",
			"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"},
	}
	for _, c := range cases {
		ha1 := c.alg.HA1(c.user, c.realm, c.pass)
		got := c.alg.Response(ha1, c.nonce, c.nc, c.cnonce, "auth", "GET", "/dir/index.html", "")
		if got != c.want {
			t.Errorf("%s %s: got %s, want %s", c.alg.Name, c.realm, got, c.want)
		}
	}
}

func TestSessAndAuthInt(t *testing.T) {
	ha1 := AlgMD5.HA1("u", "r", "p")
	if AlgMD5.SessHA1(ha1, "n", "c") != ha1 {
		t.Error("SessHA1 changed a plain HA1")
	}
	sess := AlgMD5Sess.SessHA1(ha1, "n", "c")
	if sess != AlgMD5.sum(ha1, "n", "c") || sess == ha1 {
		t.Errorf("sess HA1 %s", sess)
	}
	// auth-int puts H(body) into A2; another body gives another response.
	a := AlgSHA256.Response(ha1, "n", "00000001", "c", "auth-int", "INVITE", "sip:x", AlgSHA256.BodyHash("v=0"))
	b := AlgSHA256.Response(ha1, "n", "00000001", "c", "auth-int", "INVITE", "sip:x", AlgSHA256.BodyHash("v=1"))
	if a == b || len(a) != 64 {
		t.Errorf("auth-int responses %s %s", a, b)
	}
	// RFC 2069 form: H(HA1:nonce:HA2).
	if got := AlgMD5.Response(ha1, "n", "", "", "", "REGISTER", "sip:x", ""); got != AlgMD5.sum(ha1, "n", AlgMD5.sum("REGISTER", "sip:x")) {
		t.Errorf("no-qop response %s", got)
	}
}

func TestParseAlgorithms(t *testing.T) {
	l, err := ParseAlgorithms(" sha-256 , MD5")
	if err != nil || len(l) != 2 || l[0] != AlgSHA256 || l[1] != AlgMD5 {
		t.Fatalf("%v %v", l, err)
	}
	if l, err := ParseAlgorithms(""); err != nil || len(l) != 1 || l[0] != AlgMD5 {
		t.Fatalf("empty: %v %v", l, err)
	}
	for _, bad := range []string{"SHA-1", "MD5,MD5", "MD5,", "AKAv1-MD5"} {
		if _, err := ParseAlgorithms(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	for _, a := range algorithms {
		if algorithmByID(a.ID) != a || AlgorithmByName(a.Name) != a {
			t.Errorf("%s: lookup", a.Name)
		}
	}
}
