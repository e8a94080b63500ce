package permissions

import (
	"strings"
	"testing"
)

func mustAddrTable(t *testing.T, file string, maxSubnets int) *addrTable {
	t.Helper()
	rows, err := parseAddressFile("test", []byte(file))
	if err != nil {
		t.Fatal(err)
	}
	tab, err := buildAddrTable(rows, maxSubnets)
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

const sampleAddresses = `
# group address mask port tag
1 127.0.0.1 32 0 tag1
1 10.0.0.10
2 192.168.1.0 24 0 tag2
2 192.168.2.0 24 5060 tag3
3 [1:5ee::900d:c0de]
4 2001:db8::/32 0 0 v6net
4 2001:db8:1::/48 0 5061 v6port
5 10.0.0.0 8 0 wide
6 10.1.0.0 16 0 narrow
7 sip.example.com 0 5060 dom
8 192.168.1.0/24
`

func TestAddrMatchCIDR(t *testing.T) {
	tab := mustAddrTable(t, sampleAddresses, 0)
	cases := []struct {
		addr string
		port uint16
		grp  uint32
		want bool
		tag  string
	}{
		{"127.0.0.1", 5060, 1, true, "tag1"},
		{"127.0.0.2", 5060, 1, false, ""},
		{"10.0.0.10", 1, 1, true, ""},
		{"10.0.0.10", 1, 2, false, ""},
		{"192.168.1.77", 9, 2, true, "tag2"},
		{"192.168.1.255", 9, 2, true, "tag2"},
		{"192.168.3.1", 9, 2, false, ""},
		// Port 5060 only for the second subnet.
		{"192.168.2.1", 5060, 2, true, "tag3"},
		{"192.168.2.1", 5061, 2, false, ""},
		// IPv6, bracketed or not, exact and subnets with ports.
		{"1:5ee::900d:c0de", 0, 3, true, ""},
		{"[1:5ee::900d:c0de]", 0, 3, true, ""},
		{"1:5ee::900d:c0df", 0, 3, false, ""},
		{"2001:db8:ffff::1", 7, 4, true, "v6net"},
		{"2001:db9::1", 7, 4, false, ""},
		// An IPv4-mapped source matches the IPv4 record.
		{"::ffff:127.0.0.1", 1, 1, true, "tag1"},
		// Domains literally, case-insensitively, with their port.
		{"SIP.example.com", 5060, 7, true, "dom"},
		{"sip.example.com", 5061, 7, false, ""},
		{"other.example.com", 5060, 7, false, ""},
		// CIDR notation in the address column.
		{"192.168.1.5", 1, 8, true, ""},
	}
	for _, tc := range cases {
		e, ok := tab.match(tc.addr, tc.port, tc.grp, false)
		if ok != tc.want {
			t.Errorf("match(%s, %d, grp %d) = %v, want %v", tc.addr, tc.port, tc.grp, ok, tc.want)
			continue
		}
		if ok && e.tag != tc.tag {
			t.Errorf("match(%s, %d, grp %d): tag %q, want %q", tc.addr, tc.port, tc.grp, e.tag, tc.tag)
		}
	}
}

func TestAddrGroupLookup(t *testing.T) {
	tab := mustAddrTable(t, sampleAddresses, 0)
	// 10.1.2.3 is in group 5 (/8) and group 6 (/16): first match takes the
	// lowest group, longest prefix the /16.
	if e, ok := tab.match("10.1.2.3", 5060, 0, false); !ok || e.grp != 5 {
		t.Errorf("first match: %+v %v, want group 5", e, ok)
	}
	if e, ok := tab.match("10.1.2.3", 5060, 0, true); !ok || e.grp != 6 {
		t.Errorf("longest prefix: %+v %v, want group 6", e, ok)
	}
	// An exact address wins over a subnet of a lower group.
	if e, ok := tab.match("10.0.0.10", 5060, 0, false); !ok || e.grp != 1 {
		t.Errorf("exact before subnet: %+v %v, want group 1", e, ok)
	}
	// 192.168.1.x is in group 2 and group 8.
	if e, ok := tab.match("192.168.1.9", 0, 0, false); !ok || e.grp != 2 {
		t.Errorf("192.168.1.9: %+v %v, want group 2", e, ok)
	}
	// Port-restricted subnet: 2001:db8:1::/48 wants 5061, the /32 any port.
	if e, ok := tab.match("2001:db8:1::9", 5061, 0, true); !ok || e.tag != "v6port" {
		t.Errorf("v6 longest with port: %+v %v", e, ok)
	}
	if e, ok := tab.match("2001:db8:1::9", 5060, 0, true); !ok || e.tag != "v6net" {
		t.Errorf("v6 longest, other port: %+v %v", e, ok)
	}
	if _, ok := tab.match("203.0.113.1", 5060, 0, false); ok {
		t.Error("unknown address matched")
	}
}

func TestAddrFirstLoadedWins(t *testing.T) {
	tab := mustAddrTable(t, "9 10.0.0.0 8 0 first\n9 10.0.0.0 16 0 second\n9 10.0.0.0 8 0 third\n", 0)
	if e, _ := tab.match("10.0.1.1", 0, 9, false); e.tag != "first" {
		t.Errorf("tag %q, want first", e.tag)
	}
	if e, _ := tab.match("10.0.1.1", 0, 9, true); e.tag != "second" {
		t.Errorf("longest: tag %q, want second", e.tag)
	}
}

func TestAddrRowErrors(t *testing.T) {
	for _, tc := range []struct{ file, want string }{
		{"0 10.0.0.1", "group 0"},
		{"1 10.0.0.1 33", "mask 33 out of range"},
		{"1 2001:db8:: 129", "mask 129 out of range"},
		{"1 10.0.0.1 32 70000", "port 70000"},
		{"1 10.0.0.300", "not a valid IPv4"},
		{"1 2001:db8::zz", "not a valid IPv6"},
		{"1 [10.0.0.1]", "brackets around an IPv4"},
		{"1 bad_host!", "neither an IP address nor a domain"},
		{"1 fe80::1%eth0", "zones"},
		{"1 10.0.0.0/8 16", "conflicts with mask"},
		{"1 10.0.0.0/x", "bad prefix length"},
	} {
		rows, err := parseAddressFile("f", []byte(tc.file))
		if err == nil {
			_, err = buildAddrTable(rows, 0)
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want one containing %q", tc.file, err, tc.want)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "f:1: ") {
			t.Errorf("%q: error %q does not name the line", tc.file, err)
		}
	}
}

func TestMaxSubnets(t *testing.T) {
	rows, _ := parseAddressFile("f", []byte("1 10.0.0.0 8\n1 10.0.0.1\n1 11.0.0.0 8\n"))
	if _, err := buildAddrTable(rows, 2); err != nil {
		t.Fatalf("2 subnets with max 2: %v", err)
	}
	if _, err := buildAddrTable(rows, 1); err == nil || !strings.Contains(err.Error(), "max_subnets (1)") {
		t.Fatalf("2 subnets with max 1: %v", err)
	}
}

func TestAddressFileParse(t *testing.T) {
	rows, err := parseAddressFile("f", []byte("  # comment\n\n1 10.0.0.1 32 5060 t#x # trailing\r\n2\tsip.example.com\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 {
		t.Fatalf("%d rows", len(rows))
	}
	r := rows[0]
	if r.grp != 1 || r.addr != "10.0.0.1" || r.mask != 32 || r.port != 5060 || r.tag == nil || *r.tag != "t" || r.where != "f:3" {
		t.Errorf("row 0: %+v", r)
	}
	if rows[1].tag != nil || rows[1].mask != 0 || rows[1].port != 0 {
		t.Errorf("row 1: %+v", rows[1])
	}
	for _, bad := range []string{"1", "x 10.0.0.1", "1 10.0.0.1 x", "1 10.0.0.1 32 -1", "1 a 1 2 t extra", "99999999999999999999 10.0.0.1"} {
		if _, err := parseAddressFile("f", []byte(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}
