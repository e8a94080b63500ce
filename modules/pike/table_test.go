package pike

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a table clock the test moves by hand.
type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) now() int64              { return c.ns.Load() }
func (c *fakeClock) advance(d time.Duration) { c.ns.Add(int64(d)) }
func (c *fakeClock) set(d time.Duration)     { c.ns.Store(int64(d)) }
func newFake(start time.Duration) *fakeClock { c := &fakeClock{}; c.set(start); return c }
func ip(s string) netip.Addr                 { return netip.MustParseAddr(s) }
func testTable(clk *fakeClock, limit uint32, maxIPs, shards int) *table {
	return newTable(tableConfig{unit: 2 * time.Second, limit: limit, latency: 10 * time.Second,
		maxIPs: maxIPs, shards: shards, clockNow: clk.now})
}

// hits sends n requests of key and returns the return codes.
func hits(t *table, key netip.Addr, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = t.check(key).rc
	}
	return out
}

func TestLimitIsExceededByOneMoreRequest(t *testing.T) {
	clk := newFake(100 * time.Millisecond)
	tb := testTable(clk, 5, 1000, 4)
	got := hits(tb, ip("192.0.2.1"), 8)
	want := []int{1, 1, 1, 1, 1, -2, -1, -1}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("codes %v, want %v", got, want)
		}
	}
	if tb.blocked.Load() != 1 || tb.tracked.Load() != 1 {
		t.Errorf("blocked %d tracked %d, want 1 1", tb.blocked.Load(), tb.tracked.Load())
	}
	// Another source is not affected.
	if rc := tb.check(ip("192.0.2.2")).rc; rc != 1 {
		t.Errorf("other source got %d", rc)
	}
}

// A source over the limit in one unit stays blocked for the whole next unit
// (Kamailio's previous-unit test), even when it sends little, and is
// released at the start of the unit after.
func TestReleasedOneUnitAfterTheFloodStops(t *testing.T) {
	clk := newFake(0)
	tb := testTable(clk, 5, 1000, 4)
	a := ip("192.0.2.1")
	hits(tb, a, 10) // unit 0
	clk.set(2*time.Second + time.Millisecond)
	if rc := tb.check(a).rc; rc != -1 {
		t.Fatalf("next unit: %d, want -1 (previous unit over the limit)", rc)
	}
	var released []netip.Addr
	tb.sweep(func(k netip.Addr) { released = append(released, k) })
	if len(released) != 0 {
		t.Fatalf("released too early: %v", released)
	}
	clk.set(4*time.Second + time.Millisecond) // unit 2: unit 1 had one request
	tb.sweep(func(k netip.Addr) { released = append(released, k) })
	if len(released) != 1 || released[0] != a || tb.blocked.Load() != 0 {
		t.Fatalf("released %v, blocked %d", released, tb.blocked.Load())
	}
	if rc := tb.check(a).rc; rc != 1 {
		t.Fatalf("after release: %d", rc)
	}
}

// A source that keeps flooding stays blocked unit after unit, with a
// single -2.
func TestStaysBlockedWhileFlooding(t *testing.T) {
	clk := newFake(0)
	tb := testTable(clk, 5, 1000, 4)
	a := ip("2001:db8::1")
	newly := 0
	for unit := 0; unit < 6; unit++ {
		clk.set(time.Duration(unit)*2*time.Second + time.Millisecond)
		tb.sweep(func(netip.Addr) { t.Fatalf("released while flooding (unit %d)", unit) })
		for _, rc := range hits(tb, a, 7) {
			if rc == -2 {
				newly++
			}
			if unit > 0 && rc != -1 {
				t.Fatalf("unit %d: rc %d while flooding", unit, rc)
			}
		}
	}
	if newly != 1 {
		t.Fatalf("%d block events, want 1", newly)
	}
}

// Released in passing: a request two units after the flood finds the entry
// red but cold and reports the release itself.
func TestReleaseSeenByTheNextRequest(t *testing.T) {
	clk := newFake(0)
	tb := testTable(clk, 3, 1000, 4)
	a := ip("198.51.100.7")
	hits(tb, a, 5)
	clk.set(5 * time.Second) // unit 2
	r := tb.check(a)
	if r.rc != 1 || !r.released || tb.blocked.Load() != 0 {
		t.Fatalf("%+v blocked=%d", r, tb.blocked.Load())
	}
}

func TestQuietEntriesExpireButNotRedOnes(t *testing.T) {
	clk := newFake(0)
	tb := newTable(tableConfig{unit: 10 * time.Second, limit: 2, latency: 3 * time.Second, maxIPs: 100, shards: 2, clockNow: clk.now})
	quiet, red := ip("192.0.2.1"), ip("192.0.2.2")
	tb.check(quiet)
	hits(tb, red, 4)
	clk.set(5 * time.Second) // both quiet for 5 s > 3 s; red is still hot (unit 0)
	tb.sweep(func(netip.Addr) {})
	rows := tb.snapshot(func(string) bool { return true })
	if len(rows) != 1 || rows[0].key != red || tb.tracked.Load() != 1 {
		t.Fatalf("after first sweep: %+v tracked %d", rows, tb.tracked.Load())
	}
	clk.set(20*time.Second + time.Millisecond) // unit 2: released, then removed
	n := 0
	tb.sweep(func(netip.Addr) { n++ })
	if n != 1 || tb.tracked.Load() != 0 || len(tb.snapshot(func(string) bool { return true })) != 0 {
		t.Fatalf("released %d, tracked %d", n, tb.tracked.Load())
	}
}

