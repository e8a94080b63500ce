package pike

import (
	"net/netip"
	"strings"
)

// parseIP reads the argument of pike_check_ip: an IPv4 or IPv6 address,
// optionally in brackets ("[2001:db8::1]") and with surrounding blanks, as a
// script may take it from a header or $si. A port, a prefix or a zone is
// refused: the argument names one source address.
func parseIP(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if len(s) >= 2 && s[0] == '[' && s[len(s)-1] == ']' {
		s = s[1 : len(s)-1]
	}
	if s == "" || len(s) > 64 || strings.IndexByte(s, '%') >= 0 {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// keyer turns a source address into the key its requests are counted
// under: the address itself, or — for IPv6 with ipv6_prefix_len < 128 — the
// network address of its prefix, so that a host rotating through the
// addresses of its /64 is counted once.
type keyer struct{ v6bits int }

// key normalises a: IPv4-mapped IPv6 becomes IPv4 (a dual-stack socket
// reports IPv4 peers that way), the zone is dropped, and IPv6 is masked.
func (k keyer) key(a netip.Addr) netip.Addr {
	a = a.Unmap().WithZone("")
	if a.Is6() && k.v6bits < 128 {
		p, err := a.Prefix(k.v6bits)
		if err == nil {
			return p.Addr()
		}
	}
	return a
}

// show renders a key for logs and pike.top: the address, or the prefix in
// CIDR notation when IPv6 sources are aggregated (fail2ban's <SUBNET> tag
// matches both forms).
func (k keyer) show(key netip.Addr) string {
	if key.Is6() && k.v6bits < 128 {
		return netip.PrefixFrom(key, k.v6bits).String()
	}
	return key.String()
}
