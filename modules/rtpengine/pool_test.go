package rtpengine

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
)

// testPool builds a pool over the given URLs ("url=weight" allowed) in set 0.
func testPool(t *testing.T, tout time.Duration, retr int, urls ...string) (*pool, *transportCfg) {
	t.Helper()
	cfg := &transportCfg{tout: tout, retr: retr, tos: -1, log: zap.NewNop(), onBadRx: func() {}}
	p := &pool{sets: map[int][]*node{}, disableTout: time.Minute, log: zap.NewNop(), sticky: map[string]stickyEntry{},
		stickyTout: time.Hour}
	for _, u := range urls {
		ds, err := parseSock(u)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			n := newNode(d, len(p.sets[d.Set]), cfg)
			if err := n.open(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(n.close)
			p.sets[d.Set] = append(p.sets[d.Set], n)
			p.nodes = append(p.nodes, n)
		}
	}
	return p, cfg
}

func offerCmd(callid string) map[string]any {
	return map[string]any{"command": "offer", "call-id": callid, "from-tag": "ft", "sdp": goodSDP}
}

func TestFailoverToTheNextInstance(t *testing.T) {
	a, b := newFakeNG(t), newFakeNG(t)
	a.silent()
	p, _ := testPool(t, 50*time.Millisecond, 2, a.url()+"=1000", b.url()+"=1")
	start := time.Now()
	d, n, err := p.call(context.Background(), 0, "call-1", offerCmd("call-1"))
	if err != nil {
		t.Fatal(err)
	}
	if n.def.URL != b.url() || d["result"] != "ok" {
		t.Fatalf("answered by %s: %v", n.def.URL, d)
	}
	if got := a.count("offer"); got != 2 {
		t.Errorf("silent instance got %d sends, want rtpengine_retr=2", got)
	}
	if el := time.Since(start); el < 100*time.Millisecond || el > time.Second {
		t.Errorf("failover took %v, want about 2 x 50ms", el)
	}
	if dis, perm, left := p.nodes[0].state(); !dis || perm || left < 59 {
		t.Errorf("silent instance: disabled %v permanent %v recheck %d", dis, perm, left)
	}
	// The disabled instance is skipped now: no further sends to it.
	if _, n, err := p.call(context.Background(), 0, "call-2", offerCmd("call-2")); err != nil || n.def.URL != b.url() {
		t.Fatalf("second call: %v %v", n, err)
	}
	if got := a.count("offer"); got != 2 {
		t.Errorf("disabled instance still got commands: %d", got)
	}
}

func TestAllInstancesDownFailsWithinTheBound(t *testing.T) {
	a, b := newFakeNG(t), newFakeNG(t)
	a.silent()
	b.silent()
	p, _ := testPool(t, 30*time.Millisecond, 2, a.url(), b.url())
	start := time.Now()
	_, _, err := p.call(context.Background(), 0, "c", offerCmd("c"))
	if !errors.Is(err, errTimeout) {
		t.Fatalf("want a timeout, got %v", err)
	}
	if el := time.Since(start); el > 500*time.Millisecond {
		t.Errorf("took %v", el)
	}
	// Both disabled, aggressive redetection off: no instance at all.
	if _, _, err := p.call(context.Background(), 0, "d", offerCmd("d")); !errors.Is(err, errNoInstance) {
		t.Fatalf("want no instance, got %v", err)
	}
	// With aggressive redetection, an instance that answers again is used.
	p.aggressive = true
	b.setHandle(b.defaultHandle)
	if _, n, err := p.call(context.Background(), 0, "e", offerCmd("e")); err != nil || n.def.URL != b.url() {
		t.Fatalf("after redetection: %v %v", n, err)
	}
}

