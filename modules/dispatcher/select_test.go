package dispatcher

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
)

const threeEqual = `
1 sip:10.0.0.1:5060
1 sip:10.0.0.2:5060
1 sip:10.0.0.3:5060
`

// Kamailio orders a set by priority, highest first, and equal priorities
// in reverse load order: round robin and hashes then pick the same
// destinations as there.
func TestSetOrder(t *testing.T) {
	d := testDispatcher(t, nil)
	d.load(t, `
1 sip:10.0.0.1 0 0
1 sip:10.0.0.2 0 5
1 sip:10.0.0.3 0 0
1 sip:10.0.0.4 0 10
1 sip:10.0.0.5 0 5
`)
	want := []string{"sip:10.0.0.4", "sip:10.0.0.5", "sip:10.0.0.2", "sip:10.0.0.3", "sip:10.0.0.1"}
	if got := uris(d.tab.Load().set(1)); !reflect.DeepEqual(got, want) {
		t.Errorf("order %v, want %v", got, want)
	}
}

func TestRoundRobin(t *testing.T) {
	d := testDispatcher(t, nil)
	d.load(t, threeEqual)
	var seq []string
	for i := 0; i < 4; i++ {
		seq = append(seq, d.pick(t, 1, algRoundRobin, keys{}))
	}
	want := []string{"sip:10.0.0.3:5060", "sip:10.0.0.2:5060", "sip:10.0.0.1:5060", "sip:10.0.0.3:5060"}
	if !reflect.DeepEqual(seq, want) {
		t.Errorf("sequence %v, want %v", seq, want)
	}
	// An inactive destination is skipped, and the turn continues after
	// the one used: the others share evenly.
	d.mark(t, 1, "sip:10.0.0.2:5060", flagInactive)
	count := map[string]int{}
	for i := 0; i < 300; i++ {
		count[d.pick(t, 1, algRoundRobin, keys{})]++
	}
	if count["sip:10.0.0.2:5060"] != 0 || count["sip:10.0.0.1:5060"] != 150 || count["sip:10.0.0.3:5060"] != 150 {
		t.Errorf("with one inactive: %v", count)
	}
	d.mark(t, 1, "sip:10.0.0.1:5060", flagDisabled)
	d.mark(t, 1, "sip:10.0.0.3:5060", flagInactive|flagProbing)
	if _, err := d.choose(d.tab.Load().set(1), algRoundRobin, 0, keys{}); !errors.Is(err, errNoDest) {
		t.Errorf("all down: %v, want errNoDest", err)
	}
	// Trying destinations are still used.
	d.mark(t, 1, "sip:10.0.0.3:5060", flagTrying)
	if got := d.pick(t, 1, algRoundRobin, keys{}); got != "sip:10.0.0.3:5060" {
		t.Errorf("trying destination not used: %s", got)
	}
}

func TestWeight(t *testing.T) {
	d := testDispatcher(t, nil)
	d.load(t, "1 sip:10.0.0.1 0 0 weight=25\n1 sip:10.0.0.2 0 0 weight=75\n")
	count := map[string]int{}
	for i := 0; i < 1000; i++ {
		count[d.pick(t, 1, algWeight, keys{})]++
	}
	if count["sip:10.0.0.1"] != 250 || count["sip:10.0.0.2"] != 750 {
		t.Errorf("weights 25/75 over 1000 calls: %v", count)
	}
	// Less than 100 in total: the last destination takes the rest.
	d.load(t, "2 sip:10.0.0.1 0 0 weight=10\n2 sip:10.0.0.2 0 0 weight=20\n")
	count = map[string]int{}
	for i := 0; i < 100; i++ {
		count[d.pick(t, 2, algWeight, keys{})]++
	}
	// Set order is reversed: 10.0.0.2 (20) first, 10.0.0.1 (10) last gets 80.
	if count["sip:10.0.0.2"] != 20 || count["sip:10.0.0.1"] != 80 {
		t.Errorf("weights 10/20: %v", count)
	}
	// As in Kamailio the distribution needs a weight on the first
	// destination; without it the first active one is used.
	d.load(t, "3 sip:10.0.0.1 0 0 weight=50\n3 sip:10.0.0.2\n")
	for i := 0; i < 10; i++ {
		if got := d.pick(t, 3, algWeight, keys{}); got != "sip:10.0.0.2" {
			t.Fatalf("got %s", got)
		}
	}
}

