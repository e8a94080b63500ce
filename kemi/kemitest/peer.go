package kemitest

import (
	"net"
	"strings"
	"testing"
	"time"
)

// Peer is a SIP user agent on a loopback UDP socket for module tests: it
// sends what the test writes and waits for what the proxy relays.
type Peer struct {
	t    testing.TB
	conn *net.UDPConn
}

// NewPeer opens a peer on an ephemeral 127.0.0.1 port, closed in Cleanup.
func NewPeer(t testing.TB) *Peer {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &Peer{t: t, conn: c}
}

// Port is the peer's UDP port.
func (p *Peer) Port() int { return p.conn.LocalAddr().(*net.UDPAddr).Port }

// Send writes raw to to, with its line ends made CRLF.
func (p *Peer) Send(to *net.UDPAddr, raw string) {
	p.t.Helper()
	if _, err := p.conn.WriteToUDP([]byte(CRLF(raw)), to); err != nil {
		p.t.Fatal(err)
	}
}

// Expect returns the next message starting with prefix within d, skipping
// others; the test fails without one.
func (p *Peer) Expect(prefix string, d time.Duration) string {
	p.t.Helper()
	deadline := time.Now().Add(d)
	buf := make([]byte, 65536)
	for {
		_ = p.conn.SetReadDeadline(deadline)
		n, _, err := p.conn.ReadFromUDP(buf)
		if err != nil {
			p.t.Fatalf("peer %d: no %q within %v", p.Port(), prefix, d)
		}
		if s := string(buf[:n]); strings.HasPrefix(s, prefix) {
			return s
		}
	}
}

// CRLF makes every line end of s CRLF (tests write messages with \n).
func CRLF(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\n", "\r\n")
}

// Headers returns the values of header name (any case) in message m.
func Headers(m, name string) []string {
	var out []string
	for _, l := range strings.Split(m, "\r\n")[1:] {
		if l == "" {
			break
		}
		k, v, ok := strings.Cut(l, ":")
		if ok && strings.EqualFold(strings.TrimSpace(k), name) {
			out = append(out, strings.TrimSpace(v))
		}
	}
	return out
}
