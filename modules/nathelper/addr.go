package nathelper

import (
	"net/netip"
	"strings"
)

// Private address ranges nat_uac_test and is_rfc1918 count as "behind a
// NAT", with nat_addr_mode 0: RFC 1918, RFC 6598 (carrier-grade NAT) and the
// RFC 7335 IPv4 service continuity prefix. IPv6 unique local addresses
// (RFC 4193) play the same role for IPv6.
var privateNets = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/29"),
	netip.MustParsePrefix("fc00::/7"),
}

// reservedNets are added with nat_addr_mode 1 (the default): the whole RFC
// 6890 IETF protocol assignments block.
var reservedNets = []netip.Prefix{
	netip.MustParsePrefix("192.0.0.0/24"),
}

// parseHostIP reads an IP literal as it appears in a URI, Via or SDP line:
// IPv6 may be bracketed. A host name is not an address.
func parseHostIP(h string) (netip.Addr, bool) {
	h = strings.TrimSpace(h)
	bracketed := strings.HasPrefix(h, "[")
	if bracketed != strings.HasSuffix(h, "]") {
		return netip.Addr{}, false
	}
	ip, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(h, "["), "]"))
	if err != nil || ip.Zone() != "" || bracketed && ip.Is4() {
		return netip.Addr{}, false
	}
	return ip.Unmap(), true
}

// isPrivate reports whether ip is in the private ranges (plus the reserved
// ones when extra is set).
func isPrivate(ip netip.Addr, extra bool) bool {
	ip = ip.Unmap()
	for _, p := range privateNets {
		if p.Contains(ip) {
			return true
		}
	}
	if extra {
		for _, p := range reservedNets {
			if p.Contains(ip) {
				return true
			}
		}
	}
	return false
}

// isPrivateHost is isPrivate for a textual host; names are never private.
func isPrivateHost(h string, extra bool) bool {
	ip, ok := parseHostIP(h)
	return ok && isPrivate(ip, extra)
}

// isNullAddr reports the "no media here" addresses of SDP (0.0.0.0, ::),
// which a rewrite must keep: they mean hold (RFC 2543), not a NATed host.
func isNullAddr(h string) bool {
	ip, ok := parseHostIP(h)
	return ok && ip.IsUnspecified()
}

// hostText renders an address as a URI host: IPv6 in brackets.
func hostText(ip netip.Addr) string {
	ip = ip.Unmap()
	if ip.Is6() {
		return "[" + ip.String() + "]"
	}
	return ip.String()
}
