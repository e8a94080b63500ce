package pike

import "math"

// Return codes of pike_check_req / pike_check_ip (Kamailio's).
const (
	rcAllowed      = 1  // not blocked (also on internal errors)
	rcBlocked      = -1 // a source already detected as flooding
	rcNewlyBlocked = -2 // detected as flooding with this request
)

// entry is what is kept per source: the hits of the current sampling unit
// and of the one before it (Kamailio's leaf_hits[CURR] and [PREV]), the
// "red" mark, and the time of the last request for expiry.
//
// Kamailio swaps curr into prev for every node at each sampling unit from a
// timer. Here the swap is done lazily — whoever touches the entry first in a
// new unit (a request or the sweeper) rolls it — which gives the same
// counts, because units are numbered from a fixed origin like the timer's.
type entry struct {
	last       int64  // clock reading (ns) of the last request
	unit       uint32 // the sampling unit curr counts
	prev, curr uint32
	red        bool // detected as flooding and not yet released
}

// roll brings the counters to unit u: one unit later curr becomes prev,
// two or more units later both are zero.
func (e *entry) roll(u uint32) {
	if u <= e.unit {
		return
	}
	if u == e.unit+1 {
		e.prev = e.curr
	} else {
		e.prev = 0
	}
	e.curr = 0
	e.unit = u
}

// hot is Kamailio's test for a red leaf — the previous unit, the current
// one, or their average over the limit — with "over" meaning more than
// reqs_density_per_unit requests. (The average can never be over when
// neither unit is, so two comparisons suffice.)
func (e *entry) hot(limit uint32) bool { return e.prev > limit || e.curr > limit }

// hit counts one request and returns the return code, and whether this hit
// found the entry red but no longer flooding (released in passing).
//
// An entry stays red while it keeps flooding: every request of a red
// source is still counted, so a source that does not slow down stays over
// the limit unit after unit. It is released at the first unit whose
// previous unit was not over the limit, i.e. one to two units after it
// stopped or slowed down.
func (e *entry) hit(now int64, u uint32, limit uint32) (rc int, released bool) {
	e.roll(u)
	if e.red && !e.hot(limit) {
		e.red, released = false, true
	}
	if e.curr < math.MaxUint32 {
		e.curr++
	}
	e.last = now
	switch {
	case !e.hot(limit):
		return rcAllowed, released
	case e.red:
		return rcBlocked, released
	}
	e.red = true
	return rcNewlyBlocked, released
}

// status is the pike.top state: HOT (over the limit), WARM (at least a
// quarter of the limit in one of the two units), or "" as Kamailio prints
// for the others.
func (e *entry) status(limit uint32) string {
	if e.hot(limit) {
		return statusHot
	}
	if w := max(limit/4, 1); e.prev >= w || e.curr >= w {
		return statusWarm
	}
	return ""
}

const (
	statusHot  = "HOT"
	statusWarm = "WARM"
)
