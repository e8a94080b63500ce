package e2e

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestFlood: 50 000 OPTIONS from a few sockets as fast as possible against a
// small queue and two workers. The server sheds load with 503 + Retry-After,
// keeps its memory and goroutines bounded, and answers normally afterwards.
// Not parallel: it saturates the machine.
func TestFlood(t *testing.T) {
	const (
		total      = 50000
		senders    = 4
		retryAfter = "7"
		rssLimitKB = 300 * 1024
	)
	s := StartServer(t, Opts{Script: "ok200.lua", LuaWorkers: 2,
		Core: []string{"queue_size: 256", "retry_after: " + retryAfter}})
	info := s.Info()
	baseG := num(t, info, "goroutines")
	if q := num(t, info, "queue_size"); q != 256 {
		t.Errorf("core.info queue_size = %d, want 256", q)
	}
	t.Logf("before: goroutines %d, RSS %d kB", baseG, s.RSS())

	var ok200, shed503, shedNoRA, other, unparsable atomic.Int64
	var peakRSS atomic.Int64
	clients := make([]*UDPClient, senders)
	msgs := make([][][]byte, senders)
	for i := range clients {
		clients[i] = NewUDP(t)
		for j := 0; j < total/senders; j++ {
			msgs[i] = append(msgs[i], []byte(NewReq(optionsTmpl, clients[i].Addr, s.Addr, "UDP").Text))
		}
	}

	sendDone := make(chan struct{})
	var recvWG sync.WaitGroup
	for _, c := range clients {
		c := c
		recvWG.Add(1)
		go func() { // read replies until 2 s after the last send
			defer recvWG.Done()
			buf := make([]byte, 65536)
			quietUntil := time.Time{}
			for {
				select {
				case <-sendDone:
					if quietUntil.IsZero() {
						quietUntil = time.Now().Add(2 * time.Second)
					}
				default:
				}
				if !quietUntil.IsZero() && time.Now().After(quietUntil) {
					return
				}
				_ = c.Conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
				n, _, err := c.Conn.ReadFromUDP(buf)
				if err != nil {
					continue
				}
				m, err := ParseMsg(string(buf[:n]))
				switch {
				case err != nil:
					unparsable.Add(1)
				case m.Code == 200:
					ok200.Add(1)
				case m.Code == 503:
					shed503.Add(1)
					if m.Get("retry-after") != retryAfter {
						shedNoRA.Add(1)
					}
				default:
					other.Add(1)
				}
			}
		}()
	}
	stopRSS := make(chan struct{})
	var rssWG sync.WaitGroup
	rssWG.Add(1)
	go func() {
		defer rssWG.Done()
		for {
			if r := s.RSS(); r > peakRSS.Load() {
				peakRSS.Store(r)
			}
			select {
			case <-stopRSS:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()

	start := time.Now()
	sendDeadline := start.Add(30 * time.Second)
	var sent atomic.Int64
	var sendWG sync.WaitGroup
	for i, c := range clients {
		i, c := i, c
		sendWG.Add(1)
		go func() {
			defer sendWG.Done()
			dst := s.Addr
			ua, _ := net.ResolveUDPAddr("udp", dst)
			for j, m := range msgs[i] {
				if j%256 == 0 && time.Now().After(sendDeadline) {
					return
				}
				if _, err := c.Conn.WriteToUDP(m, ua); err == nil {
					sent.Add(1)
				}
			}
		}()
	}
	sendWG.Wait()
	sendTime := time.Since(start)
	close(sendDone)
	recvWG.Wait()
	close(stopRSS)
	rssWG.Wait()

	if !s.Alive() {
		t.Fatalf("the server died under the flood")
	}
	st := s.Stats("core:rcv_requests", "core:shed_requests", "core:shed_drops", "core:local_replies")
	t.Logf("sent %d in %v; replies: 200 %d, 503 %d, other %d, unparsable %d; server: rcv_requests %d, shed_requests %d, shed_drops %d, local_replies %d; peak RSS %d kB",
		sent.Load(), sendTime.Round(time.Millisecond), ok200.Load(), shed503.Load(), other.Load(), unparsable.Load(),
		st["core:rcv_requests"], st["core:shed_requests"], st["core:shed_drops"], st["core:local_replies"], peakRSS.Load())

	if sent.Load() < total/2 {
		t.Errorf("only %d of %d messages could be sent in 30 s", sent.Load(), total)
	}
	if ok200.Load()+shed503.Load() == 0 {
		t.Errorf("no replies at all during the flood")
	}
	if other.Load() > 0 || unparsable.Load() > 0 {
		t.Errorf("%d replies were neither 200 nor 503, %d unparsable", other.Load(), unparsable.Load())
	}
	if shedNoRA.Load() > 0 {
		t.Errorf("%d of %d 503 replies lack \"Retry-After: %s\"", shedNoRA.Load(), shed503.Load(), retryAfter)
	}
	// 256 slots and two workers against ~100k messages/s: the queue fills.
	if shed503.Load() == 0 {
		t.Errorf("no 503 at all: the queue never shed load")
	}
	if shed503.Load() > 0 && st["core:shed_requests"] == 0 {
		t.Errorf("503 seen but core:shed_requests is 0")
	}
	if p := peakRSS.Load(); p > rssLimitKB {
		t.Errorf("peak RSS %d kB above %d kB", p, rssLimitKB)
	}

	// Back to normal: the queue drains and goroutines return near the baseline.
	var g, q int
	for i := 0; i < 50; i++ {
		info = s.Info()
		g, q = num(t, info, "goroutines"), num(t, info, "queue_length")
		if q == 0 && g <= baseG+10 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if q != 0 {
		t.Errorf("queue_length %d after the flood", q)
	}
	if g > baseG+10 {
		t.Errorf("goroutines %d after the flood, baseline %d", g, baseG)
	}
	if r := s.RSS(); r > rssLimitKB {
		t.Errorf("RSS %d kB after the flood, above %d kB", r, rssLimitKB)
	} else {
		t.Logf("after: goroutines %d, RSS %d kB", g, r)
	}
	r := s.KeepaliveOK(t, 200, 2*time.Second)
	if !strings.EqualFold(r.Reason, "OK") {
		t.Errorf("OPTIONS after the flood: %q", r.First)
	}
}

// num reads a numeric field of a decoded JSON object.
func num(t *testing.T, m map[string]any, key string) int {
	t.Helper()
	f, ok := m[key].(float64)
	if !ok {
		t.Fatalf("core.info has no number %q: %v", key, m)
	}
	return int(f)
}

// TestShedRetransmissions fills a queue of two behind one busy worker: the
// next new request gets one 503 + Retry-After, and retransmissions — of a
// queued request and of the one answered 503 — get nothing, so no caller
// sees a 503 for a request that is answered normally later.
func TestShedRetransmissions(t *testing.T) {
	s := StartServer(t, Opts{Script: "slow.lua", Replace: map[string]string{"SLOW_LOOPS": "8000000"},
		LuaWorkers: 1, TimeoutMS: 20000, Core: []string{"queue_size: 2", "retry_after: 9"}})
	c := NewUDP(t)
	mk := func(user string) Req {
		return NewReq(strings.Replace(optionsTmpl, "OPTIONS sip:{srv}", "OPTIONS sip:"+user+"@{srv}", 1), c.Addr, s.Addr, "UDP")
	}
	a, b, q, d := mk("slow"), mk("b"), mk("c"), mk("d")
	c.Send(s.Addr, []byte(a.Text))
	time.Sleep(300 * time.Millisecond) // the worker takes A and loops
	for _, r := range []Req{b, q, d, q, d} {
		c.Send(s.Addr, []byte(r.Text))
	}
	got := map[string][]int{}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) && len(got[a.CallID])+len(got[b.CallID])+len(got[q.CallID]) < 3 {
		m, err := c.Recv(time.Until(deadline))
		if err != nil {
			break
		}
		got[m.Get("call-id")] = append(got[m.Get("call-id")], m.Code)
		if m.Code == 503 && m.Get("retry-after") != "9" {
			t.Errorf("503 without Retry-After: 9: %q", m.Get("retry-after"))
		}
	}
	c.ExpectNothing(t, 700*time.Millisecond, "after the queue drained")
	for _, w := range []struct {
		name string
		r    Req
		want []int
	}{{"A (slow)", a, []int{200}}, {"B", b, []int{200}}, {"C (queued, retransmitted)", q, []int{200}},
		{"D (shed, retransmitted)", d, []int{503}}} {
		if fmt.Sprint(got[w.r.CallID]) != fmt.Sprint(w.want) {
			t.Errorf("%s: replies %v, want %v", w.name, got[w.r.CallID], w.want)
		}
	}
	if n := s.Stat("core:shed_requests"); n != 1 {
		t.Errorf("core:shed_requests = %d, want 1", n)
	}
	if n := s.Stat("core:shed_drops"); n != 2 {
		t.Errorf("core:shed_drops = %d, want 2 (the two retransmissions)", n)
	}
}