func TestRelativeWeight(t *testing.T) {
	d := testDispatcher(t, nil)
	d.load(t, "1 sip:10.0.0.3 0 0 rweight=1\n1 sip:10.0.0.2 0 0 rweight=2\n1 sip:10.0.0.1 0 0 rweight=1\n")
	count := map[string]int{}
	for i := 0; i < 400; i++ {
		count[d.pick(t, 1, algRelWeight, keys{})]++
	}
	if count["sip:10.0.0.1"] != 100 || count["sip:10.0.0.2"] != 200 || count["sip:10.0.0.3"] != 100 {
		t.Errorf("rweights 1/2/1: %v", count)
	}
	// 10.0.0.3 goes down: the others share 1/2 (33/67, the remainder to
	// the last active one).
	s, dd := d.tab.Load().find(1, "sip:10.0.0.3")
	s.mu.Lock()
	d.updateState(s, dd, flagInactive, fromScript, rctx{})
	s.mu.Unlock()
	count = map[string]int{}
	for i := 0; i < 100; i++ {
		count[d.pick(t, 1, algRelWeight, keys{})]++
	}
	if count["sip:10.0.0.1"] != 33 || count["sip:10.0.0.2"] != 67 || count["sip:10.0.0.3"] != 0 {
		t.Errorf("rweights with one down: %v", count)
	}
}

