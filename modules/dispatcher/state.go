package dispatcher

// Destination states move as in Kamailio's dispatcher:
//
//	A active      selected; probed in probing mode 1
//	T trying      still selected, but it failed lately: each failure counts,
//	              at ds_probing_threshold it becomes inactive
//	I inactive    not selected; with P it is pinged, and ds_inactive_threshold
//	              successful pings in a row bring it back to active
//	D disabled    set by the administrator: not selected, not pinged, and
//	              pings in flight do not change it
//	P probing     (with A, T or I) pinged every ds_ping_interval
//
// A failure of an inactive destination keeps it inactive (it has to come
// back through active before it can be trying again) and restarts its
// success count. dispatcher:dst-down runs when a destination stops being
// selectable (to I or D), dispatcher:dst-up when it becomes selectable again.

// origin says who reports a state change: keepalives apply both
// thresholds; the script's ds_mark_dst applies the failure threshold to
// "t" but brings a destination up at once.
type origin uint8

const (
	fromPing origin = iota
	fromScript
)

// rctx describes why a state changed, for the event callback ($dsv).
type rctx struct {
	code   int
	reason string
	flags  int // 1: code and reason come from a received reply
	setid  int
	uri    string
}

// event is a transition to report to the event callback.
type event struct {
	name string // dispatcher:dst-down or dispatcher:dst-up
	rc   rctx
}

// updateState applies a new state (state bits) to dd as reported by o.
// s.mu is held. It returns the event to run once the lock is released, or
// nil.
func (d *Dispatcher) updateState(s *set, dd *dest, state int, o origin, rc rctx) *event {
	old := dd.state.Load()
	requested := state
	if state&flagTrying != 0 && old&flagInactive != 0 {
		// Inactive stays inactive: it has to be active before trying.
		state = state&^flagTrying | flagInactive
	}
	var ns uint32
	if state&flagDisabled != 0 {
		ns = flagDisabled
	} else {
		ns = uint32(state & stateBits)
	}
	switch {
	case state&flagTrying != 0:
		dd.probingCount++
		if dd.probingCount >= d.cfg.probingThreshold {
			ns = ns&^flagTrying | flagInactive
			dd.probingCount = 0
		}
	case requested&flagTrying == 0 && old&flagInactive != 0:
		// An inactive destination that answers: count successes.
		dd.probingCount++
		if o == fromPing && dd.probingCount < d.cfg.inactiveThreshold {
			ns |= flagInactive
			if old&flagProbing != 0 {
				ns |= flagProbing
			}
		} else {
			dd.probingCount = 0
		}
	default:
		dd.probingCount = 0
	}
	dd.state.Store(ns)
	if dd.rw > 0 && skipped(old) != skipped(ns) {
		initRelWeights(s)
	}
	switch {
	case !skipped(old) && skipped(ns):
		return &event{name: "dispatcher:dst-down", rc: rc}
	case skipped(old) && !skipped(ns):
		return &event{name: "dispatcher:dst-up", rc: rc}
	}
	return nil
}

// setState is the administrator's change (dispatcher.set_state): the state
// is taken as given, counters restart, no event runs (as in Kamailio).
// s.mu is held.
func setState(s *set, dd *dest, state int) {
	old := dd.state.Load()
	ns := uint32(state & stateBits)
	if state&flagDisabled != 0 {
		ns = flagDisabled
	}
	dd.state.Store(ns)
	dd.probingCount = 0
	if dd.rw > 0 && skipped(old) != skipped(ns) {
		initRelWeights(s)
	}
}
