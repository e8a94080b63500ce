package dispatcher

import (
	"net/netip"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/luasbc/luasbc/core/msg"
)

// Destination flags, with Kamailio's bit values: the list file and the
// database flags column use them, and the low four bits are also the
// runtime state.
const (
	flagInactive = 1  // I: not selected; pinged when probing
	flagTrying   = 2  // T: selected, but failed lately (counting towards inactive)
	flagDisabled = 4  // D: set by the administrator: not selected, not pinged
	flagProbing  = 8  // P: pinged with OPTIONS
	flagNoDNS    = 16 // hostname not resolved at load: not matched, not pinged
	flagNoPing   = 32 // never pinged

	stateBits = flagInactive | flagTrying | flagDisabled | flagProbing
)

// skipped reports whether a destination in state st is left out of
// selection (inactive or disabled), Kamailio's ds_skip_dst.
func skipped(st uint32) bool { return st&(flagInactive|flagDisabled) != 0 }

// stateLetters renders a state as dispatcher.list shows it: A/I/T/D then
// P (probing), N (no ping) or X.
func stateLetters(st uint32) string {
	var b [2]byte
	switch {
	case st&flagInactive != 0:
		b[0] = 'I'
	case st&flagDisabled != 0:
		b[0] = 'D'
	case st&flagTrying != 0:
		b[0] = 'T'
	default:
		b[0] = 'A'
	}
	switch {
	case st&flagProbing != 0:
		b[1] = 'P'
	case st&flagNoPing != 0:
		b[1] = 'N'
	default:
		b[1] = 'X'
	}
	return string(b[:])
}

// parseState reads a state string of ds_mark_dst_state: a (active, clears
// everything), i, t, d, plus p (probing), in any case and combination. It
// returns -1 for any other character.
func parseState(s string) int {
	st := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case 'a', 'A':
			st &^= stateBits
		case 'i', 'I':
			st |= flagInactive
		case 'd', 'D':
			st |= flagDisabled
		case 't', 'T':
			st |= flagTrying
		case 'p', 'P':
			st |= flagProbing
		default:
			return -1
		}
	}
	return st
}

// dest is one destination of a set. The fields set at load never change, so
// a request can keep a *dest across a reload; the runtime state is atomic
// (read on every selection) and the rest of the health data is guarded by
// the set's mutex.
type dest struct {
	setid    int
	uri      string
	flags    int // as loaded (list file, table, RPC add)
	priority int
	attrs    attrs

	host  string    // URI host as written
	port  int       // URI port, 0 when not given
	proto msg.Proto // transport= parameter (sips: TLS), ProtoNone when not given
	sock  *sockRef  // socket=, sockname= or ds_default_socket; nil: any
	ip    atomic.Pointer[netip.Addr]
	dnsAt atomic.Int64 // unix nanos of the last resolution

	state atomic.Uint32 // state bits (stateBits)
	load  *atomic.Int64 // active calls (algorithm 10), shared across reloads by set and duid

	// Guarded by the set's mu.
	rw           int // relative weight in use: the rweight attribute, lowered by congestion control
	probingCount int
	lat          latency
	pingStart    int64 // unix nanos the last ping left; 0 none in flight
}

// key identifies a destination across reloads.
func (d *dest) key() destKey { return destKey{d.setid, d.uri} }

type destKey struct {
	setid int
	uri   string
}

// addr is the resolved address, if any.
func (d *dest) addr() (netip.Addr, bool) {
	p := d.ip.Load()
	if p == nil {
		return netip.Addr{}, false
	}
	return *p, true
}

// set is a destination group. dests never changes after the set is built;
// selections read it without locks.
type set struct {
	id    int
	dests []*dest

	last  atomic.Uint32 // round robin position
	wlast atomic.Uint32 // position in wlist
	wlist [100]uint16   // weight distribution (algorithm 9)

	rwlast atomic.Uint32
	rwlist atomic.Pointer[[100]uint16] // relative weight distribution (algorithm 11)

	mu sync.Mutex // health changes: state transitions, counters, latency
}

// table is one loaded list: sets by id. It is replaced as a whole by reload,
// dispatcher.add and dispatcher.remove.
type table struct {
	sets  map[int]*set
	order []*set // by id, for listings and pinging
	// rows are the entries as loaded, in load order: dispatcher.add and
	// dispatcher.remove rebuild the table from them.
	rows []row
	// report lists the entries left out or loaded with something ignored,
	// with where and why (logged, returned by dispatcher.reload).
	report []string
}

func (t *table) set(id int) *set {
	if t == nil {
		return nil
	}
	return t.sets[id]
}

// find returns the destination with uri in set id.
func (t *table) find(id int, uri string) (*set, *dest) {
	s := t.set(id)
	if s == nil {
		return nil, nil
	}
	for _, d := range s.dests {
		if d.uri == uri {
			return s, d
		}
	}
	// Kamailio compares URIs ignoring case.
	for _, d := range s.dests {
		if strings.EqualFold(d.uri, uri) {
			return s, d
		}
	}
	return s, nil
}

// count is the number of destinations.
func (t *table) count() int {
	n := 0
	for _, s := range t.order {
		n += len(s.dests)
	}
	return n
}

// newTable indexes sets whose destinations are already ordered.
func newTable(sets map[int]*set) *table {
	t := &table{sets: sets}
	for _, s := range sets {
		t.order = append(t.order, s)
	}
	sort.Slice(t.order, func(i, j int) bool { return t.order[i].id < t.order[j].id })
	return t
}
