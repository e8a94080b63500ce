package pike

import (
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// tableConfig is the validated configuration of a table.
type tableConfig struct {
	unit     time.Duration // sampling_time_unit
	limit    uint32        // reqs_density_per_unit
	latency  time.Duration // remove_latency
	maxIPs   int           // max_tracked_ips
	shards   int           // power of two
	clockNow func() int64  // monotonic ns; nil = real time
}

// table counts requests per source key. It is split into shards, each with
// its own lock and map, so workers checking different sources do not
// contend; a request costs one hash, one lock of one shard, and one map
// lookup and store.
type table struct {
	cfg    tableConfig
	unitNS int64
	seed   uint64
	shards []shard
	sk     *sketch
	now    func() int64

	tracked  atomic.Int64 // entries in the table
	blocked  atomic.Int64 // entries currently red
	overflow atomic.Int64 // checks answered by the sketch
}

type shard struct {
	mu sync.Mutex
	m  map[mapKey]entry
	_  [48]byte // keep neighbouring shard locks off one cache line
}

func newTable(cfg tableConfig) *table {
	if cfg.shards <= 0 {
		cfg.shards = 256
	}
	t := &table{cfg: cfg, unitNS: int64(cfg.unit), seed: newSeed(),
		shards: make([]shard, cfg.shards), sk: newSketch(cfg.limit)}
	for i := range t.shards {
		t.shards[i].m = map[mapKey]entry{}
	}
	t.now = cfg.clockNow
	if t.now == nil {
		start := time.Now()
		t.now = func() int64 { return int64(time.Since(start)) }
	}
	return t
}

func (t *table) shardOf(key mapKey) *shard {
	return &t.shards[key.hash(t.seed)&uint64(len(t.shards)-1)]
}

func (t *table) unitOf(now int64) uint32 { return uint32(now / t.unitNS) }

// result is the outcome of one check.
type result struct {
	rc       int
	hits     uint32 // requests counted in the current unit
	overflow bool   // answered by the sketch: the table was full
	released bool   // the key was red and found released by this request
}

// check counts one request of key.
func (t *table) check(a netip.Addr) result {
	key := toMapKey(a)
	s := t.shardOf(key)
	s.mu.Lock()
	now := t.now()
	u := t.unitOf(now)
	e, ok := s.m[key]
	if !ok {
		if !t.reserve() {
			s.mu.Unlock()
			t.overflow.Add(1)
			rc, hits := t.sk.check(key, u)
			return result{rc: rc, hits: hits, overflow: true}
		}
		e.unit = u
	}
	rc, released := e.hit(now, u, t.cfg.limit)
	s.m[key] = e
	s.mu.Unlock()
	if released {
		t.blocked.Add(-1)
	}
	if rc == rcNewlyBlocked {
		t.blocked.Add(1)
	}
	return result{rc: rc, hits: e.curr, released: released}
}

// reserve takes one of the max_tracked_ips places, false when all are
// taken.
func (t *table) reserve() bool {
	for {
		n := t.tracked.Load()
		if n >= int64(t.cfg.maxIPs) {
			return false
		}
		if t.tracked.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// sweep does what Kamailio's timers do: it rolls every entry to the current
// unit, releases red entries that stopped flooding (reported to onRelease,
// called without any lock held), and removes entries quiet for
// remove_latency. A red entry is never removed, so every block is followed
// by exactly one release.
func (t *table) sweep(onRelease func(key netip.Addr)) {
	var released []mapKey
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		now := t.now()
		u := t.unitOf(now)
		for k, e := range s.m {
			e.roll(u)
			if e.red && !e.hot(t.cfg.limit) {
				e.red = false
				released = append(released, k)
				t.blocked.Add(-1)
			}
			if !e.red && now-e.last >= int64(t.cfg.latency) {
				delete(s.m, k)
				t.tracked.Add(-1)
				continue
			}
			s.m[k] = e
		}
		s.mu.Unlock()
		for _, k := range released {
			onRelease(k.addr())
		}
		released = released[:0]
	}
	t.sk.trim(t.unitOf(t.now()))
}

// row is one pike.top line.
type row struct {
	key        netip.Addr
	prev, curr uint32
	expires    int64 // seconds until removal when it stays quiet
	status     string
}

// snapshot lists the entries whose status passes keep, sorted as Kamailio's
// pike.top: by prev+curr, then curr, descending (then by address, to be
// stable).
func (t *table) snapshot(keep func(status string) bool) []row {
	var out []row
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		now := t.now()
		u := t.unitOf(now)
		for k, e := range s.m {
			e.roll(u) // a copy: the table is not changed
			st := e.status(t.cfg.limit)
			if !keep(st) {
				continue
			}
			left := int64(t.cfg.latency) - (now - e.last)
			exp := max(0, (left+int64(time.Second)-1)/int64(time.Second))
			out = append(out, row{key: k.addr(), prev: e.prev, curr: e.curr, expires: exp, status: st})
		}
		s.mu.Unlock()
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if sa, sb := uint64(a.prev)+uint64(a.curr), uint64(b.prev)+uint64(b.curr); sa != sb {
			return sa > sb
		}
		if a.curr != b.curr {
			return a.curr > b.curr
		}
		return a.key.Less(b.key)
	})
	return out
}
