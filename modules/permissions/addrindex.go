package permissions

import (
	"net/netip"
	"slices"
)

// prefixIndex finds, for an address, the prefixes of a table that contain
// it. IP prefixes never overlap partially — two are either nested or
// disjoint — so the address space splits into segments, each with one
// innermost prefix, and every prefix containing that one is reached through
// parent links. A lookup is a binary search over the segment starts plus a
// walk up at most 33 (IPv4) or 129 (IPv6) nested prefixes; memory is linear
// in the number of distinct prefixes.
type prefixIndex struct {
	starts []u128  // segment starts, ascending
	inner  []int32 // innermost node of each segment, -1 for none
	nodes  []prefixNode
	// For IPv4, the starts as 32-bit numbers and, per value of the top 16
	// address bits, the first segment starting in that block: a lookup
	// searches one block, not the whole table.
	starts4 []uint32
	block   []int32
}

// prefixNode is one distinct prefix and the entries that have it, ordered
// by (group, load order).
type prefixNode struct {
	lo, hi  u128
	bits    int
	exact   bool
	parent  int32 // enclosing prefix, -1 for none
	entries entryList
}

// u128 is an address as a number (IPv4 in the low bits).
type u128 struct{ hi, lo uint64 }

func (a u128) cmp(b u128) int {
	switch {
	case a.hi < b.hi:
		return -1
	case a.hi > b.hi:
		return 1
	case a.lo < b.lo:
		return -1
	case a.lo > b.lo:
		return 1
	}
	return 0
}

func (a u128) inc() u128 {
	if a.lo == ^uint64(0) {
		return u128{a.hi + 1, 0}
	}
	return u128{a.hi, a.lo + 1}
}

func addrNum(a netip.Addr) u128 {
	if a.Is4() {
		b := a.As4()
		return u128{0, uint64(b[0])<<24 | uint64(b[1])<<16 | uint64(b[2])<<8 | uint64(b[3])}
	}
	b := a.As16()
	var n u128
	for i := 0; i < 8; i++ {
		n.hi = n.hi<<8 | uint64(b[i])
		n.lo = n.lo<<8 | uint64(b[i+8])
	}
	return n
}

// prefixRange is the first and last address of a (masked) prefix.
func prefixRange(p netip.Prefix) (lo, hi u128) {
	lo = addrNum(p.Addr())
	host := p.Addr().BitLen() - p.Bits() // bits that vary
	hi = lo
	switch {
	case host >= 128:
		hi = u128{^uint64(0), ^uint64(0)}
	case host > 64:
		hi.lo = ^uint64(0)
		hi.hi |= 1<<(host-64) - 1
	case host == 64:
		hi.lo = ^uint64(0)
	case host > 0:
		hi.lo |= 1<<host - 1
	}
	return lo, hi
}

// buildPrefixIndex indexes the entries at idx (all of one address family).
func buildPrefixIndex(entries []addrEntry, idx []int32) prefixIndex {
	var ix prefixIndex
	byPrefix := map[netip.Prefix]int32{}
	var lists [][]int32
	for _, i := range idx {
		p := entries[i].prefix
		n, ok := byPrefix[p]
		if !ok {
			lo, hi := prefixRange(p)
			n = int32(len(ix.nodes))
			byPrefix[p] = n
			ix.nodes = append(ix.nodes, prefixNode{lo: lo, hi: hi, bits: p.Bits(), exact: p.Bits() == p.Addr().BitLen(), parent: -1})
			lists = append(lists, nil)
		}
		lists[n] = append(lists[n], i)
	}
	for k := range ix.nodes {
		ix.nodes[k].entries = newEntryList(lists[k], entries)
	}
	// Enclosing prefixes first, then left to right.
	slices.SortFunc(ix.nodes, func(a, b prefixNode) int {
		if c := a.lo.cmp(b.lo); c != 0 {
			return c
		}
		return a.bits - b.bits
	})
	is4 := len(idx) > 0 && entries[idx[0]].prefix.Addr().Is4()
	last := u128{^uint64(0), ^uint64(0)}
	if is4 {
		last = u128{0, 1<<32 - 1}
	}
	ix.sweep(last)
	if is4 {
		ix.buildBlocks()
	}
	return ix
}

// buildBlocks fills starts4 and block (IPv4 only).
func (ix *prefixIndex) buildBlocks() {
	ix.starts4 = make([]uint32, len(ix.starts))
	for i, s := range ix.starts {
		ix.starts4[i] = uint32(s.lo)
	}
	ix.block = make([]int32, 1<<16+1)
	i := 0
	for b := range 1 << 16 {
		for i < len(ix.starts4) && ix.starts4[i]>>16 < uint32(b) {
			i++
		}
		ix.block[b] = int32(i)
	}
	ix.block[1<<16] = int32(len(ix.starts4))
}

// sweep links each node to its enclosing one and cuts the space into
// segments, keeping a stack of the prefixes open at the current point. last
// is the highest address of the family: nothing starts after it.
func (ix *prefixIndex) sweep(last u128) {
	var stack []int32
	emit := func(at u128, node int32) {
		if n := len(ix.starts); n > 0 && ix.starts[n-1] == at {
			ix.inner[n-1] = node // a later event at the same point wins
			return
		}
		if n := len(ix.inner); n > 0 && ix.inner[n-1] == node {
			return // the same innermost prefix continues
		}
		ix.starts = append(ix.starts, at)
		ix.inner = append(ix.inner, node)
	}
	top := func() int32 {
		if len(stack) == 0 {
			return -1
		}
		return stack[len(stack)-1]
	}
	// closeBefore pops the prefixes that end before addr, starting a
	// segment of the enclosing prefix after each.
	closeBefore := func(addr u128, all bool) {
		for len(stack) > 0 {
			t := &ix.nodes[top()]
			if !all && t.hi.cmp(addr) >= 0 {
				return
			}
			stack = stack[:len(stack)-1]
			if t.hi != last {
				emit(t.hi.inc(), top())
			}
		}
	}
	for k := range ix.nodes {
		n := &ix.nodes[k]
		closeBefore(n.lo, false)
		n.parent = top()
		stack = append(stack, int32(k))
		emit(n.lo, int32(k))
	}
	closeBefore(u128{}, true)
}

// innermost returns the innermost node containing a, or -1: the node of
// the last segment starting at or before a.
func (ix *prefixIndex) innermost(a u128) int32 {
	var i int // number of segments starting at or before a
	if ix.block != nil {
		v := uint32(a.lo)
		lo, hi := int(ix.block[v>>16]), int(ix.block[v>>16+1])
		for lo < hi {
			m := int(uint(lo+hi) >> 1)
			if ix.starts4[m] <= v {
				lo = m + 1
			} else {
				hi = m
			}
		}
		i = lo
	} else {
		lo, hi := 0, len(ix.starts)
		for lo < hi {
			m := int(uint(lo+hi) >> 1)
			if ix.starts[m].cmp(a) <= 0 {
				lo = m + 1
			} else {
				hi = m
			}
		}
		i = lo
	}
	if i == 0 {
		return -1
	}
	return ix.inner[i-1]
}
