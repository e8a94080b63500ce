package permissions

import (
	"net/netip"
	"slices"
	"strings"
)

// addrEntry is one record of the address table: an exact address or a
// subnet (prefix), or a DNS name matched literally (domain).
type addrEntry struct {
	grp    uint32
	prefix netip.Prefix // the zero Prefix for domain entries
	domain string       // lower case; "" for IP entries
	port   uint16       // 0 = any port
	tag    string
	hasTag bool  // tag was not NULL
	seq    int32 // load order, for "first match" semantics
}

// isExact reports an entry with a full-length mask (Kamailio's address
// hash table, as opposed to its subnet table).
func (e *addrEntry) isExact() bool { return e.prefix.Bits() == e.prefix.Addr().BitLen() }

// addrTable is an immutable, loaded address table: IP entries indexed by
// prefix (see prefixIndex), one index per address family, and domain
// entries by name.
type addrTable struct {
	entries []addrEntry
	v4, v6  prefixIndex
	domains map[string]entryList
	// Counts for dumps and logs.
	nExact, nSubnet, nDomain int
}

// entryList is the records of one prefix (or domain), ordered by (group,
// load order), with their groups and ports beside the indexes: a lookup
// searches these small arrays and touches a record only when it matches.
type entryList struct {
	idx  []int32
	grp  []uint32
	port []uint16
}

func newEntryList(idx []int32, entries []addrEntry) entryList {
	slices.SortFunc(idx, func(a, b int32) int { return cmpEntry(&entries[a], &entries[b]) })
	l := entryList{idx: idx, grp: make([]uint32, len(idx)), port: make([]uint16, len(idx))}
	for k, i := range idx {
		l.grp[k], l.port[k] = entries[i].grp, entries[i].port
	}
	return l
}

// first returns the index of the first record in group grp (0: any) whose
// port matches, or -1. Many records can share one prefix (the same subnet
// in many groups), so the group's run is found by binary search.
func (l *entryList) first(port uint16, grp uint32) int32 {
	k := 0
	if grp != 0 {
		k, _ = slices.BinarySearch(l.grp, grp)
	}
	for ; k < len(l.grp); k++ {
		if grp != 0 && l.grp[k] != grp {
			return -1
		}
		if l.port[k] == 0 || l.port[k] == port {
			return l.idx[k]
		}
	}
	return -1
}

// cmpEntry orders entries by group, then load order: the first of a group
// is what Kamailio's group-sorted subnet table finds first.
func cmpEntry(a, b *addrEntry) int {
	switch {
	case a.grp != b.grp:
		if a.grp < b.grp {
			return -1
		}
		return 1
	default:
		return int(a.seq - b.seq)
	}
}

func newAddrTable(entries []addrEntry) *addrTable {
	t := &addrTable{entries: entries, domains: map[string]entryList{}}
	var v4, v6 []int32
	domains := map[string][]int32{}
	for i := range entries {
		e := &entries[i]
		switch {
		case e.domain != "":
			domains[e.domain] = append(domains[e.domain], int32(i))
			t.nDomain++
			continue
		case e.prefix.Addr().Is4():
			v4 = append(v4, int32(i))
		default:
			v6 = append(v6, int32(i))
		}
		if e.isExact() {
			t.nExact++
		} else {
			t.nSubnet++
		}
	}
	t.v4 = buildPrefixIndex(entries, v4)
	t.v6 = buildPrefixIndex(entries, v6)
	for name, idx := range domains {
		t.domains[name] = newEntryList(idx, entries)
	}
	return t
}

// matchIP finds the entry an address and port match, in group grp (0: any
// group). Exact addresses win over subnets, as Kamailio searches its address
// hash table before its subnet table; among subnets the lowest group, then
// the first loaded wins — or, with longest, the longest prefix.
func (t *addrTable) matchIP(ip netip.Addr, port uint16, grp uint32, longest bool) (*addrEntry, bool) {
	ip = ip.Unmap().WithZone("")
	ix := &t.v6
	switch {
	case ip.Is4():
		ix = &t.v4
	case !ip.Is6():
		return nil, false
	}
	var best *addrEntry
	for n := ix.innermost(addrNum(ip)); n >= 0; n = ix.nodes[n].parent {
		node := &ix.nodes[n]
		i := node.entries.first(port, grp)
		if i < 0 {
			continue
		}
		e := &t.entries[i]
		if longest || node.exact {
			return e, true
		}
		if best == nil || cmpEntry(e, best) < 0 {
			best = e
		}
	}
	return best, best != nil
}

// matchDomain matches a name literally (ignoring ASCII case) against the
// domain entries; no DNS lookup is made.
func (t *addrTable) matchDomain(name string, port uint16, grp uint32) (*addrEntry, bool) {
	l := t.domains[strings.ToLower(name)]
	if i := l.first(port, grp); i >= 0 {
		return &t.entries[i], true
	}
	return nil, false
}

// match dispatches on the form of addr: an IP address (IPv6 possibly in
// brackets) is looked up in the prefix tables, anything else as a domain.
func (t *addrTable) match(addr string, port uint16, grp uint32, longest bool) (*addrEntry, bool) {
	if ip, ok := parseIP(addr); ok {
		return t.matchIP(ip, port, grp, longest)
	}
	return t.matchDomain(addr, port, grp)
}

// parseIP reads "1.2.3.4", "2001:db8::1" or "[2001:db8::1]".
func parseIP(s string) (netip.Addr, bool) {
	if len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']' {
		a, err := netip.ParseAddr(s[1 : len(s)-1])
		return a, err == nil && a.Is6() && a.Zone() == ""
	}
	a, err := netip.ParseAddr(s)
	return a, err == nil && a.Zone() == ""
}
