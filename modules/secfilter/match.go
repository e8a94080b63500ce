package secfilter

import (
	"net/netip"
	"slices"
)

// prefixSet answers "is some entry a prefix of this value", ignoring ASCII
// case, as Kamailio's list walk with cmpi_str does — but with one map lookup
// per distinct entry length instead of one comparison per entry, so a list of
// thousands of scanner names costs a handful of lookups per message.
type prefixSet struct {
	keys map[string]struct{} // lower-cased entries
	lens []int               // distinct entry lengths, ascending
}

func (p *prefixSet) add(entry string) {
	if p.keys == nil {
		p.keys = map[string]struct{}{}
	}
	k := asciiLower(entry)
	if _, dup := p.keys[k]; dup {
		return
	}
	p.keys[k] = struct{}{}
	if i, found := slices.BinarySearch(p.lens, len(k)); !found {
		p.lens = slices.Insert(p.lens, i, len(k))
	}
}

// hasPrefixOf reports whether an entry is a case-insensitive prefix of v.
func (p *prefixSet) hasPrefixOf(v string) bool {
	if len(p.lens) == 0 || len(v) < p.lens[0] {
		return false
	}
	lv := asciiLower(v)
	for _, n := range p.lens {
		if n > len(lv) {
			return false
		}
		if _, ok := p.keys[lv[:n]]; ok {
			return true
		}
	}
	return false
}

// has reports whether v equals an entry, ignoring ASCII case.
func (p *prefixSet) has(v string) bool {
	if len(p.keys) == 0 {
		return false
	}
	_, ok := p.keys[asciiLower(v)]
	return ok
}

// ipSet matches a source address against exact addresses, CIDR networks and
// Kamailio-style text prefixes ("192.168.1."). Networks are grouped by
// prefix length: one masked lookup per distinct length.
type ipSet struct {
	addrs map[netip.Addr]struct{}
	nets  map[netip.Prefix]struct{}
	bits4 []int // distinct IPv4 prefix lengths
	bits6 []int // distinct IPv6 prefix lengths
	text  prefixSet
}

func (s *ipSet) add(e ipEntry) {
	switch {
	case e.addr.IsValid():
		if s.addrs == nil {
			s.addrs = map[netip.Addr]struct{}{}
		}
		s.addrs[e.addr] = struct{}{}
	case e.prefix.IsValid():
		if s.nets == nil {
			s.nets = map[netip.Prefix]struct{}{}
		}
		s.nets[e.prefix] = struct{}{}
		bits := &s.bits6
		if e.prefix.Addr().Is4() {
			bits = &s.bits4
		}
		if i, found := slices.BinarySearch(*bits, e.prefix.Bits()); !found {
			*bits = slices.Insert(*bits, i, e.prefix.Bits())
		}
	default:
		s.text.add(e.text)
	}
}

func (s *ipSet) match(a netip.Addr) bool {
	a = a.Unmap()
	if _, ok := s.addrs[a]; ok {
		return true
	}
	bits := s.bits6
	if a.Is4() {
		bits = s.bits4
	}
	for _, b := range bits {
		if p, err := a.Prefix(b); err == nil {
			if _, ok := s.nets[p]; ok {
				return true
			}
		}
	}
	return len(s.text.lens) > 0 && s.text.hasPrefixOf(a.WithZone("").String())
}

// asciiLower lower-cases ASCII letters only (strncasecmp in the C locale),
// without allocating when there is nothing to change.
func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if c := b[j]; c >= 'A' && c <= 'Z' {
					b[j] = c + 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}
