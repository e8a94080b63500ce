package dispatcher

import (
	"fmt"
	"strings"
	"testing"
)

// benchList is one set of n destinations with weights, rweights, duids and
// latencies, so every algorithm has what it needs.
func benchList(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "1 sip:10.%d.%d.%d:5060 0 %d weight=%d;rweight=%d;duid=gw%d;latency=%d\n",
			i/65536, i/256%256, i%256, i%7, 1+i%3, 1+i%50, i, i%40)
	}
	return b.String()
}

// BenchmarkSelect is the cost of choosing a destination among 1 000 for
// one call, per algorithm (ds_select_dst without failover list), and with
// the failover list of flags bit 2 (the whole set, or limit 5).
func BenchmarkSelect(b *testing.B) {
	for _, fo := range []struct {
		name  string
		flags int
		limit int
	}{{"", 0, 0}, {"failover-all/", 2, 0}, {"failover-limit5/", 2, 5}} {
		d := testDispatcher(b, map[string]any{"flags": fo.flags, "ds_hash_size": 4, "ds_hash_expire": 0, "ds_hash_initexpire": 0})
		d.load(b, benchList(1000))
		s := d.tab.Load().set(1)
		// A tenth of the destinations down: selections skip them.
		for i, dd := range s.dests {
			if i%10 == 3 {
				dd.state.Store(flagInactive)
			}
		}
		for _, alg := range []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13} {
			if fo.name != "" && alg != 4 && alg != 0 && alg != 13 {
				continue
			}
			b.Run(fmt.Sprintf("%salg%d", fo.name, alg), func(b *testing.B) {
				var k keys
				k.uri[algFrom] = [2]string{"alice", "example.com"}
				k.uri[algTo] = [2]string{"bob", "example.com"}
				k.uri[algRURI] = [2]string{"bob", "example.com:5080"}
				k.auth, k.pv, k.invite = "alice", "alice@example.com", true
				cids := make([]string, 1024)
				for i := range cids {
					cids[i] = fmt.Sprintf("%08x-callid@198.51.100.7", i*7919)
				}
				b.ReportAllocs()
				for i := 0; b.Loop(); i++ {
					k.cid = cids[i%len(cids)]
					if _, err := d.choose(s, alg, fo.limit, k); err != nil {
						b.Fatal(err)
					}
					if alg == algCallLoad {
						d.loads.remove(k.cid)
					}
				}
			})
		}
	}
}
