package dispatcher

import "math/rand/v2"

// Weights are spread over 100 slots, one per percent, shuffled so that a
// destination with weight 20 gets 20 calls out of every 100 without taking
// the first 20 in a row; the Nth call uses slot N mod 100.

// initWeights fills s.wlist from the weight attributes (algorithm 9). As
// in Kamailio the distribution is used only when the first destination has
// a weight; weights past 100 in total are cut, and a total under 100 gives
// the rest to the last destination.
func initWeights(s *set) {
	if len(s.dests) == 0 || s.dests[0].attrs.weight == 0 {
		return
	}
	t := 0
fill:
	for j, d := range s.dests {
		for k := 0; k < d.attrs.weight; k++ {
			if t >= 100 {
				break fill
			}
			s.wlist[t] = uint16(j)
			t++
		}
	}
	for ; t < 100; t++ {
		s.wlist[t] = uint16(len(s.dests) - 1)
	}
	shuffle(&s.wlist)
}

// initRelWeights rebuilds the relative weight distribution (algorithm 11)
// over the destinations that are not inactive or disabled: each gets
// rweight/sum of the slots (truncated), the last active one the rest. It
// runs at load and whenever a destination with an rweight goes down or up.
// s.mu is held (or s is not yet shared).
func initRelWeights(s *set) {
	if len(s.dests) < 2 {
		return
	}
	sum := 0
	for _, d := range s.dests {
		if !skipped(d.state.Load()) {
			sum += d.rw
		}
	}
	if sum == 0 {
		return // keep the previous distribution; selection skips inactive ones
	}
	var list [100]uint16
	t := 0
	for j, d := range s.dests {
		if skipped(d.state.Load()) {
			continue
		}
		for k := 0; k < d.rw*100/sum; k++ {
			list[t] = uint16(j)
			t++
		}
	}
	last := uint16(len(s.dests) - 1)
	if t > 0 {
		last = list[t-1]
	}
	for ; t < 100; t++ {
		list[t] = last
	}
	shuffle(&list)
	s.rwlist.Store(&list)
}

func shuffle(a *[100]uint16) {
	for j := 0; j < 100; j++ {
		k := j + rand.IntN(100-j)
		a[j], a[k] = a[k], a[j]
	}
}
