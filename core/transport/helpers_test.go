package transport

import (
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/luasbc/luasbc/core/msg"
)

// testLayer is a layer whose delivered packets and bad-input reports are
// collected.
type testLayer struct {
	*Layer
	pkts chan Packet
	mu   sync.Mutex
	bads []string
}

func newTestLayer(t *testing.T, o Options) *testLayer {
	t.Helper()
	tl := &testLayer{pkts: make(chan Packet, 64)}
	o.OnBad = func(_ netip.AddrPort, _ *msg.Socket, _ int, reason string) {
		tl.mu.Lock()
		tl.bads = append(tl.bads, reason)
		tl.mu.Unlock()
	}
	tl.Layer = New(o, nil, func(p Packet) { tl.pkts <- p })
	t.Cleanup(tl.Close)
	return tl
}

func (tl *testLayer) badReasons() []string {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return append([]string(nil), tl.bads...)
}

// waitBad waits for a bad-input report containing sub.
func (tl *testLayer) waitBad(t *testing.T, sub string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		for _, r := range tl.badReasons() {
			if contains(r, sub) {
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no bad-input report with %q; got %q", sub, tl.badReasons())
}

func (tl *testLayer) next(t *testing.T) Packet {
	t.Helper()
	select {
	case p := <-tl.pkts:
		return p
	case <-time.After(3 * time.Second):
		t.Fatal("no packet delivered")
	}
	return Packet{}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

var loop = netip.MustParseAddrPort("127.0.0.1:0")

const optMsg = "OPTIONS sip:a@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:5099;branch=z9hG4bK1\r\nContent-Length: 0\r\n\r\n"