func TestScriptDeadlineStopsTheWait(t *testing.T) {
	a := newFakeNG(t)
	a.silent()
	p, _ := testPool(t, time.Second, 5, a.url())
	ctx, cancel := context.WithTimeout(context.Background(), 80*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, _, err := p.call(ctx, 0, "c", offerCmd("c")); err == nil {
		t.Fatal("no error")
	}
	if el := time.Since(start); el > 400*time.Millisecond {
		t.Errorf("waited %v past an 80ms deadline", el)
	}
}

func TestRefusedPortFailsOverAtOnce(t *testing.T) {
	// A port nobody listens on: the kernel answers ICMP port unreachable.
	c, _ := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	dead := c.LocalAddr().(*net.UDPAddr).Port
	c.Close()
	b := newFakeNG(t)
	p, _ := testPool(t, 2*time.Second, 3, "udp:127.0.0.1:"+strconv.Itoa(dead)+"=1000", b.url()+"=1")
	start := time.Now()
	_, n, err := p.call(context.Background(), 0, "x", offerCmd("x"))
	if err != nil || n.def.URL != b.url() {
		t.Fatalf("%v %v", n, err)
	}
	if el := time.Since(start); el > time.Second {
		t.Errorf("refused instance cost %v (want no timeout wait)", el)
	}
}

func TestMalformedRepliesAreRejected(t *testing.T) {
	a := newFakeNG(t)
	p, _ := testPool(t, 100*time.Millisecond, 1, a.url())
	bad := map[string]func(cookie string) []byte{
		"not bencode":    func(c string) []byte { return []byte(c + " hello") },
		"not a dict":     func(c string) []byte { return []byte(c + " l2:oke") },
		"no result":      func(c string) []byte { return []byte(c + " d3:sdp1:xe") },
		"trailing bytes": func(c string) []byte { return []byte(c + " d6:result2:okeXX") },
	}
	for name, f := range bad {
		f := f
		a.setRaw(func(cookie string, _ map[string]any) []byte { return f(cookie) })
		_, _, err := p.call(context.Background(), 0, "m-"+name, offerCmd("m"))
		if !errors.Is(err, errMalformed) {
			t.Errorf("%s: got %v, want malformed", name, err)
		}
		if dis, _, _ := p.nodes[0].state(); dis {
			t.Errorf("%s: a malformed reply disabled the instance", name)
		}
	}
	// A reply without cookie, or for another cookie, is dropped: timeout.
	a.setRaw(func(string, map[string]any) []byte { return []byte("d6:result2:oke") })
	if _, _, err := p.call(context.Background(), 0, "nc", offerCmd("nc")); !errors.Is(err, errTimeout) {
		t.Errorf("no cookie: %v", err)
	}
	a.setRaw(func(string, map[string]any) []byte { return []byte("other d6:result2:oke") })
	p.nodes[0].enable()
	if _, _, err := p.call(context.Background(), 0, "oc", offerCmd("oc")); !errors.Is(err, errTimeout) {
		t.Errorf("other cookie: %v", err)
	}
}

func TestWeightsAndStickiness(t *testing.T) {
	a, b := newFakeNG(t), newFakeNG(t)
	p, _ := testPool(t, 200*time.Millisecond, 2, a.url()+"=3", b.url()+"=1")
	p.hashAlgo = 2
	for i := 0; i < 400; i++ {
		id := fmt.Sprintf("call-%d@x", i)
		_, n, err := p.call(context.Background(), 0, id, offerCmd(id))
		if err != nil {
			t.Fatal(err)
		}
		p.remember(id, n)
	}
	// Counted in offers received: a retry after a slow reply on a loaded
	// machine may add one, so the share is what is checked.
	na, nb := a.count("offer"), b.count("offer")
	if share := float64(na) / float64(na+nb); na+nb < 400 || share < 0.6 || share > 0.9 {
		t.Errorf("weights 3:1 gave %d:%d", na, nb)
	}
	// A call stays on its instance even when the weights would say otherwise.
	p.remember("sticky", p.nodes[1])
	p.nodes[0].weight.Store(1000)
	for i := 0; i < 5; i++ {
		if _, n, _ := p.call(context.Background(), 0, "sticky", offerCmd("sticky")); n != p.nodes[1] {
			t.Fatalf("sticky call went to %s", n.def.URL)
		}
	}
	if p.stickyCount() != 401 {
		t.Errorf("hash total %d", p.stickyCount())
	}
	p.forget("sticky")
	p.expire(time.Now().Add(2 * time.Hour))
	if p.stickyCount() != 0 {
		t.Errorf("expired bindings kept: %d", p.stickyCount())
	}
}

func TestDisabledInstanceIsRetestedAfterItsTime(t *testing.T) {
	a := newFakeNG(t)
	p, _ := testPool(t, 50*time.Millisecond, 1, a.url())
	p.disableTout = 100 * time.Millisecond
	p.nodes[0].disable(p.disableTout)
	if _, _, err := p.call(context.Background(), 0, "x", offerCmd("x")); !errors.Is(err, errNoInstance) {
		t.Fatalf("disabled instance used: %v", err)
	}
	time.Sleep(150 * time.Millisecond)
	if _, _, err := p.call(context.Background(), 0, "x", offerCmd("x")); err != nil {
		t.Fatalf("after disable_tout: %v", err)
	}
	if a.count("ping") != 1 {
		t.Errorf("retest pings: %d", a.count("ping"))
	}
	// Permanently disabled (rtpengine.enable 0): never, unless allow_op.
	p.nodes[0].disablePermanent()
	p.remember("y", p.nodes[0])
	if _, _, err := p.call(context.Background(), 0, "y", offerCmd("y")); err == nil {
		t.Fatal("permanently disabled instance used")
	}
	p.allowOp = 2
	if _, _, err := p.call(context.Background(), 0, "y", map[string]any{"command": "delete", "call-id": "y", "from-tag": "f"}); err != nil {
		t.Fatalf("allow_op=2 for an existing call: %v", err)
	}
}

func TestQueriedNodesLimit(t *testing.T) {
	a, b, c := newFakeNG(t), newFakeNG(t), newFakeNG(t)
	a.silent()
	b.silent()
	p, _ := testPool(t, 20*time.Millisecond, 1, a.url()+"=100", b.url()+"=100", c.url()+"=1")
	p.queriedLimit = 2
	_, _, err := p.call(context.Background(), 0, "q", offerCmd("q"))
	if err == nil || !strings.Contains(err.Error(), "no reply") {
		t.Fatalf("want failure after 2 instances, got %v", err)
	}
	if c.count("offer") != 0 {
		t.Error("third instance queried beyond queried_nodes_limit")
	}
}
