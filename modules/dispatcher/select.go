package dispatcher

import (
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
)

// Selection algorithms (the alg argument of ds_select*).
const (
	algCallID     = 0  // hash of the Call-ID
	algFrom       = 1  // hash of the From URI
	algTo         = 2  // hash of the To URI
	algRURI       = 3  // hash of the Request-URI
	algRoundRobin = 4  // next destination in turn
	algAuthUser   = 5  // hash of the authentication user, round robin without credentials
	algRandom     = 6  // random
	algPV         = 7  // hash of hash_pvar
	algPriority   = 8  // first by priority
	algWeight     = 9  // weight attribute, percent of calls
	algCallLoad   = 10 // least active calls (duid, maxload)
	algRelWeight  = 11 // rweight attribute, relative to the active destinations
	algParallel   = 12 // every active destination at once
	algLatency    = 13 // round robin among the best priority adjusted by latency
	algOverload   = 64 // round robin with overload control (no KEMI sets a rate: plain round robin)
)

// keySource gives the algorithms what they hash from the message.
type keySource interface {
	callID() string
	// uriKeys returns the hash keys of the From (1), To (2) or current
	// Request-URI (3); ok is false when that URI is missing or unparsable.
	uriKeys(alg int) (x, y string, hasY, ok bool)
	// authUser is the user of the Proxy-Authorization or Authorization
	// credentials.
	authUser() (string, bool)
	// pvText is hash_pvar expanded for the message.
	pvText() (string, bool)
	isInvite() bool
}

// rec is one entry of the failover list.
type rec struct {
	d    *dest
	load bool // the call's load is accounted to d (algorithm 10)
}

// selection is the outcome of one ds_select*.
type selection struct {
	first    *dest
	recs     []rec   // failover list starting with first (only first without failover)
	branches []*dest // algorithm 12: the other destinations, rung in parallel with first
}

var (
	errNoSet    = errors.New("destination set not found")
	errNoDest   = errors.New("no active destination in the set")
	errNoKey    = errors.New("the message lacks what the algorithm hashes")
	errNoLoadID = errors.New("no call-load id")
)

// choose runs algorithm alg over s. limit bounds the failover list
// (first included), 0 or less means no bound.
func (d *Dispatcher) choose(s *set, alg, limit int, ks keySource) (selection, error) {
	n := len(s.dests)
	if n == 0 {
		return selection{}, errNoDest
	}
	if alg == algLatency {
		return d.chooseLatency(s, limit)
	}
	mod := n
	if d.cfg.useDefault && n != 1 {
		mod = n - 1 // the last destination is the default: not in the rotation
	}
	var h uint32
	rr, vlast := false, uint32(0)
	switch alg {
	case algCallID:
		h = hashStrings(strings.TrimSpace(ks.callID()), "", false)
	case algFrom, algTo, algRURI:
		x, y, hasY, ok := ks.uriKeys(alg)
		if !ok {
			return selection{}, errNoKey
		}
		h = hashStrings(x, y, hasY)
	case algRoundRobin, algOverload:
		h, vlast = s.nextRR(n)
		rr = true
	case algAuthUser:
		if u, ok := ks.authUser(); ok && strings.TrimSpace(u) != "" {
			h = hashStrings(strings.TrimSpace(u), "", false)
		} else {
			h, vlast = s.nextRR(n)
			rr = true
		}
	case algRandom:
		h = rand.Uint32()
	case algPV:
		t, ok := ks.pvText()
		t = strings.TrimSpace(t)
		if !ok || t == "" {
			return selection{}, errNoKey
		}
		h = hashStrings(t, "", false)
	case algPriority, algParallel:
		h = 0
	case algWeight:
		h = uint32(s.wlist[(s.wlast.Add(1)-1)%100])
	case algCallLoad:
		if !ks.isInvite() {
			// Only an INVITE starts a call: other requests take the first entry.
			alg, h = algCallID, 0
			break
		}
		i := leastLoaded(s)
		if i < 0 {
			return selection{}, errNoDest
		}
		h = uint32(i)
		if d.loads == nil || !d.loads.add(ks.callID(), s.dests[i]) {
			alg = algCallID // load not tracked: classic dispatching from here
		}
	case algRelWeight:
		if rw := s.rwlist.Load(); rw != nil {
			h = uint32(rw[(s.rwlast.Add(1)-1)%100])
		}
	default:
		d.warnOnce("alg", "algorithm not implemented, using the first destination", alg)
		h = 0
	}
	i := int(h % uint32(mod))
	for start := i; skipped(s.dests[i].state.Load()); {
		i = (i + 1) % mod
		if i == start {
			if !d.cfg.useDefault {
				return selection{}, errNoDest
			}
			i = n - 1
			if skipped(s.dests[i].state.Load()) {
				return selection{}, errNoDest
			}
			break
		}
	}
	// The next turn starts after the destination used, unless another
	// request moved the position meanwhile.
	if rr {
		s.last.CompareAndSwap(vlast, uint32((i+1)%n))
	}
	sel := selection{first: s.dests[i]}
	if alg == algParallel {
		sel.branches = make([]*dest, 0, n-i-1)
		for j := i + 1; j < n; j++ {
			if !skipped(s.dests[j].state.Load()) {
				sel.branches = append(sel.branches, s.dests[j])
			}
		}
		return sel, nil
	}
	sel.recs = d.failoverList(s, i, alg, limit)
	return sel, nil
}

