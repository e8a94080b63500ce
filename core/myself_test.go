package core

import (
	"net/netip"
	"testing"

	"go.uber.org/zap"

	"github.com/luasbc/luasbc/core/config"
)

func TestIsMyselfAliasesAndPorts(t *testing.T) {
	cfg, err := config.Parse([]byte(`
listen: ["udp:127.0.0.1:5070", "tcp:[::1]:5070"]
alias: ["sbc.example.com", "pbx.example.com:5080", "tls:edge.example.com:5061", "[2001:db8::1]:5090"]
`), ".")
	if err != nil {
		t.Fatal(err)
	}
	c := New(cfg, zap.NewNop())
	c.myIPs = map[netip.Addr]bool{netip.MustParseAddr("127.0.0.1"): true, netip.MustParseAddr("::1"): true}
	c.ports = map[int]bool{5070: true}
	for _, tc := range []struct {
		uri  string
		want bool
	}{
		{"sip:127.0.0.1:5070", true},
		{"sip:127.0.0.1:5071", false},
		{"sip:127.0.0.1", false}, // default port 5060 is not ours
		{"sip:[::1]:5070", true},
		{"sip:127.0.0.2:5070", false},
		{"sip:sbc.example.com", true},
		{"sip:SBC.Example.COM:7000", true}, // alias without port: any port
		{"sip:pbx.example.com:5080", true},
		{"sip:pbx.example.com:5070", false}, // alias with a port: that port only
		{"sip:pbx.example.com", true},       // no port in the URI: Kamailio matches the alias
		{"sip:edge.example.com:5061", true},
		{"sip:edge.example.com:5062", false},
		{"sip:[2001:db8::1]:5090", true},
		{"sip:[2001:db8::1]:5091", false},
		{"sip:other.example.com", false},
		{"pbx.example.com:5080", true},
		{"pbx.example.com:5081", false},
		{"sbc.example.com", true},
	} {
		if got := c.IsMyselfURI(tc.uri); got != tc.want {
			t.Errorf("IsMyselfURI(%q) = %v, want %v", tc.uri, got, tc.want)
		}
	}
}
