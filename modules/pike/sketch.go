package pike

import (
	"sync"
	"sync/atomic"
)

// The overflow sketch: when the table of tracked sources is full (a flood
// from spoofed addresses fills it with sources sending one request each),
// the sources that find no room are still checked, by a count-min sketch
// per sampling unit. A count-min sketch never under-counts, so a real flood
// from an untracked source is still detected; it may over-count when very
// many distinct sources share its cells, which with 4 rows of 65536 cells
// stays negligible up to some hundreds of thousands of distinct sources
// per unit. Its memory is fixed (three 1 MiB generations: the current unit,
// the previous one, and the one being replaced) and only allocated while
// the table overflows.
//
// The alternative, one shared counter for all untracked sources, would
// block every new legitimate source as soon as the spoofed flood passes the
// limit — exactly what the attacker wants.
const (
	skRows  = 4
	skWidth = 1 << 16
)

// skGen holds the counts of one sampling unit.
type skGen struct {
	unit  uint32
	cells [skRows * skWidth]atomic.Uint32
}

type sketch struct {
	limit uint32
	seed  uint64
	mu    sync.Mutex // only to install a new generation
	gens  [3]atomic.Pointer[skGen]
}

func newSketch(limit uint32) *sketch { return &sketch{limit: limit, seed: newSeed()} }

// cells returns the index of key's cell in each row (double hashing).
func (s *sketch) cells(key mapKey) [skRows]uint32 {
	h := key.hash(s.seed)
	h1, h2 := uint32(h), uint32(h>>32)|1
	var idx [skRows]uint32
	for i := range idx {
		idx[i] = uint32(i)*skWidth + (h1+uint32(i)*h2)%skWidth
	}
	return idx
}

// gen returns the generation of unit u, installing a fresh one when create
// is set. Writers late by three units would count into a replaced
// generation, which only loses those counts.
func (s *sketch) gen(u uint32, create bool) *skGen {
	p := &s.gens[u%3]
	if g := p.Load(); g != nil && g.unit == u {
		return g
	}
	if !create {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if g := p.Load(); g != nil && g.unit == u {
		return g
	}
	g := &skGen{unit: u}
	p.Store(g)
	return g
}

// check counts one request of key in unit u and returns the return code and
// the estimated hits of the unit. The "red" state is derived from the
// estimates: red iff the previous or the current unit is over the limit;
// newly red when this request takes the current unit over it.
func (s *sketch) check(key mapKey, u uint32) (rc int, hits uint32) {
	idx := s.cells(key)
	var prev uint32
	if u > 0 {
		if g := s.gen(u-1, false); g != nil {
			prev = g.estimate(idx)
		}
	}
	g := s.gen(u, true)
	after := ^uint32(0)
	for _, i := range idx {
		after = min(after, g.cells[i].Add(1))
	}
	before := after - 1
	switch {
	case prev > s.limit || before > s.limit:
		return rcBlocked, after
	case after > s.limit:
		return rcNewlyBlocked, after
	}
	return rcAllowed, after
}

func (g *skGen) estimate(idx [skRows]uint32) uint32 {
	est := ^uint32(0)
	for _, i := range idx {
		est = min(est, g.cells[i].Load())
	}
	return est
}

// trim drops generations older than the previous unit, so the memory goes
// back once the table stops overflowing.
func (s *sketch) trim(u uint32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.gens {
		if g := s.gens[i].Load(); g != nil && g.unit+1 < u {
			s.gens[i].Store(nil)
		}
	}
}

// active reports whether any generation is allocated.
func (s *sketch) active() bool {
	for i := range s.gens {
		if s.gens[i].Load() != nil {
			return true
		}
	}
	return false
}