// Active entries are not removed: every request restarts remove_latency.
func TestActiveEntriesStay(t *testing.T) {
	clk := newFake(0)
	tb := testTable(clk, 100, 100, 1)
	a := ip("192.0.2.1")
	for i := 0; i < 30; i++ {
		tb.check(a)
		clk.advance(time.Second)
		tb.sweep(func(netip.Addr) {})
	}
	if tb.tracked.Load() != 1 {
		t.Fatal("an active entry was removed")
	}
}

func TestSnapshotOrderAndStatus(t *testing.T) {
	clk := newFake(0)
	tb := testTable(clk, 8, 100, 4)
	hits(tb, ip("192.0.2.1"), 1)
	hits(tb, ip("192.0.2.2"), 12) // hot
	hits(tb, ip("192.0.2.3"), 3)  // warm: >= 8/4
	all := tb.snapshot(func(string) bool { return true })
	if len(all) != 3 || all[0].key != ip("192.0.2.2") || all[1].key != ip("192.0.2.3") || all[2].key != ip("192.0.2.1") {
		t.Fatalf("order: %+v", all)
	}
	if all[0].status != "HOT" || all[1].status != "WARM" || all[2].status != "" {
		t.Fatalf("status: %+v", all)
	}
	if all[0].curr != 12 || all[0].prev != 0 || all[0].expires != 10 {
		t.Fatalf("row: %+v", all[0])
	}
	clk.set(2 * time.Second) // next unit: curr moves to prev
	all = tb.snapshot(func(string) bool { return true })
	if all[0].prev != 12 || all[0].curr != 0 || all[0].expires != 8 || all[0].status != "HOT" {
		t.Fatalf("rolled row: %+v", all[0])
	}
}

// When the table is full, new sources are checked by the sketch: a flood
// from an untracked source is still detected, a quiet one is not blocked.
func TestOverflowGoesToTheSketch(t *testing.T) {
	clk := newFake(0)
	tb := testTable(clk, 5, 2, 1)
	tb.check(ip("192.0.2.1"))
	tb.check(ip("192.0.2.2"))
	spoofed := ip("203.0.113.9")
	codes := hits(tb, spoofed, 8)
	if codes[4] != 1 || codes[5] != -2 || codes[6] != -1 {
		t.Fatalf("overflow flood: %v", codes)
	}
	if r := tb.check(ip("203.0.113.10")); r.rc != 1 || !r.overflow {
		t.Fatalf("quiet overflow source: %+v", r)
	}
	if tb.tracked.Load() != 2 || tb.overflow.Load() != 9 {
		t.Fatalf("tracked %d overflow %d", tb.tracked.Load(), tb.overflow.Load())
	}
	// Blocked through the next unit, released in the one after.
	clk.set(2 * time.Second)
	if rc := tb.check(spoofed).rc; rc != -1 {
		t.Fatalf("next unit: %d", rc)
	}
	clk.set(4 * time.Second)
	if rc := tb.check(spoofed).rc; rc != 1 {
		t.Fatalf("two units later: %d", rc)
	}
	// Old generations are dropped once the overflow stops.
	clk.set(10 * time.Second)
	tb.sweep(func(netip.Addr) {})
	if tb.sk.active() {
		t.Fatal("sketch memory kept after the overflow ended")
	}
}

// Many workers hitting one source: every request is counted once and the
// block is reported exactly once.
func TestConcurrentChecksOfOneSource(t *testing.T) {
	clk := newFake(0)
	tb := testTable(clk, 50, 1000, 8)
	a := ip("192.0.2.1")
	var newly, blocked atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				switch tb.check(a).rc {
				case -2:
					newly.Add(1)
				case -1:
					blocked.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if newly.Load() != 1 || blocked.Load() != 800-51 {
		t.Fatalf("newly %d blocked %d", newly.Load(), blocked.Load())
	}
}

// Under a spoofed flood that fills the table and keeps going (200000
// distinct sources, one request each, in one unit), new legitimate sources
// sending half the limit are not blocked, and a real flood still is.
func TestSketchUnderSpoofedFlood(t *testing.T) {
	clk := newFake(0)
	tb := testTable(clk, 16, 1000, 16)
	for i := 0; i < 200000; i++ {
		tb.check(netip.AddrFrom4([4]byte{100, byte(i >> 16), byte(i >> 8), byte(i)}))
	}
	if tb.tracked.Load() > 1000 {
		t.Fatalf("table grew past its cap: %d", tb.tracked.Load())
	}
	for i := 0; i < 50; i++ {
		for _, rc := range hits(tb, netip.AddrFrom4([4]byte{198, 18, 0, byte(i)}), 8) {
			if rc != 1 {
				t.Fatalf("legitimate source %d blocked", i)
			}
		}
	}
	codes := hits(tb, ip("198.19.0.1"), 40)
	if codes[len(codes)-1] != -1 {
		t.Fatalf("flood through the sketch not detected: %v", codes)
	}
}
