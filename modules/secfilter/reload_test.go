package secfilter

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"go.uber.org/zap"

	"github.com/luasbc/luasbc/kemi"
)

func newTestFilter(t *testing.T, rules string, extra map[string]any) (*SecFilter, string) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "secfilter"), []byte(rules), 0o644); err != nil {
		t.Fatal(err)
	}
	given := map[string]any{"db_url": "text://" + dir, "reload_delta": 0}
	for k, v := range extra {
		given[k] = v
	}
	def := kemi.LookupModule("secfilter")
	p, _, err := kemi.ValidateParams(def, given)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := def.New(&kemi.Env{Log: zap.NewNop(), Params: p})
	if err != nil {
		t.Fatal(err)
	}
	s := inst.(*SecFilter)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	return s, dir
}

// TestReloadWhileChecking: checks on many goroutines see either the old or
// the new generation, never a torn one (run with -race).
func TestReloadWhileChecking(t *testing.T) {
	const header = "action(int) type(int) data(str)\n"
	s, dir := newTestFilter(t, header+"0:3:192.0.2.0/24\n0:0:scanner\n", nil)
	src := netip.MustParseAddr("192.0.2.1")
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				l := s.Lists()
				// Both rules are in every generation this test installs.
				if l.IP(src) != blocked || l.UA("scanner 1") != blocked {
					t.Error("torn generation")
					return
				}
			}
		}()
	}
	for i := 0; i < 50; i++ {
		if i%2 == 0 {
			if err := os.WriteFile(filepath.Join(dir, "secfilter"), []byte(header+"0:0:scanner\n0:3:192.0.2.0/24\n0:4:u\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Reload(context.Background()); err != nil {
				t.Fatal(err)
			}
		} else if err := s.Add(Rule{Blacklist, TypeDomain, "d.example"}); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
}

func TestStatsCounters(t *testing.T) {
	s, _ := newTestFilter(t, "action(int) type(int) data(str)\n0:3:192.0.2.0/24\n1:0:good\n2:0:0900\n", nil)
	s.stats.count(s.Lists().IP(netip.MustParseAddr("192.0.2.5")), cIP)
	s.stats.count(s.Lists().UA("good ua"), cUA)
	s.stats.count(s.Lists().UA("other"), cUA) // not found: not counted
	snap := s.stats.snapshot()
	if snap["Blacklist"].(map[string]int64)["IP-Address"] != 1 || snap["Whitelist"].(map[string]int64)["User-Agent"] != 1 {
		t.Fatalf("%v", snap)
	}
	var total int64
	for _, m := range []map[string]int64{snap["Blacklist"].(map[string]int64), snap["Whitelist"].(map[string]int64)} {
		if len(m) != int(nListCounters) {
			t.Fatalf("want %d counters, got %v", nListCounters, m)
		}
		for _, v := range m {
			total += v
		}
	}
	if total != 2 {
		t.Fatalf("total %d", total)
	}
	s.stats.reset()
	if s.stats.snapshot()["Blacklist"].(map[string]int64)["IP-Address"] != 0 {
		t.Fatal("reset")
	}
}
