package dns

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/luasbc/luasbc/core/dns/dnstest"
	"github.com/luasbc/luasbc/core/msg"
)

func newTest(t *testing.T, stub *dnstest.Stub, mod func(*Config)) *Resolver {
	t.Helper()
	cfg := Config{Servers: []string{stub.Addr}, HostsFile: "-", TryNAPTR: true, TryIPv6: true, SRVWeights: true,
		Timeout: time.Second, BlockExpire: time.Minute}
	if mod != nil {
		mod(&cfg)
	}
	r, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func addrs(ts []Target) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.String())
	}
	return out
}

func eq(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

var zone = []string{
	"example.test. 60 IN NAPTR 10 10 \"s\" \"SIP+D2T\" \"\" _sip._tcp.example.test.",
	"example.test. 60 IN NAPTR 20 10 \"s\" \"SIP+D2U\" \"\" _sip._udp.example.test.",
	"example.test. 60 IN NAPTR 5 10 \"u\" \"E2U+sip\" \"!^.*$!sip:x@y!\" .",
	"_sip._tcp.example.test. 60 IN SRV 10 0 5070 b.example.test.",
	"_sip._udp.example.test. 60 IN SRV 20 0 5080 b.example.test.",
	"_sip._udp.example.test. 60 IN SRV 10 0 5060 a.example.test.",
	"a.example.test. 60 IN A 127.0.0.11",
	"b.example.test. 60 IN A 127.0.0.12",
	"b.example.test. 60 IN AAAA ::1",
	"alias.example.test. 60 IN CNAME a.example.test.",
	"plain.test. 60 IN A 127.0.0.13",
}

func TestRFC3263Steps(t *testing.T) {
	stub := dnstest.Start(t, zone...)
	r := newTest(t, stub, nil)
	ctx := context.Background()
	cases := []struct {
		q    Query
		want []string
	}{
		// No transport, no port: NAPTR (TCP first by order), then SRV, then A/AAAA.
		{Query{Host: "example.test"}, []string{"tcp:127.0.0.12:5070", "tcp:[::1]:5070"}},
		// Transport given: SRV for it only.
		{Query{Host: "example.test", Proto: msg.UDP}, []string{"udp:127.0.0.11:5060", "udp:127.0.0.12:5080", "udp:[::1]:5080"}},
		// Port given: A/AAAA only, no SRV.
		{Query{Host: "b.example.test", Port: 5099}, []string{"udp:127.0.0.12:5099", "udp:[::1]:5099"}},
		// No NAPTR, no SRV: A on the default port; sips means TLS on 5061.
		{Query{Host: "plain.test"}, []string{"udp:127.0.0.13:5060"}},
		{Query{Host: "plain.test", Secure: true}, []string{"tls:127.0.0.13:5061"}},
		{Query{Host: "alias.example.test", Port: 5062, Proto: msg.TCP}, []string{"tcp:127.0.0.11:5062"}},
		// Literals never query.
		{Query{Host: "[::1]", Proto: msg.TLS}, []string{"tls:[::1]:5061"}},
		{Query{Host: "192.0.2.1", Port: 7000}, []string{"udp:192.0.2.1:7000"}},
	}
	for _, c := range cases {
		got, err := r.Resolve(ctx, c.q)
		if err != nil {
			t.Errorf("%+v: %v", c.q, err)
			continue
		}
		if !eq(addrs(got), c.want) {
			t.Errorf("%+v: got %v want %v", c.q, addrs(got), c.want)
		}
	}
	// Only the transports we have sockets for.
	got, err := r.Resolve(ctx, Query{Host: "example.test", Supported: func(p msg.Proto) bool { return p == msg.UDP }})
	if err != nil || got[0].String() != "udp:127.0.0.11:5060" {
		t.Errorf("supported filter: %v %v", addrs(got), err)
	}
	if _, err := r.Resolve(ctx, Query{Host: "nowhere.test"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown name: %v", err)
	}
}

func TestCacheAndNegativeCache(t *testing.T) {
	stub := dnstest.Start(t, zone...)
	r := newTest(t, stub, nil)
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if _, err := r.Resolve(ctx, Query{Host: "plain.test", Port: 5060}); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Resolve(ctx, Query{Host: "nowhere.test", Port: 5060}); err == nil {
			t.Fatal("nowhere.test resolved")
		}
	}
	if n := stub.Queries("plain.test", "A"); n != 1 {
		t.Errorf("plain.test A asked %d times, want 1 (cached)", n)
	}
	if n := stub.Queries("nowhere.test", "A"); n != 1 {
		t.Errorf("nowhere.test A asked %d times, want 1 (negative cache)", n)
	}
	// A TTL of zero is not cached.
	stub.Set(t, "zero.test. 0 IN A 127.0.0.14")
	for i := 0; i < 2; i++ {
		if _, err := r.Resolve(ctx, Query{Host: "zero.test", Port: 1}); err != nil {
			t.Fatal(err)
		}
	}
	if n := stub.Queries("zero.test", "A"); n != 2 {
		t.Errorf("zero TTL asked %d times, want 2", n)
	}
	r.FlushCache()
	if r.CacheLen() != 0 {
		t.Error("flush left entries")
	}
}

func TestBlocklistOrders(t *testing.T) {
	stub := dnstest.Start(t, zone...)
	r := newTest(t, stub, func(c *Config) { c.TryIPv6 = false })
	ctx := context.Background()
	q := Query{Host: "example.test", Proto: msg.UDP}
	got, _ := r.Resolve(ctx, q)
	if got[0].Addr != netip.MustParseAddrPort("127.0.0.11:5060") {
		t.Fatalf("first %v", addrs(got))
	}
	r.Blocklist().Add(msg.UDP, got[0].Addr)
	got2, _ := r.Resolve(ctx, q)
	if !eq(addrs(got2), []string{"udp:127.0.0.12:5080", "udp:127.0.0.11:5060"}) {
		t.Errorf("blocklisted not last: %v", addrs(got2))
	}
	r.Blocklist().Remove(msg.UDP, got[0].Addr)
	got3, _ := r.Resolve(ctx, q)
	if got3[0].Addr != got[0].Addr {
		t.Errorf("removed entry still last: %v", addrs(got3))
	}
	b := NewBlocklist(20 * time.Millisecond)
	a := netip.MustParseAddrPort("127.0.0.1:1")
	b.Add(msg.TCP, a)
	if !b.Blocked(msg.TCP, a) || b.Blocked(msg.UDP, a) {
		t.Error("blocklist key")
	}
	time.Sleep(40 * time.Millisecond)
	if b.Blocked(msg.TCP, a) {
		t.Error("entry did not expire")
	}
	if NewBlocklist(0).Enabled() {
		t.Error("zero expire enabled")
	}
}

func TestSRVWeights(t *testing.T) {
	stub := dnstest.Start(t,
		"_sip._udp.w.test. 60 IN SRV 10 90 5060 a.example.test.",
		"_sip._udp.w.test. 60 IN SRV 10 10 5060 b.example.test.",
		"_sip._udp.w.test. 60 IN SRV 5 0 5060 c.w.test.",
		"c.w.test. 60 IN A 127.0.0.20",
		"a.example.test. 60 IN A 127.0.0.11",
		"b.example.test. 60 IN A 127.0.0.12",
	)
	r := newTest(t, stub, func(c *Config) { c.TryIPv6 = false })
	first := map[string]int{}
	for i := 0; i < 400; i++ {
		got, err := r.Resolve(context.Background(), Query{Host: "w.test", Proto: msg.UDP})
		if err != nil || len(got) != 3 {
			t.Fatalf("%v %v", addrs(got), err)
		}
		if got[0].Addr.Addr().String() != "127.0.0.20" {
			t.Fatalf("priority 5 not first: %v", addrs(got))
		}
		first[got[1].Addr.Addr().String()]++
	}
	if first["127.0.0.11"] < 300 || first["127.0.0.12"] < 10 {
		t.Errorf("weights 90/10 gave %v", first)
	}
}

func TestServerFailover(t *testing.T) {
	stub := dnstest.Start(t, zone...)
	// The first server does not exist: the query times out there and goes on.
	r := newTest(t, stub, func(c *Config) {
		c.Servers = []string{"127.0.0.1:9", stub.Addr}
		c.Timeout = 200 * time.Millisecond
	})
	got, err := r.Resolve(context.Background(), Query{Host: "plain.test", Port: 5060})
	if err != nil || len(got) != 1 {
		t.Fatalf("%v %v", addrs(got), err)
	}
	if _, err := ServerAddr("not an ip"); err == nil {
		t.Error("bad server accepted")
	}
	if a, _ := ServerAddr("::1"); a != "[::1]:53" {
		t.Errorf("ServerAddr ::1 = %s", a)
	}
}

func TestHostsFile(t *testing.T) {
	dir := t.TempDir()
	hosts := dir + "/hosts"
	if err := os.WriteFile(hosts, []byte("# c\n127.0.0.5 gw.local gw\n::1 gw.local\nbad line\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// No server at all: the hosts file alone answers, without NAPTR/SRV.
	r, err := New(Config{Servers: []string{"127.0.0.1:9"}, HostsFile: hosts, TryNAPTR: true, TryIPv6: true, Timeout: 100 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.Resolve(context.Background(), Query{Host: "GW.local", Proto: msg.TCP})
	if err != nil || !eq(addrs(got), []string{"tcp:127.0.0.5:5060", "tcp:[::1]:5060"}) {
		t.Fatalf("%v %v", addrs(got), err)
	}
}
