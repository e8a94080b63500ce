package pike

import (
	"math/rand/v2"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/luasbc/luasbc/core/stats"
)

// BenchmarkCheck measures pike_check_req's cost with parallel callers (run
// with -cpu 1,4,16 to see contention): many sources spread over the
// shards, every worker hitting the same source (one shard, the worst
// case), and a full table answered by the overflow sketch.
func BenchmarkCheck(b *testing.B) {
	sources := make([]netip.Addr, 1<<16)
	for i := range sources {
		sources[i] = netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
	}
	newBench := func(maxIPs int) *pike {
		return &pike{log: zap.NewNop(), blocks: &stats.Counter{}, keyer: keyer{v6bits: 64}, unitS: 2,
			myIP: func(a netip.Addr) bool { return a == netip.IPv4Unspecified() },
			t:    newTable(tableConfig{unit: 2 * time.Second, limit: 1 << 30, latency: 120 * time.Second, maxIPs: maxIPs})}
	}
	run := func(b *testing.B, x *pike, pick func(r *rand.Rand) netip.Addr) {
		var seed atomic.Uint64
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			r := rand.New(rand.NewPCG(seed.Add(1), 0))
			for pb.Next() {
				x.check(nil, pick(r))
			}
		})
	}
	b.Run("many-sources", func(b *testing.B) {
		run(b, newBench(defaultTracked), func(r *rand.Rand) netip.Addr { return sources[r.IntN(len(sources))] })
	})
	b.Run("one-source", func(b *testing.B) {
		run(b, newBench(defaultTracked), func(*rand.Rand) netip.Addr { return sources[0] })
	})
	b.Run("overflow-sketch", func(b *testing.B) {
		x := newBench(256)
		for _, s := range sources[:4096] {
			x.check(nil, s) // fill the table
		}
		run(b, x, func(r *rand.Rand) netip.Addr { return sources[4096+r.IntN(len(sources)-4096)] })
	})
}
