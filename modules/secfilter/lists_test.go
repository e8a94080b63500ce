package secfilter

import (
	"net/netip"
	"strings"
	"testing"
)

func mustCompile(t *testing.T, rules ...Rule) *Lists {
	t.Helper()
	l, err := Compile(rules)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestUAPrefixCaseInsensitive(t *testing.T) {
	l := mustCompile(t,
		Rule{Blacklist, TypeUA, "friendly-scanner"},
		Rule{Blacklist, TypeUA, "sipcli"},
		Rule{Whitelist, TypeUA, "SIPcli/2"},
	)
	for _, c := range []struct {
		ua   string
		want verdict
	}{
		{"friendly-scanner", blocked},
		{"Friendly-Scanner/1.0", blocked},
		{"sipcli/1.8", blocked},
		{"SIPCLI/2.0 trusted build", allowed}, // whitelist wins over the broader blacklist entry
		{"friendly", notFound},                // a value shorter than the entry is no match
		{"my friendly-scanner", notFound},     // prefix, not substring (as Kamailio)
		{"", notFound},
		{"Linphone/5.0", notFound},
	} {
		if got := l.UA(c.ua); got != c.want {
			t.Errorf("UA(%q) = %v, want %v", c.ua, got, c.want)
		}
	}
}

func TestIPMatching(t *testing.T) {
	l := mustCompile(t,
		Rule{Blacklist, TypeIP, "192.0.2.7"},
		Rule{Blacklist, TypeIP, "198.51.100.0/24"},
		Rule{Blacklist, TypeIP, "10.1."},
		Rule{Blacklist, TypeIP, "2001:DB8::/32"},
		Rule{Whitelist, TypeIP, "198.51.100.9"},
		Rule{Whitelist, TypeIP, "::ffff:203.0.113.0/120"},
		Rule{Blacklist, TypeIP, "203.0.113.0/24"},
	)
	for _, c := range []struct {
		ip   string
		want verdict
	}{
		{"192.0.2.7", blocked},
		{"192.0.2.70", notFound}, // a full address is exact here, not a text prefix
		{"198.51.100.1", blocked},
		{"198.51.100.9", allowed}, // whitelist wins
		{"198.51.101.1", notFound},
		{"10.1.2.3", blocked}, // Kamailio-style text prefix
		{"10.10.2.3", notFound},
		{"2001:db8:1::5", blocked},
		{"2001:db9::5", notFound},
		{"::ffff:192.0.2.7", blocked}, // mapped source addresses are unmapped
		{"203.0.113.50", allowed},     // a mapped CIDR entry covers the IPv4 network
	} {
		if got := l.IP(netip.MustParseAddr(c.ip)); got != c.want {
			t.Errorf("IP(%s) = %v, want %v", c.ip, got, c.want)
		}
	}
}

func TestCountryAndDst(t *testing.T) {
	l := mustCompile(t,
		Rule{Blacklist, TypeCountry, "CN"},
		Rule{Whitelist, TypeCountry, "es"},
		Rule{Destination, TypeUA, "0090"},
		Rule{Destination, TypeUA, "555123123"},
	)
	if l.Country("cn") != blocked || l.Country("ES") != allowed || l.Country("FR") != notFound {
		t.Error("country lists")
	}
	if !l.Dst("555123123", true) || l.Dst("5551231234", true) || l.Dst("00901234", true) {
		t.Error("exact destination match")
	}
	if !l.Dst("00901234", false) || !l.Dst("5551231234", false) || l.Dst("009", false) {
		t.Error("prefix destination match")
	}
}

func TestPartyOrder(t *testing.T) {
	l := mustCompile(t,
		Rule{Blacklist, TypeUser, "sipvicious"},
		Rule{Whitelist, TypeUser, "boss"},
		Rule{Blacklist, TypeDomain, "evil.example"},
		Rule{Whitelist, TypeDomain, "good.example"},
		Rule{Blacklist, TypeUser, "Mallory"},
	)
	for _, c := range []struct {
		name    string
		hasName bool
		user    string
		domain  string
		want    int
	}{
		{"", false, "alice", "example.com", rcNotFound},
		{"", false, "sipvicious1", "example.com", rcUserBlocked},
		{"", false, "boss", "evil.example", rcUserAllowed},             // user lists before domain lists
		{"", false, "sipvicious", "good.example", rcUserBlocked},       // a blocked user is not saved by its domain
		{"Boss Man", true, "sipvicious", "example.com", rcNameAllowed}, // names are checked against the user lists first
		{"mallory", true, "alice", "example.com", rcNameBlocked},
		{"", true, "alice", "evil.example.org", rcDomainBlocked},
		{"", false, "alice", "good.example", rcDomainAllowed},
	} {
		if got := l.Party(c.name, c.hasName, c.user, c.domain); got != c.want {
			t.Errorf("Party(%q, %q, %q) = %d, want %d", c.name, c.user, c.domain, got, c.want)
		}
	}
}

func TestValidate(t *testing.T) {
	bad := []Rule{
		{Blacklist, TypeUA, ""},
		{Action(3), TypeUA, "x"},
		{Blacklist, Type(5), "x"},
		{Destination, TypeIP, "123"},
		{Blacklist, TypeIP, "10.0.0.0/33"},
		{Blacklist, TypeIP, "not-an-ip"},
		{Blacklist, TypeUA, "a\nb"},
		{Blacklist, TypeUA, strings.Repeat("x", MaxData+1)},
	}
	for _, r := range bad {
		if _, err := Compile([]Rule{{Blacklist, TypeUA, "ok"}, r}); err == nil {
			t.Errorf("%+v accepted", r)
		} else if !strings.Contains(err.Error(), "rule 2") {
			t.Errorf("error does not name the rule: %v", err)
		}
	}
}

func TestWithWithout(t *testing.T) {
	l := mustCompile(t, Rule{Blacklist, TypeUA, "a"})
	l2, err := l.With(Rule{Blacklist, TypeUA, "b"})
	if err != nil {
		t.Fatal(err)
	}
	if l.UA("b") != notFound || l2.UA("b") != blocked {
		t.Fatal("With must not change the old generation")
	}
	l3, n, err := l2.Without(Rule{Blacklist, TypeUA, "a"})
	if err != nil || n != 1 || l3.UA("a") != notFound || l3.UA("b") != blocked {
		t.Fatalf("Without: n=%d err=%v", n, err)
	}
	if _, err := l.With(Rule{Blacklist, TypeIP, "x.y"}); err == nil {
		t.Fatal("With accepted a bad IP")
	}
}

func BenchmarkUAManyEntries(b *testing.B) {
	var rules []Rule
	for i := 0; i < 5000; i++ {
		rules = append(rules, Rule{Blacklist, TypeUA, "scanner" + strings.Repeat("x", i%40) + string(rune('a'+i%26))})
	}
	l, err := Compile(rules)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		l.UA("Linphone/5.2.0 (belle-sip/5.2.0)")
	}
}

func BenchmarkIPManyNets(b *testing.B) {
	var rules []Rule
	for i := 0; i < 5000; i++ {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0})
		rules = append(rules, Rule{Blacklist, TypeIP, netip.PrefixFrom(a, 24).String()})
	}
	l, err := Compile(rules)
	if err != nil {
		b.Fatal(err)
	}
	src := netip.MustParseAddr("192.0.2.1")
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		l.IP(src)
	}
}