// nextRR advances the round-robin position and returns the one taken and
// the one left.
func (s *set) nextRR(n int) (uint32, uint32) {
	for {
		cur := s.last.Load()
		next := (cur + 1) % uint32(n)
		if s.last.CompareAndSwap(cur, next) {
			return cur, next
		}
	}
}

// leastLoaded is the active destination with the fewest calls and room
// under its maxload, -1 if none.
func leastLoaded(s *set) int {
	k, best := -1, int64(1<<62)
	for j, dd := range s.dests {
		if skipped(dd.state.Load()) {
			continue
		}
		l := dd.calls()
		if dd.attrs.maxload != 0 && l >= int64(dd.attrs.maxload) {
			continue
		}
		if l < best {
			k, best = j, l
		}
	}
	return k
}

// calls is the number of active calls accounted to d.
func (d *dest) calls() int64 {
	if d.load == nil {
		return 0
	}
	return d.load.Load()
}

// failoverList is the selected destination followed, with failover on
// (flags bit 2), by the other usable ones in set order from the selected
// one on, then the default destination, at most limit in all.
func (d *Dispatcher) failoverList(s *set, i, alg, limit int) []rec {
	load := alg == algCallLoad
	if !d.cfg.failover {
		return []rec{{d: s.dests[i], load: load}}
	}
	n := len(s.dests)
	size := n
	if limit > 0 && limit < n {
		size = limit
	}
	recs := make([]rec, 1, size)
	recs[0] = rec{d: s.dests[i], load: load}
	full := func() bool { return limit > 0 && len(recs) >= limit }
	try := func(j int) {
		dj := s.dests[j]
		switch {
		case skipped(dj.state.Load()),
			d.cfg.useDefault && j == n-1,
			load && (dj.attrs.duid == "" || dj.attrs.maxload != 0 && dj.calls() >= int64(dj.attrs.maxload)):
			return
		}
		recs = append(recs, rec{d: dj, load: load})
	}
	for j := i + 1; j < n && !full(); j++ {
		try(j)
	}
	for j := 0; j < i && !full(); j++ {
		try(j)
	}
	if d.cfg.useDefault && i != n-1 && !full() {
		recs = append(recs, rec{d: s.dests[n-1], load: load && s.dests[n-1].attrs.duid != ""})
	}
	return recs
}

// chooseLatency is algorithm 13: starting at the round-robin position, the
// active destinations are ranked by priority lowered by latency (one point
// for every priority-sized step of the estimated latency, or of the
// congestion with cc=1, never below 1), highest first; the best is used and
// the ranking is the failover list.
func (d *Dispatcher) chooseLatency(s *set, limit int) (selection, error) {
	n := len(s.dests)
	mod := n
	if d.cfg.useDefault && n != 1 {
		mod = n - 1
	}
	type cand struct{ idx, prio int }
	var cands []cand // the ranking, only needed for the failover list
	if d.cfg.failover {
		cands = make([]cand, 0, mod)
	}
	best := cand{idx: -1}
	s.mu.Lock()
	z := int(s.last.Load()) % mod
	for y := 0; y < mod; y, z = y+1, (z+1)%mod {
		dd := s.dests[z]
		if skipped(dd.state.Load()) {
			continue
		}
		prio := dd.priority
		lat := int(dd.lat.est)
		if dd.attrs.cc != 0 {
			lat = dd.lat.congestion()
		}
		adj := prio
		if lat > prio && prio > 0 {
			adj = prio - lat/prio
		}
		if adj < 1 && prio > 0 {
			adj = 1
		}
		if best.idx < 0 || adj > best.prio {
			best = cand{z, adj} // the first of the highest in rotation order
		}
		if cands != nil {
			cands = append(cands, cand{z, adj})
		}
	}
	if best.idx < 0 {
		s.last.Store(0)
		s.mu.Unlock()
		return selection{}, errNoDest
	}
	s.last.Store(uint32((best.idx + 1) % n))
	s.mu.Unlock()
	sel := selection{first: s.dests[best.idx], recs: []rec{{d: s.dests[best.idx]}}}
	if !d.cfg.failover {
		return sel, nil
	}
	if limit > 0 && limit < len(cands) {
		// The best few only: a partial (stable) selection instead of a sort.
		for k := 0; k < limit; k++ {
			b := k
			for j := k + 1; j < len(cands); j++ {
				if cands[j].prio > cands[b].prio {
					b = j
				}
			}
			c := cands[b]
			copy(cands[k+1:b+1], cands[k:b])
			cands[k] = c
		}
		cands = cands[:limit]
	} else {
		slices.SortStableFunc(cands, func(a, b cand) int { return b.prio - a.prio })
	}
	for _, c := range cands[1:] {
		if limit > 0 && len(sel.recs) >= limit {
			break
		}
		sel.recs = append(sel.recs, rec{d: s.dests[c.idx]})
	}
	if d.cfg.useDefault && best.idx != n-1 && (limit <= 0 || len(sel.recs) < limit) {
		sel.recs = append(sel.recs, rec{d: s.dests[n-1]})
	}
	return sel, nil
}
