package e2e

import (
	"strings"
	"sync"
	"testing"
	"time"
)

// TestRunawayScript: a request that sends the script into `while true do end`
// is stopped at lua.timeout_ms; keepalives sent meanwhile and afterwards are
// answered within a second. Not parallel: it measures latency.
func TestRunawayScript(t *testing.T) {
	s := StartServer(t, Opts{Script: "runaway.lua", LuaWorkers: 2, TimeoutMS: 100})
	loopTmpl := strings.Replace(optionsTmpl, "OPTIONS sip:{srv}", "OPTIONS sip:loop@{srv}", 1)

	looper := NewUDP(t)
	var loopIDs []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // one runaway request every 150 ms for ~1.2 s
		defer wg.Done()
		for i := 0; i < 8; i++ {
			select {
			case <-stop:
				return
			default:
			}
			req := NewReq(loopTmpl, looper.Addr, s.Addr, "UDP")
			loopIDs = append(loopIDs, req.CallID)
			looper.Send(s.Addr, []byte(req.Text))
			time.Sleep(150 * time.Millisecond)
		}
	}()

	var worst time.Duration
	for i := 0; i < 12; i++ {
		c := NewUDP(t)
		req := NewReq(optionsTmpl, c.Addr, s.Addr, "UDP")
		start := time.Now()
		r, err := c.Exchange(s.Addr, req, time.Second)
		lat := time.Since(start)
		if err != nil {
			close(stop)
			wg.Wait()
			t.Fatalf("keepalive %d during runaway requests: %v", i, err)
		}
		if r.Code != 200 || r.Reason != "Alive" {
			t.Errorf("keepalive %d: %q", i, r.First)
		}
		if lat > worst {
			worst = lat
		}
		time.Sleep(100 * time.Millisecond)
	}
	wg.Wait()
	t.Logf("worst keepalive latency while runaway requests ran: %v", worst)

	// Runaway requests never reach sl_send_reply.
	for {
		m, err := looper.Recv(300 * time.Millisecond)
		if err != nil {
			break
		}
		if m.Code >= 200 && m.Code < 300 {
			t.Errorf("a runaway request got %q", m.First)
		}
	}
	if !s.WaitLog("script callback stopped", 2*time.Second) {
		t.Errorf("the log does not say the callback was stopped")
	}
	n := s.Stat("app_lua:timeouts")
	if n < 1 {
		t.Errorf("app_lua:timeouts = %d, want > 0", n)
	}
	t.Logf("app_lua:timeouts = %d for %d runaway requests", n, len(loopIDs))
	start := time.Now()
	s.KeepaliveOK(t, 200, time.Second)
	if d := time.Since(start); d > time.Second {
		t.Errorf("keepalive after the runaway requests took %v", d)
	}
}
