package rr

import "testing"

func TestSplitURI(t *testing.T) {
	for _, c := range []struct {
		in                       string
		ok                       bool
		user, host, port, params string
	}{
		{"sip:10.0.0.1", true, "", "10.0.0.1", "", ""},
		{"sip:+1;npdi@h.example:5070;lr;ftag=a?X=1", true, "+1;npdi", "h.example", "5070", "lr;ftag=a"},
		{"sips:bob:pw@[2001:db8::1]:5061;transport=tls", true, "bob", "[2001:db8::1]", "5061", "transport=tls"},
		{"sip:[2001:db8::1];lr", true, "", "[2001:db8::1]", "", "lr"},
		{"sip:h:0", false, "", "", "", ""},
		{"sip:h:99999", false, "", "", "", ""},
		{"sip:@", false, "", "", "", ""},
		{"nocolon", false, "", "", "", ""},
		{"sip:[::1", false, "", "", "", ""},
	} {
		u, ok := splitURI(c.in)
		if ok != c.ok || ok && (u.user != c.user || u.host != c.host || u.port != c.port || u.params != c.params) {
			t.Errorf("%q: %+v %v", c.in, u, ok)
		}
	}
}

func TestParams(t *testing.T) {
	p := `lr;x="a;r2=on";FTAG=up; ftag = lo ;R2`
	if !hasParam(p, "LR") || !hasParam(p, "r2") || hasParam(p, "a") || hasParam(p, "l") {
		t.Error("hasParam")
	}
	if hasParam(`x="a;r2=on"`, "r2") {
		t.Error("quoted ';' must not separate")
	}
	if v, ok := paramValue(p, "ftag", true); !ok || v != "lo" {
		t.Errorf("case-sensitive ftag = %q %v", v, ok)
	}
	if v, ok := paramValue(p, "ftag", false); !ok || v != "up" {
		t.Errorf("any-case ftag = %q %v", v, ok)
	}
	if v, _ := paramValue(p, "x", true); v != "a;r2=on" {
		t.Errorf("quoted value %q", v)
	}
	if got := maddrURI("sip:p.example:5070;maddr=10.1.1.1;lr", rawURI{port: "5070", params: "maddr=10.1.1.1;lr"}); got != "sip:10.1.1.1:5070" {
		t.Errorf("maddr %q", got)
	}
	if got := nameAddrURI(`"A, B" <sip:a@b;lr>;x=1`); got != "sip:a@b;lr" {
		t.Errorf("nameAddrURI %q", got)
	}
}
