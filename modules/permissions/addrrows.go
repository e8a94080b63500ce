package permissions

import (
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
)

// addrRow is one address record as a store delivers it (file line or
// database row), before validation. where names it in errors.
type addrRow struct {
	where string
	grp   int64
	addr  string
	mask  int64
	port  int64
	tag   *string // nil = NULL
}

// buildAddrTable validates rows and indexes them. Any bad row fails the
// whole load, naming the row: a table that silently lost entries would
// refuse (or let in) traffic nobody expects. maxSubnets <= 0 means no limit.
func buildAddrTable(rows []addrRow, maxSubnets int) (*addrTable, error) {
	entries := make([]addrEntry, 0, len(rows))
	subnets := 0
	for i, r := range rows {
		e, err := addrEntryFrom(r)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r.where, err)
		}
		e.seq = int32(i)
		if e.domain == "" && !e.isExact() {
			subnets++
			if maxSubnets > 0 && subnets > maxSubnets {
				return nil, fmt.Errorf("%s: more than max_subnets (%d) subnet entries; raise max_subnets", r.where, maxSubnets)
			}
		}
		entries = append(entries, e)
	}
	return newAddrTable(entries), nil
}

func addrEntryFrom(r addrRow) (addrEntry, error) {
	var e addrEntry
	if r.grp < 1 || r.grp > math.MaxUint32 {
		return e, fmt.Errorf("group %d: must be a positive integer", r.grp)
	}
	if r.port < 0 || r.port > 65535 {
		return e, fmt.Errorf("port %d out of range 0-65535", r.port)
	}
	e.grp, e.port = uint32(r.grp), uint16(r.port)
	if r.tag != nil {
		e.tag, e.hasTag = *r.tag, true
	}
	p, dom, err := parseAddrField(strings.TrimSpace(r.addr), r.mask)
	if err != nil {
		return e, err
	}
	e.prefix, e.domain = p, dom
	return e, nil
}

// parseAddrField reads the ip_addr column with its mask: an IPv4 or IPv6
// address (IPv6 optionally in brackets, either optionally in CIDR form when
// the mask is 0 or the same) or else a DNS name. Mask 0 means a single
// address (32 or 128), as in Kamailio; only the CIDR form can say /0 (the
// whole address space). Host bits are cleared.
func parseAddrField(s string, mask int64) (netip.Prefix, string, error) {
	if s == "" {
		return netip.Prefix{}, "", fmt.Errorf("empty address")
	}
	ipPart, bits, cidr := strings.Cut(s, "/")
	if cidr {
		n, err := strconv.Atoi(bits)
		if err != nil || n < 0 {
			return netip.Prefix{}, "", fmt.Errorf("address %q: bad prefix length", s)
		}
		if mask != 0 && int64(n) != mask {
			return netip.Prefix{}, "", fmt.Errorf("address %q: prefix length /%d conflicts with mask %d", s, n, mask)
		}
		s, mask = ipPart, int64(n)
	}
	bracketed := len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']'
	if bracketed {
		s = s[1 : len(s)-1]
	}
	ip, err := netip.ParseAddr(s)
	if err != nil {
		if bracketed || strings.Contains(s, ":") {
			return netip.Prefix{}, "", fmt.Errorf("address %q: not a valid IPv6 address", s)
		}
		if looksNumeric(s) {
			return netip.Prefix{}, "", fmt.Errorf("address %q: not a valid IPv4 address", s)
		}
		if !validDomain(s) {
			return netip.Prefix{}, "", fmt.Errorf("address %q: neither an IP address nor a domain name", s)
		}
		return netip.Prefix{}, strings.ToLower(s), nil
	}
	if ip.Zone() != "" {
		return netip.Prefix{}, "", fmt.Errorf("address %q: zones are not allowed", s)
	}
	if bracketed && !ip.Is6() {
		return netip.Prefix{}, "", fmt.Errorf("address %q: brackets around an IPv4 address", s)
	}
	if ip.Is4In6() && ((mask == 0 && !cidr) || mask >= 96) {
		// An IPv4-mapped entry matches the IPv4 source it stands for.
		ip = ip.Unmap()
		if mask != 0 {
			mask -= 96
		}
	}
	if mask < 0 || mask > int64(ip.BitLen()) {
		return netip.Prefix{}, "", fmt.Errorf("address %q: mask %d out of range 0-%d", s, mask, ip.BitLen())
	}
	if mask == 0 && !cidr {
		mask = int64(ip.BitLen())
	}
	return netip.PrefixFrom(ip, int(mask)).Masked(), "", nil
}

// looksNumeric reports digits and dots only (a mistyped IPv4 address, not
// a name).
func looksNumeric(s string) bool {
	for i := 0; i < len(s); i++ {
		if (s[i] < '0' || s[i] > '9') && s[i] != '.' {
			return false
		}
	}
	return true
}

// validDomain accepts host names: labels of letters, digits, '-' and '_'
// separated by dots, 253 characters at most.
func validDomain(s string) bool {
	if len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(s, "."), ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}
