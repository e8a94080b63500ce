package permissions

import (
	"net/netip"
	"testing"
)

// TestPrefixIndexEdges checks the segment sweep where it can go wrong:
// prefixes that end together, adjacent siblings, the whole address space
// and its last address, duplicated prefixes in several groups.
func TestPrefixIndexEdges(t *testing.T) {
	tab := mustAddrTable(t, `
1 0.0.0.0/0
2 10.0.0.0/8
3 10.255.0.0/16
4 10.255.255.0/24
5 10.255.255.255
6 11.0.0.0/8
7 10.0.0.0/8
8 255.255.255.255
9 255.255.255.0/24
1 ::/0
2 ::ffff:0:0/96
3 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff
4 8000::/1
5 7fff:ffff:ffff:ffff::/64
`, 0)
	addrs := []string{
		"0.0.0.0", "9.255.255.255", "10.0.0.0", "10.0.0.1", "10.254.255.255", "10.255.0.0", "10.255.254.255",
		"10.255.255.0", "10.255.255.254", "10.255.255.255", "11.0.0.0", "11.255.255.255", "12.0.0.0",
		"255.255.254.255", "255.255.255.0", "255.255.255.254", "255.255.255.255",
		"::", "::1", "7fff:ffff:ffff:ffff::", "7fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "7fff:ffff:ffff:fffe:ffff:ffff:ffff:ffff",
		"8000::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
	}
	for _, s := range addrs {
		ip := netip.MustParseAddr(s)
		for _, grp := range []uint32{0, 1, 2, 3, 4, 5, 7, 8, 9} {
			for _, longest := range []bool{false, true} {
				want := refMatch(tab, ip, 5060, grp, longest)
				got, ok := tab.matchIP(ip, 5060, grp, longest)
				if (want != nil) != ok || (ok && got != want) {
					t.Errorf("%s grp %d longest %v: got %+v, want %+v", s, grp, longest, got, want)
				}
			}
		}
	}
	// The innermost of the last IPv4 address is the /32, of the address
	// after the /24 ends the enclosing /0.
	if e, _ := tab.matchIP(netip.MustParseAddr("255.255.255.255"), 0, 0, true); e.grp != 8 {
		t.Errorf("255.255.255.255: group %d", e.grp)
	}
	if e, _ := tab.matchIP(netip.MustParseAddr("12.0.0.0"), 0, 0, true); e.grp != 1 {
		t.Errorf("12.0.0.0: group %d", e.grp)
	}
}

func TestPrefixRange(t *testing.T) {
	for _, tc := range []struct {
		p      string
		lo, hi u128
	}{
		{"10.0.0.0/8", u128{0, 0x0a000000}, u128{0, 0x0affffff}},
		{"0.0.0.0/0", u128{0, 0}, u128{0, 0xffffffff}},
		{"1.2.3.4/32", u128{0, 0x01020304}, u128{0, 0x01020304}},
		{"::/0", u128{0, 0}, u128{^uint64(0), ^uint64(0)}},
		{"2001:db8::/32", u128{0x20010db800000000, 0}, u128{0x20010db8ffffffff, ^uint64(0)}},
		{"2001:db8::/64", u128{0x20010db800000000, 0}, u128{0x20010db800000000, ^uint64(0)}},
		{"2001:db8::/96", u128{0x20010db800000000, 0}, u128{0x20010db800000000, 0xffffffff}},
	} {
		lo, hi := prefixRange(netip.MustParsePrefix(tc.p))
		if lo != tc.lo || hi != tc.hi {
			t.Errorf("%s: %x-%x, want %x-%x", tc.p, lo, hi, tc.lo, tc.hi)
		}
	}
}
