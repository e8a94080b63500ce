package transport

import (
	"net"
	"net/netip"
	"time"
)

// Limits are the connection limits and idle lifetime in force (RPC
// core.tcp_info, tls.info).
type Limits struct {
	MaxConnections    int
	MaxTLSConnections int
	ConnLifetime      time.Duration
}

// Limits returns the limits the layer applies, defaults filled in.
func (l *Layer) Limits() Limits {
	return Limits{MaxConnections: l.opts.MaxConnections, MaxTLSConnections: l.opts.MaxTLSConnections,
		ConnLifetime: l.opts.ConnLifetime}
}

// ConnCounts are the open connections per limit class: TCP and WS, TLS and
// WSS.
func (l *Layer) ConnCounts() (plain, secure int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.count[0], l.count[1]
}

// localAddr is the local end of c; raw is never replaced, so this is safe
// from any goroutine.
func localAddr(c *conn) netip.AddrPort {
	if a, ok := c.raw.LocalAddr().(*net.TCPAddr); ok {
		ap := a.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	return netip.AddrPort{}
}
