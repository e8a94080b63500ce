package permissions

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

// genAddressFile writes n random records: 60% IPv4 hosts, 30% IPv4
// subnets (/8 to /30), 10% IPv6 (/32 to /128), in 50 groups, a quarter
// with a port.
func genAddressFile(n int, seed uint64) string {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	var b strings.Builder
	for i := 0; i < n; i++ {
		grp := 1 + r.IntN(50)
		port := 0
		if r.IntN(4) == 0 {
			port = 5060 + r.IntN(3)
		}
		switch k := r.IntN(10); {
		case k < 6:
			fmt.Fprintf(&b, "%d %d.%d.%d.%d 32 %d t%d\n", grp, r.IntN(256), r.IntN(256), r.IntN(256), r.IntN(256), port, i)
		case k < 9:
			fmt.Fprintf(&b, "%d %d.%d.%d.%d %d %d t%d\n", grp, r.IntN(256), r.IntN(256), r.IntN(256), r.IntN(256), 8+r.IntN(23), port, i)
		default:
			fmt.Fprintf(&b, "%d 2001:db8:%x:%x::%x %d %d t%d\n", grp, r.IntN(16), r.IntN(65536), r.IntN(65536),
				[]int{32, 48, 64, 96, 128}[r.IntN(5)], port, i)
		}
	}
	return b.String()
}

func load100k(t testing.TB) (*addrTable, time.Duration) {
	t.Helper()
	data := []byte(genAddressFile(100_000, 1))
	start := time.Now()
	rows, err := parseAddressFile("gen", data)
	if err != nil {
		t.Fatal(err)
	}
	tab, err := buildAddrTable(rows, 0)
	if err != nil {
		t.Fatal(err)
	}
	return tab, time.Since(start)
}

// refMatch is the matching rule written the slow, obvious way, as a
// ranking: first match takes (not exact, group, load order) lowest, so
// exact addresses first; longest takes (-prefix length, group, load order).
func refMatch(t *addrTable, ip netip.Addr, port uint16, grp uint32, longest bool) *addrEntry {
	ip = ip.Unmap()
	rank := func(e *addrEntry) []int64 {
		first := int64(1)
		if e.isExact() {
			first = 0
		}
		if longest {
			first = -int64(e.prefix.Bits())
		}
		return []int64{first, int64(e.grp), int64(e.seq)}
	}
	var best *addrEntry
	for i := range t.entries {
		e := &t.entries[i]
		if e.domain != "" || !e.prefix.Contains(ip) || (grp != 0 && e.grp != grp) || (e.port != 0 && e.port != port) {
			continue
		}
		if best == nil || slices.Compare(rank(e), rank(best)) < 0 {
			best = e
		}
	}
	return best
}

func TestLargeTable(t *testing.T) {
	tab, took := load100k(t)
	t.Logf("100000 records parsed and indexed in %v (%d hosts, %d subnets)", took, tab.nExact, tab.nSubnet)
	if took > 10*time.Second {
		t.Errorf("loading 100000 records took %v", took)
	}
	r := rand.New(rand.NewPCG(7, 7))
	samples := 150
	if testing.Short() {
		samples = 30
	}
	hits := 0
	for i := 0; i < samples; i++ {
		var ip netip.Addr
		if i%3 == 0 {
			// A random address, usually inside some subnet.
			ip = netip.AddrFrom4([4]byte{byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))})
		} else {
			// An address inside a random record.
			e := &tab.entries[r.IntN(len(tab.entries))]
			a := e.prefix.Addr().AsSlice()
			for j := e.prefix.Bits(); j < len(a)*8; j++ {
				if r.IntN(2) == 1 {
					a[j/8] |= 0x80 >> (j % 8)
				}
			}
			ip, _ = netip.AddrFromSlice(a)
		}
		port := uint16(5059 + r.IntN(4))
		for _, grp := range []uint32{0, uint32(1 + r.IntN(50))} {
			for _, longest := range []bool{false, true} {
				want := refMatch(tab, ip, port, grp, longest)
				got, ok := tab.matchIP(ip, port, grp, longest)
				if (want != nil) != ok || (ok && got != want) {
					t.Fatalf("%s port %d grp %d longest %v: got %+v, want %+v", ip, port, grp, longest, got, want)
				}
				if ok {
					hits++
				}
			}
		}
	}
	if hits == 0 {
		t.Fatal("no sample matched: the sample does not test anything")
	}
}

// BenchmarkAllowAddress is allow_address(group, ip, port) against a table
// of 100000 records (hosts, IPv4 and IPv6 subnets of many lengths).
func BenchmarkAllowAddress(b *testing.B) {
	tab, _ := load100k(b)
	p := &Permissions{}
	p.addr.Store(tab)
	r := rand.New(rand.NewPCG(3, 3))
	type q struct {
		ip   string
		grp  int
		port int
	}
	qs := make([]q, 4096)
	for i := range qs {
		e := &tab.entries[r.IntN(len(tab.entries))]
		ip := e.prefix.Addr().String()
		if i%2 == 0 {
			ip = netip.AddrFrom4([4]byte{byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))}).String()
		}
		qs[i] = q{ip, 1 + r.IntN(50), 5060}
	}
	hits := 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		x := &qs[i&4095]
		if p.allowAddress(nil, x.grp, x.ip, x.port) == 1 {
			hits++
		}
	}
	b.ReportMetric(float64(hits)/float64(b.N), "hit-ratio")
}

// BenchmarkAllowSourceAddressGroup is the group lookup of a parsed source
// address (no text to parse) against the same table.
func BenchmarkAllowSourceAddressGroup(b *testing.B) {
	tab, _ := load100k(b)
	r := rand.New(rand.NewPCG(5, 5))
	ips := make([]netip.Addr, 4096)
	for i := range ips {
		ips[i] = netip.AddrFrom4([4]byte{byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))})
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tab.matchIP(ips[i&4095], 5060, 0, false)
	}
}
