package secfilter

import (
	"net/netip"
	"testing"

	"go.uber.org/zap"

	"github.com/luasbc/luasbc/core/msg"
	"github.com/luasbc/luasbc/kemi"
)

// FuzzChecks runs every KEMI check on whatever the core parser accepts:
// header extraction (From/To/Contact/User-Agent) must never panic and the
// return codes must stay within Kamailio's sets.
func FuzzChecks(f *testing.F) {
	f.Add([]byte("MESSAGE sip:0900@h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: \"O'Brien\" <sip:sipvicious@evil.example>;tag=1\r\n" +
		"To: <sip:bob@good.example>\r\nCall-ID: c\r\nCSeq: 1 MESSAGE\r\nContact: <sip:trusted@h>, *\r\nUser-Agent: friendly-scanner\r\nContent-Length: 0\r\n\r\n"))
	f.Add([]byte("REGISTER sip:h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK2\r\nFrom: sip:h;tag=1\r\nTo: sip:h\r\nCall-ID: c\r\nCSeq: 1 REGISTER\r\n" +
		"Contact: sip:a@b;expires=0\r\nContent-Length: 0\r\n\r\n"))
	f.Add([]byte("OPTIONS sip:h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK3\r\nFrom: <sip:a%27@h>;tag=1\r\nTo: \"\" <sip:b@h>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n" +
		"Contact: <sip:1;DROP%20TABLE@h\r\nContent-Length: 0\r\n\r\n"))
	l, err := Compile([]Rule{
		{Blacklist, TypeUA, "friendly"}, {Whitelist, TypeUser, "trusted"}, {Blacklist, TypeUser, "sip"},
		{Blacklist, TypeDomain, "evil"}, {Whitelist, TypeDomain, "good"}, {Blacklist, TypeIP, "192.0.2.0/24"},
		{Destination, TypeUA, "09"},
	})
	if err != nil {
		f.Fatal(err)
	}
	s := &SecFilter{log: zap.NewNop()}
	s.lists.Store(l)
	src := netip.MustParseAddrPort("192.0.2.9:5060")
	in := func(rc int, set ...int) bool {
		for _, v := range set {
			if rc == v {
				return true
			}
		}
		return false
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := msg.Parse(data, src, nil, msg.UDP)
		if err != nil {
			return
		}
		c := &kemi.Ctx{M: m, Log: zap.NewNop()}
		if rc := s.checkIP(c); !in(rc, 2, 1, -2) {
			t.Fatalf("secf_check_ip %d", rc)
		}
		if rc := s.checkUA(c); !in(rc, 2, 1, -2) {
			t.Fatalf("secf_check_ua %d", rc)
		}
		for _, p := range []*part{partFrom, partTo} {
			if rc := s.checkParty(c, p); !in(rc, 4, 3, 2, 1, -1, -2, -3, -4) {
				t.Fatalf("secf_check_%s_hdr %d", p.name, rc)
			}
		}
		if rc := s.checkParty(c, partContact); !in(rc, 3, 2, 1, -1, -2, -3) {
			t.Fatalf("secf_check_contact_hdr %d", rc)
		}
		if rc := s.checkSQLiAll(c); !in(rc, 1, 0) {
			t.Fatalf("secf_check_sqli_all %d", rc)
		}
		if m.Req != nil {
			if rc := s.checkDst(c, m.Req.Recipient.User); !in(rc, 1, -2) {
				t.Fatalf("secf_check_dst %d", rc)
			}
		}
	})
}
