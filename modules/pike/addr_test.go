package pike

import (
	"net/netip"
	"testing"
)

func TestParseIP(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.1":           "192.0.2.1",
		" 192.0.2.1\t":        "192.0.2.1",
		"2001:db8::1":         "2001:db8::1",
		"[2001:DB8::1]":       "2001:db8::1",
		"::ffff:192.0.2.1":    "192.0.2.1",
		"":                    "",
		"192.0.2.1:5060":      "",
		"[2001:db8::1]:5060":  "",
		"192.0.2.0/24":        "",
		"fe80::1%eth0":        "",
		"example.com":         "",
		"1.2.3":               "",
		"[]":                  "",
		"192.0.2.256":         "",
		"01.2.3.4":            "",
		"2001:db8::1 2001::2": "",
		"::1::":               "",
		"1.2.3.4\x00":         "",
		"[192.0.2.1":          "",
	} {
		a, ok := parseIP(in)
		got := ""
		if ok {
			got = a.String()
		}
		if got != want {
			t.Errorf("parseIP(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestKeyAggregatesIPv6(t *testing.T) {
	k := keyer{v6bits: 64}
	a, b := k.key(ip("2001:db8:1:2::1")), k.key(ip("2001:db8:1:2:ffff::9"))
	if a != b || a != ip("2001:db8:1:2::") {
		t.Fatalf("keys %v %v", a, b)
	}
	if k.key(ip("2001:db8:1:3::1")) == a {
		t.Fatal("another /64 shares the key")
	}
	if got := k.show(a); got != "2001:db8:1:2::/64" {
		t.Fatalf("show %q", got)
	}
	// IPv4 is never aggregated, also when it comes IPv4-mapped.
	if got := k.key(ip("::ffff:192.0.2.7")); got != ip("192.0.2.7") || k.show(got) != "192.0.2.7" {
		t.Fatalf("v4 key %v", got)
	}
	full := keyer{v6bits: 128}
	if got := full.key(ip("fe80::1%eth0")); got != ip("fe80::1") || full.show(got) != "fe80::1" {
		t.Fatalf("zone kept: %v", got)
	}
}

// FuzzParseIP: whatever a script passes to pike_check_ip, parsing never
// panics, and an accepted address gives a canonical key whose host bits
// are clear for every prefix length.
func FuzzParseIP(f *testing.F) {
	for _, s := range []string{"192.0.2.1", "[2001:db8::1]", "::ffff:10.0.0.1", " 1.2.3.4 ", "fe80::1%lo", "::", "1.2.3.4:5"} {
		f.Add(s, uint8(64))
	}
	f.Fuzz(func(t *testing.T, s string, bits uint8) {
		a, ok := parseIP(s)
		if !ok {
			return
		}
		if !a.IsValid() || a.Zone() != "" || a.Is4In6() {
			t.Fatalf("parseIP(%q) = %v", s, a)
		}
		k := keyer{v6bits: int(bits%128) + 1}
		key := k.key(a)
		if k.key(key) != key {
			t.Fatalf("key not idempotent for %v", a)
		}
		if key.Is6() {
			p, err := netip.ParsePrefix(k.show(key))
			if err != nil && k.v6bits < 128 {
				t.Fatalf("show %q: %v", k.show(key), err)
			}
			if err == nil && p.Masked() != p {
				t.Fatalf("host bits set in %v", p)
			}
		}
	})
}