func TestPriority(t *testing.T) {
	d := testDispatcher(t, map[string]any{"flags": 2})
	d.load(t, "1 sip:10.0.0.1 0 1\n1 sip:10.0.0.2 0 10\n1 sip:10.0.0.3 0 5\n")
	sel, err := d.choose(d.tab.Load().set(1), algPriority, 0, keys{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range sel.recs {
		got = append(got, r.d.uri)
	}
	if want := []string{"sip:10.0.0.2", "sip:10.0.0.3", "sip:10.0.0.1"}; !reflect.DeepEqual(got, want) {
		t.Errorf("priority order %v, want %v", got, want)
	}
	d.mark(t, 1, "sip:10.0.0.2", flagInactive)
	if got := d.pick(t, 1, algPriority, keys{}); got != "sip:10.0.0.3" {
		t.Errorf("highest down: got %s, want the next priority", got)
	}
}

func TestHashAlgorithms(t *testing.T) {
	d := testDispatcher(t, nil)
	d.load(t, threeEqual)
	// The same key, the same destination; different keys spread.
	seen := map[string]int{}
	for i := 0; i < 300; i++ {
		k := keys{cid: fmt.Sprintf("call-%d@host", i)}
		first := d.pick(t, 1, algCallID, k)
		if again := d.pick(t, 1, algCallID, k); again != first {
			t.Fatalf("Call-ID hash not stable: %s then %s", first, again)
		}
		seen[first]++
	}
	for _, u := range uris(d.tab.Load().set(1)) {
		if seen[u] < 50 {
			t.Errorf("Call-ID hash spreads badly: %v", seen)
		}
	}
	// The slot is Kamailio's: hash % 3.
	k := keys{cid: "0123456789abcdef-callid@host"} // hash 122221286 % 3 = 2
	if got := d.pick(t, 1, algCallID, k); got != "sip:10.0.0.1:5060" {
		t.Errorf("Call-ID slot: %s", got)
	}
	var u keys
	u.uri[algFrom] = [2]string{"bob", "server.com"} // hash 3883463682 % 3 = 0
	if got := d.pick(t, 1, algFrom, u); got != "sip:10.0.0.3:5060" {
		t.Errorf("From slot: %s", got)
	}
	for _, alg := range []int{algFrom, algTo, algRURI} {
		if _, err := d.choose(d.tab.Load().set(1), alg, 0, keys{noURI: true}); !errors.Is(err, errNoKey) {
			t.Errorf("alg %d without URI: %v", alg, err)
		}
	}
	// Algorithm 5 without credentials is round robin.
	a := d.pick(t, 1, algAuthUser, keys{})
	b := d.pick(t, 1, algAuthUser, keys{})
	if a == b {
		t.Errorf("auth user without credentials: %s twice, want round robin", a)
	}
	if d.pick(t, 1, algAuthUser, keys{auth: "alice"}) != d.pick(t, 1, algAuthUser, keys{auth: "alice"}) {
		t.Error("auth user hash not stable")
	}
	// Algorithm 7 needs hash_pvar's text.
	if _, err := d.choose(d.tab.Load().set(1), algPV, 0, keys{noPV: true}); !errors.Is(err, errNoKey) {
		t.Errorf("alg 7 without text: %v", err)
	}
	if d.pick(t, 1, algPV, keys{pv: "x"}) != d.pick(t, 1, algPV, keys{pv: "x"}) {
		t.Error("pv hash not stable")
	}
	// Random reaches every destination.
	seen = map[string]int{}
	for i := 0; i < 300; i++ {
		seen[d.pick(t, 1, algRandom, keys{})]++
	}
	if len(seen) != 3 {
		t.Errorf("random: %v", seen)
	}
	// An unknown algorithm takes the first destination.
	if got := d.pick(t, 1, 99, keys{}); got != "sip:10.0.0.3:5060" {
		t.Errorf("unknown algorithm: %s", got)
	}
}

func TestCallLoad(t *testing.T) {
	d := testDispatcher(t, map[string]any{"ds_hash_size": 4, "flags": 2})
	d.load(t, "1 sip:10.0.0.1 0 0 duid=a;maxload=2\n1 sip:10.0.0.2 0 0 duid=b;maxload=2\n")
	got := map[string]int{}
	for i := 1; i <= 4; i++ {
		got[d.pick(t, 1, algCallLoad, keys{cid: fmt.Sprint("c", i), invite: true})]++
	}
	if got["sip:10.0.0.1"] != 2 || got["sip:10.0.0.2"] != 2 {
		t.Errorf("least loaded: %v", got)
	}
	s := d.tab.Load().set(1)
	if _, err := d.choose(s, algCallLoad, 0, keys{cid: "c5", invite: true}); !errors.Is(err, errNoDest) {
		t.Errorf("all at maxload: %v", err)
	}
	_, a := d.tab.Load().find(1, "sip:10.0.0.1")
	who := "sip:10.0.0.2"
	if d.loads.calls["c1"].key.duid == "a" {
		who = "sip:10.0.0.1"
	}
	if !d.loads.remove("c1") {
		t.Fatal("c1 had no load")
	}
	if got := d.pick(t, 1, algCallLoad, keys{cid: "c6", invite: true}); got != who {
		t.Errorf("after c1 ended: %s, want %s", got, who)
	}
	if a.calls() != 2 {
		t.Errorf("load of a = %d", a.calls())
	}
	// A request other than INVITE takes the first entry and no load.
	before := d.loads.active()
	if got := d.pick(t, 1, algCallLoad, keys{cid: "m1"}); got != "sip:10.0.0.2" {
		t.Errorf("MESSAGE: %s", got)
	}
	if d.loads.active() != before {
		t.Error("a MESSAGE was given a load")
	}
	// The failover list of a loaded call leaves out full destinations.
	d.loads.remove("c6")
	sel, err := d.choose(s, algCallLoad, 0, keys{cid: "c7", invite: true})
	if err != nil || len(sel.recs) != 1 || !sel.recs[0].load {
		t.Errorf("c7: %+v %v (the other destination is full)", sel.recs, err)
	}
}

func TestParallel(t *testing.T) {
	d := testDispatcher(t, nil)
	d.load(t, threeEqual)
	d.mark(t, 1, "sip:10.0.0.2:5060", flagInactive)
	sel, err := d.choose(d.tab.Load().set(1), algParallel, 0, keys{})
	if err != nil {
		t.Fatal(err)
	}
	if sel.first.uri != "sip:10.0.0.3:5060" || len(sel.branches) != 1 || sel.branches[0].uri != "sip:10.0.0.1:5060" {
		t.Errorf("parallel: first %s, branches %v", sel.first.uri, sel.branches)
	}
}

func TestLatencyAlgorithm(t *testing.T) {
	d := testDispatcher(t, map[string]any{"flags": 2})
	d.load(t, "1 sip:10.0.0.1 0 30 latency=21\n1 sip:10.0.0.2 0 30 latency=91\n1 sip:10.0.0.3 0 30 latency=0\n1 sip:10.0.0.4 0 30 latency=61\n")
	// Adjusted priorities: 30, 27, 30, 28: round robin among the two 30s.
	count := map[string]int{}
	for i := 0; i < 10; i++ {
		count[d.pick(t, 1, algLatency, keys{})]++
	}
	if count["sip:10.0.0.1"] != 5 || count["sip:10.0.0.3"] != 5 {
		t.Errorf("latency-adjusted round robin: %v", count)
	}
	sel, _ := d.choose(d.tab.Load().set(1), algLatency, 0, keys{})
	if n := len(sel.recs); n != 4 || sel.recs[2].d.uri != "sip:10.0.0.4" || sel.recs[3].d.uri != "sip:10.0.0.2" {
		var got []string
		for _, r := range sel.recs {
			got = append(got, r.d.uri)
		}
		t.Errorf("failover order by adjusted priority: %v", got)
	}
}

func TestUseDefault(t *testing.T) {
	d := testDispatcher(t, map[string]any{"flags": 2, "use_default": 1})
	// Set order: .3, .2, .1 — .1 (loaded first, last in the set) is the default.
	d.load(t, threeEqual)
	count := map[string]int{}
	for i := 0; i < 10; i++ {
		count[d.pick(t, 1, algRoundRobin, keys{})]++
	}
	if count["sip:10.0.0.1:5060"] != 0 {
		t.Errorf("the default was used while others are active: %v", count)
	}
	sel, _ := d.choose(d.tab.Load().set(1), algPriority, 0, keys{})
	if last := sel.recs[len(sel.recs)-1].d.uri; last != "sip:10.0.0.1:5060" || len(sel.recs) != 3 {
		t.Errorf("the default is not last for failover: %v", sel.recs)
	}
	d.mark(t, 1, "sip:10.0.0.2:5060", flagInactive)
	d.mark(t, 1, "sip:10.0.0.3:5060", flagInactive)
	if got := d.pick(t, 1, algRoundRobin, keys{}); got != "sip:10.0.0.1:5060" {
		t.Errorf("others down: %s, want the default", got)
	}
}

func TestFailoverList(t *testing.T) {
	d := testDispatcher(t, map[string]any{"flags": 2})
	d.load(t, "1 sip:a 16 0\n1 sip:b 16 0\n1 sip:c 16 0\n1 sip:d 16 0\n") // 16: no DNS
	// Set order d, c, b, a; round robin picks d first.
	d.mark(t, 1, "sip:b", flagInactive)
	sel, _ := d.choose(d.tab.Load().set(1), algPriority, 0, keys{})
	var got []string
	for _, r := range sel.recs {
		got = append(got, r.d.uri)
	}
	if want := []string{"sip:d", "sip:c", "sip:a"}; !reflect.DeepEqual(got, want) {
		t.Errorf("failover list %v, want %v (inactive left out)", got, want)
	}
	sel, _ = d.choose(d.tab.Load().set(1), algPriority, 2, keys{})
	if len(sel.recs) != 2 {
		t.Errorf("limit 2: %d entries", len(sel.recs))
	}
	// The list continues after the selected destination and wraps.
	d.tab.Load().set(1).last.Store(1) // next round robin: c
	sel, _ = d.choose(d.tab.Load().set(1), algRoundRobin, 0, keys{})
	got = got[:0]
	for _, r := range sel.recs {
		got = append(got, r.d.uri)
	}
	if want := []string{"sip:c", "sip:a", "sip:d"}; !reflect.DeepEqual(got, want) {
		t.Errorf("failover list from c: %v, want %v", got, want)
	}
	// Without flags bit 2 only the selected destination is kept.
	d2 := testDispatcher(t, nil)
	d2.load(t, "1 sip:a 16\n1 sip:b 16\n")
	sel, _ = d2.choose(d2.tab.Load().set(1), algRoundRobin, 0, keys{})
	if len(sel.recs) != 1 {
		t.Errorf("failover off: %d entries", len(sel.recs))
	}
}

// The latency ranking with a limit is the head of the full ranking.
func TestLatencyLimit(t *testing.T) {
	d := testDispatcher(t, map[string]any{"flags": 2})
	d.load(t, benchList(60))
	full, _ := d.choose(d.tab.Load().set(1), algLatency, 0, keys{})
	d.tab.Load().set(1).last.Store(0)
	lim, _ := d.choose(d.tab.Load().set(1), algLatency, 5, keys{})
	if len(lim.recs) != 5 {
		t.Fatalf("%d entries, want 5", len(lim.recs))
	}
	for i := range lim.recs {
		if lim.recs[i].d != full.recs[i].d {
			t.Errorf("entry %d: %s, want %s", i, lim.recs[i].d.uri, full.recs[i].d.uri)
		}
	}
}
