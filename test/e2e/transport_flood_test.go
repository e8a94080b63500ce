package e2e

import (
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestSlowlorisFlood: thousands of TCP connections that send nothing and
// hundreds that stall in the TLS handshake, opened as fast as the machine
// allows, while a legitimate caller keeps asking over UDP, over a kept TCP
// connection, over a kept TLS connection and over fresh TCP connections.
// Every one of its requests is answered promptly: silent connections are
// closed to make room at the limit and at tcp_msg_data_timeout, counted
// and logged once.
func TestSlowlorisFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("flood test")
	}
	x := startXport(t, xportOpts{Script: "bridge.lua", TLS: true, Replace: routes(),
		Core: []string{"tcp_max_connections: 1000", "tls_max_connections: 300", "tcp_msg_data_timeout: 3"}})
	udp := NewUDP(t)
	keptTCP := DialTCP(t, x.Addr)
	keptTLS := x.DialTLS(t, "sbc.test")
	ask := func(what string, do func() (*Msg, error)) time.Duration {
		t.Helper()
		start := time.Now()
		m, err := do()
		if err != nil || m.Code != 200 {
			t.Fatalf("%s during the flood: %v %v", what, m, err)
		}
		return time.Since(start)
	}
	probe := func() time.Duration {
		var worst time.Duration
		for _, d := range []time.Duration{
			ask("UDP", func() (*Msg, error) {
				return udp.Exchange(x.Addr, NewReq(optionsTmpl, udp.Addr, x.Addr, "UDP"), 2*time.Second)
			}),
			ask("kept TCP", func() (*Msg, error) {
				return keptTCP.Exchange(NewReq(optionsTmpl, keptTCP.Addr, x.Addr, "TCP"), 2*time.Second)
			}),
			ask("kept TLS", func() (*Msg, error) {
				return keptTLS.Exchange(NewReq(optionsTmpl, keptTLS.Addr, x.TLSAddr, "TLS"), 2*time.Second)
			}),
			ask("new TCP", func() (*Msg, error) {
				c := DialTCP(t, x.Addr)
				defer c.Conn.Close()
				return c.Exchange(NewReq(optionsTmpl, c.Addr, x.Addr, "TCP"), 2*time.Second)
			}),
		} {
			worst = max(worst, d)
		}
		return worst
	}
	probe()

	// The flood: 3000 idle TCP and 600 stalled TLS connections, bounded in
	// count and time, from two goroutines each.
	var opened atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	flood := func(addr string, n int) {
		defer wg.Done()
		for i := 0; i < n; i++ {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err != nil {
				continue
			}
			opened.Add(1)
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}
	for _, a := range []struct {
		addr string
		n    int
	}{{x.Addr, 1500}, {x.Addr, 1500}, {x.TLSAddr, 300}, {x.TLSAddr, 300}} {
		wg.Add(1)
		go flood(a.addr, a.n)
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	t.Cleanup(func() {
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	var worst time.Duration
	probes := 0
	deadline := time.Now().Add(20 * time.Second)
loop:
	for time.Now().Before(deadline) {
		worst = max(worst, probe())
		probes++
		select {
		case <-done:
			break loop
		case <-time.After(50 * time.Millisecond):
		}
	}
	// And once more while every flood connection is still open.
	worst = max(worst, probe())
	t.Logf("flood: %d connections opened, %d probe rounds, slowest answer %v", opened.Load(), probes, worst)
	if worst > time.Second {
		t.Errorf("a legitimate request took %v during the flood", worst)
	}
	if opened.Load() < 2000 {
		t.Errorf("only %d flood connections opened", opened.Load())
	}
	if n := x.Stat("tcp:evicted_connections"); n < 1000 {
		t.Errorf("tcp:evicted_connections = %d, want the silent ones evicted at the limit", n)
	}
	// The silent ones left are closed at tcp_msg_data_timeout (3s after
	// they were accepted).
	var tcpOpen, tlsOpen int64
	for end := time.Now().Add(8 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		tcpOpen, tlsOpen = x.Stat("tcp:current_opened_connections"), x.Stat("tls:opened_connections")
		if tcpOpen <= 5 && tlsOpen <= 5 {
			break
		}
	}
	if tcpOpen > 5 || tlsOpen > 5 {
		t.Errorf("%d TCP and %d TLS connections still open well after tcp_msg_data_timeout", tcpOpen, tlsOpen)
	}
	probe()
	logs := x.Logs()
	for _, reason := range []string{"no complete message within tcp_msg_data_timeout", "tls handshake timed out"} {
		if n := strings.Count(logs, reason); n != 1 {
			t.Errorf("%q logged %d times, want once", reason, n)
		}
	}
}
