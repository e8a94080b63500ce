package permissions

import (
	"net/netip"
	"regexp"
	"testing"
)

// The fuzz targets cover every parser of operator input: the address file,
// the trusted file, the allow/deny rule files and the POSIX pattern
// translation under them. Seeds are in testdata/fuzz/<target>.

func FuzzAddressFile(f *testing.F) {
	f.Add([]byte(sampleAddresses))
	f.Fuzz(func(t *testing.T, data []byte) {
		rows, err := parseAddressFile("f", data)
		if err != nil {
			return
		}
		tab, err := buildAddrTable(rows, 0)
		if err != nil {
			return
		}
		// The index agrees with the obvious linear scan at the first and
		// last address of each prefix and just outside them.
		for i := range tab.entries {
			if i == 40 {
				break
			}
			e := &tab.entries[i]
			if e.domain != "" {
				continue
			}
			lo, hi := prefixRange(e.prefix)
			for _, n := range []u128{lo, hi, hi.inc(), dec(lo)} {
				ip, ok := numAddr(n, e.prefix.Addr().Is4())
				if !ok {
					continue
				}
				for _, longest := range []bool{false, true} {
					want := refMatch(tab, ip, e.port, 0, longest)
					got, found := tab.matchIP(ip, e.port, 0, longest)
					if (want != nil) != found || (found && got != want) {
						t.Fatalf("%s longest %v: got %+v, want %+v", ip, longest, got, want)
					}
				}
			}
		}
		// Every record matches its own address, in its group, on its port.
		for i := range tab.entries {
			e := &tab.entries[i]
			var ok bool
			if e.domain != "" {
				_, ok = tab.matchDomain(e.domain, e.port, e.grp)
			} else {
				_, ok = tab.matchIP(e.prefix.Addr(), e.port, e.grp, i%2 == 0)
			}
			if !ok {
				t.Fatalf("entry %d (%+v) does not match itself", i, *e)
			}
		}
		tab.match("192.0.2.1", 5060, 0, false)
		tab.match("2001:db8::1", 5060, 0, true)
		tab.matchIP(netip.Addr{}, 0, 0, false)
	})
}

func dec(a u128) u128 {
	if a.lo == 0 {
		return u128{a.hi - 1, ^uint64(0)}
	}
	return u128{a.hi, a.lo - 1}
}

// numAddr turns a number back into an address of the family; false when it
// is outside the family's range.
func numAddr(n u128, is4 bool) (netip.Addr, bool) {
	if is4 {
		if n.hi != 0 || n.lo > 1<<32-1 {
			return netip.Addr{}, false
		}
		return netip.AddrFrom4([4]byte{byte(n.lo >> 24), byte(n.lo >> 16), byte(n.lo >> 8), byte(n.lo)}), true
	}
	var b [16]byte
	for i := 0; i < 8; i++ {
		b[i] = byte(n.hi >> (56 - 8*i))
		b[i+8] = byte(n.lo >> (56 - 8*i))
	}
	return netip.AddrFrom16(b), true
}

func FuzzTrustedFile(f *testing.F) {
	f.Add([]byte(sampleTrusted))
	f.Fuzz(func(t *testing.T, data []byte) {
		rows, err := parseTrustedFile("f", data)
		if err != nil {
			return
		}
		entries, err := buildTrustedEntries(rows, compileTrustedPattern)
		if err != nil {
			return
		}
		tab := newTrustedTable(entries)
		for _, e := range entries {
			tab.match(&trustedRequest{src: e.src, proto: e.proto, furi: "sip:a@b", ruri: "sip:c@d", isReq: true}, true)
		}
	})
}

func FuzzRules(f *testing.F) {
	f.Add([]byte(`ALL : "^sip:361[0-9]*@abc\.com$" EXCEPT "^sip:361[0-9]*3@abc\.com$"`))
	f.Fuzz(func(t *testing.T, data []byte) {
		rs, err := parseRules("f", data)
		if err != nil {
			return
		}
		rs.matches("sip:alice@example.com", "sip:bob@example.com")
		rs.matches("", "")
	})
}

var alnum = regexp.MustCompile(`^[a-z0-9]*$`)

func FuzzPOSIX(f *testing.F) {
	f.Add(`^sip:.*@example\.com$`, false)
	f.Add(`^\(ab\)\{2,3\}[[:digit:]]$`, false)
	f.Add(`^sip:(alice|bob)@[^]x]+$`, true)
	f.Fuzz(func(t *testing.T, pat string, extended bool) {
		re, err := compilePOSIX(pat, extended, false)
		if err != nil {
			return
		}
		// A plain word means itself in either flavour.
		if alnum.MatchString(pat) && !re.MatchString("x"+pat+"y") {
			t.Fatalf("%q does not match itself", pat)
		}
		re.MatchString("sip:alice@example.com")
	})
}
