// Package transport owns the SIP sockets: UDP and TCP listeners whose readers
// hand complete messages to a delivery function, and a sender that writes from
// the listening socket (UDP) or over a kept connection (TCP).
//
// sipgo's transport layer is not used: it spawns a goroutine per message, grows
// its UDP pool per source address and cannot refuse to connect. Here the number
// of goroutines is bounded by the listeners plus the connection limit.
package transport

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/luasbc/luasbc/core/msg"
	"github.com/luasbc/luasbc/core/stats"
)

// Packet is one received message, ready to parse.
type Packet struct {
	Data   []byte
	Src    netip.AddrPort
	Sock   *msg.Socket
	ConnID uint64
}

// Options tune the layer.
type Options struct {
	MaxMessage     int
	ConnLifetime   time.Duration // idle lifetime of a TCP connection
	MaxConnections int
	DialTimeout    time.Duration
	WriteTimeout   time.Duration
	// OnBad is told about input dropped before it became a message (an
	// oversized datagram, a stream that cannot be framed), so the core counts
	// and logs it like a parse failure.
	OnBad func(src netip.AddrPort, sock *msg.Socket, size int, reason string)
	// OnClose is told the id of every stream connection that ends.
	OnClose func(connID uint64)
}

// SendOpts choose how a message leaves.
type SendOpts struct {
	From      *msg.Socket // preferred local socket
	ConnID    uint64      // stream connection to use first
	NoConnect bool        // streams: only reuse an existing connection
	Close     bool        // streams: close after writing
	// Ctx, when set, bounds connection set-up besides DialTimeout (the
	// deadline of the script callback that sends).
	Ctx context.Context
}

// ErrNoConnection is returned when NoConnect forbids opening a connection.
var ErrNoConnection = errors.New("no existing connection and connecting is not allowed")

// Layer is the set of listeners and connections.
type Layer struct {
	opts    Options
	log     *zap.Logger
	deliver func(Packet)
	udp     []*udpSock
	tcp     []*tcpListener
	Sockets []*msg.Socket

	mu     sync.Mutex
	conns  map[uint64]*tcpConn
	byAddr map[netip.AddrPort]*tcpConn
	nextID atomic.Uint64
	closed atomic.Bool
	wg     sync.WaitGroup

	statConns *stats.Counter
	statRecv  *stats.Counter
	statSent  *stats.Counter
	statErr   *stats.Counter
	statRefus *stats.Counter
}

type udpSock struct {
	sock *msg.Socket
	conn *net.UDPConn
}

type tcpListener struct {
	sock *msg.Socket
	ln   *net.TCPListener
}

type tcpConn struct {
	id     uint64
	c      *net.TCPConn
	sock   *msg.Socket
	remote netip.AddrPort
	wmu    sync.Mutex
	closed atomic.Bool
}

// New creates an empty layer; deliver is called from reader goroutines and must not block for long.
func New(opts Options, log *zap.Logger, deliver func(Packet)) *Layer {
	if opts.MaxMessage <= 0 {
		opts.MaxMessage = 65535
	}
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = 3 * time.Second
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = 3 * time.Second
	}
	if opts.ConnLifetime <= 0 {
		opts.ConnLifetime = 120 * time.Second
	}
	if opts.MaxConnections <= 0 {
		opts.MaxConnections = 2048
	}
	l := &Layer{
		opts: opts, log: log, deliver: deliver,
		conns:     map[uint64]*tcpConn{},
		byAddr:    map[netip.AddrPort]*tcpConn{},
		statConns: stats.New("tcp", "current_opened_connections", "open TCP connections"),
		statRecv:  stats.New("core", "rcv_packets", "packets and stream messages received"),
		statSent:  stats.New("core", "snd_packets", "packets and stream messages sent"),
		statErr:   stats.New("core", "snd_errors", "send failures"),
		statRefus: stats.New("tcp", "refused_connections", "connections refused at the limit"),
	}
	return l
}

// ListenUDP binds a UDP socket.
func (l *Layer) ListenUDP(addr netip.AddrPort) (*msg.Socket, error) {
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(addr))
	if err != nil {
		return nil, err
	}
	// Large buffers absorb bursts before the reader catches up.
	_ = c.SetReadBuffer(8 << 20)
	_ = c.SetWriteBuffer(8 << 20)
	la := c.LocalAddr().(*net.UDPAddr).AddrPort()
	s := &msg.Socket{Proto: msg.UDP, Addr: netip.AddrPortFrom(la.Addr().Unmap(), la.Port())}
	s.Name = "udp:" + s.Addr.String()
	l.udp = append(l.udp, &udpSock{sock: s, conn: c})
	l.Sockets = append(l.Sockets, s)
	return s, nil
}

// ListenTCP binds a TCP listener.
func (l *Layer) ListenTCP(addr netip.AddrPort) (*msg.Socket, error) {
	ln, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(addr))
	if err != nil {
		return nil, err
	}
	la := ln.Addr().(*net.TCPAddr).AddrPort()
	s := &msg.Socket{Proto: msg.TCP, Addr: netip.AddrPortFrom(la.Addr().Unmap(), la.Port())}
	s.Name = "tcp:" + s.Addr.String()
	l.tcp = append(l.tcp, &tcpListener{sock: s, ln: ln})
	l.Sockets = append(l.Sockets, s)
	return s, nil
}

// Start runs the readers.
func (l *Layer) Start() {
	for _, u := range l.udp {
		l.wg.Add(1)
		go l.readUDP(u)
	}
	for _, t := range l.tcp {
		l.wg.Add(1)
		go l.accept(t)
	}
}

// Close stops listeners and closes every connection.
func (l *Layer) Close() {
	if l.closed.Swap(true) {
		return
	}
	for _, u := range l.udp {
		_ = u.conn.Close()
	}
	for _, t := range l.tcp {
		_ = t.ln.Close()
	}
	l.mu.Lock()
	for _, c := range l.conns {
		_ = c.c.Close()
	}
	l.mu.Unlock()
	l.wg.Wait()
}

func (l *Layer) readUDP(u *udpSock) {
	defer l.wg.Done()
	buf := make([]byte, 65536)
	for {
		n, src, err := u.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if l.closed.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			// ICMP-triggered errors and the like must not end the listener.
			l.log.Debug("udp read", zap.Error(err))
			continue
		}
		if n == 0 {
			continue
		}
		if n > l.opts.MaxMessage {
			l.bad(src, u.sock, n, fmt.Sprintf("datagram of %d bytes exceeds max_message_size %d", n, l.opts.MaxMessage))
			continue
		}
		// Keep-alive datagrams (CRLF, or a single NUL from some UAs) carry no message.
		if n <= 4 && isKeepalive(buf[:n]) {
			continue
		}
		l.statRecv.Inc()
		data := make([]byte, n)
		copy(data, buf[:n])
		l.deliver(Packet{Data: data, Src: netip.AddrPortFrom(src.Addr().Unmap(), src.Port()), Sock: u.sock})
	}
}

func (l *Layer) bad(src netip.AddrPort, sock *msg.Socket, size int, reason string) {
	src = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
	if l.opts.OnBad != nil {
		l.opts.OnBad(src, sock, size, reason)
		return
	}
	l.log.Info("input dropped", zap.String("src", src.String()), zap.String("reason", reason))
}

func isKeepalive(b []byte) bool {
	for _, c := range b {
		if c != '\r' && c != '\n' && c != 0 && c != ' ' {
			return false
		}
	}
	return true
}

func (l *Layer) accept(t *tcpListener) {
	defer l.wg.Done()
	for {
		c, err := t.ln.AcceptTCP()
		if err != nil {
			if l.closed.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			l.log.Warn("tcp accept", zap.Error(err))
			time.Sleep(10 * time.Millisecond)
			continue
		}
		if _, err := l.addConn(c, t.sock); err != nil {
			l.statRefus.Inc()
			_ = c.Close()
		}
	}
}

func (l *Layer) addConn(c *net.TCPConn, sock *msg.Socket) (*tcpConn, error) {
	ra := c.RemoteAddr().(*net.TCPAddr).AddrPort()
	tc := &tcpConn{id: l.nextID.Add(1), c: c, sock: sock, remote: netip.AddrPortFrom(ra.Addr().Unmap(), ra.Port())}
	l.mu.Lock()
	if len(l.conns) >= l.opts.MaxConnections {
		l.mu.Unlock()
		return nil, fmt.Errorf("connection limit %d reached", l.opts.MaxConnections)
	}
	l.conns[tc.id] = tc
	l.byAddr[tc.remote] = tc
	l.statConns.Set(int64(len(l.conns)))
	l.mu.Unlock()
	_ = c.SetNoDelay(true)
	l.wg.Add(1)
	go l.readTCP(tc)
	return tc, nil
}

func (l *Layer) dropConn(tc *tcpConn) {
	if tc.closed.Swap(true) {
		return
	}
	_ = tc.c.Close()
	l.mu.Lock()
	delete(l.conns, tc.id)
	if l.byAddr[tc.remote] == tc {
		delete(l.byAddr, tc.remote)
	}
	l.statConns.Set(int64(len(l.conns)))
	l.mu.Unlock()
	if l.opts.OnClose != nil {
		l.opts.OnClose(tc.id)
	}
}

func (l *Layer) readTCP(tc *tcpConn) {
	defer l.wg.Done()
	defer l.dropConn(tc)
	buf := make([]byte, 0, 4096)
	tmp := make([]byte, 16384)
	for {
		_ = tc.c.SetReadDeadline(time.Now().Add(l.opts.ConnLifetime))
		n, err := tc.c.Read(tmp)
		if n > 0 {
			buf = append(buf, tmp[:n]...)
			for {
				skip, size, ping, ferr := Frame(buf, l.opts.MaxMessage)
				if ping {
					_ = l.writeConn(tc, []byte("\r\n"))
				}
				if ferr != nil {
					l.bad(tc.remote, tc.sock, len(buf), "stream closed: "+ferr.Error())
					return
				}
				if size == 0 {
					buf = append(buf[:0], buf[skip:]...)
					break
				}
				l.statRecv.Inc()
				data := make([]byte, size)
				copy(data, buf[skip:skip+size])
				buf = append(buf[:0], buf[skip+size:]...)
				l.deliver(Packet{Data: data, Src: tc.remote, Sock: tc.sock, ConnID: tc.id})
			}
			if cap(buf) > 1<<17 && len(buf) < 4096 {
				buf = append(make([]byte, 0, 4096), buf...)
			}
		}
		if err != nil {
			return
		}
	}
}

func (l *Layer) writeConn(tc *tcpConn, b []byte) error {
	tc.wmu.Lock()
	defer tc.wmu.Unlock()
	_ = tc.c.SetWriteDeadline(time.Now().Add(l.opts.WriteTimeout))
	_, err := tc.c.Write(b)
	if err != nil {
		go l.dropConn(tc)
	}
	return err
}

// PickSocket returns a local socket for proto and the address family of dst,
// preferring from.
func (l *Layer) PickSocket(proto msg.Proto, dst netip.Addr, from *msg.Socket) *msg.Socket {
	if from != nil && from.Proto == proto && from.Addr.Addr().Is4() == dst.Is4() {
		return from
	}
	var fallback *msg.Socket
	for _, s := range l.Sockets {
		if s.Proto != proto {
			continue
		}
		if s.Addr.Addr().Is4() == dst.Is4() {
			if s.Addr.Addr().IsLoopback() == dst.IsLoopback() {
				return s
			}
			if fallback == nil {
				fallback = s
			}
		}
	}
	return fallback
}

// Send writes data to dst over proto.
func (l *Layer) Send(proto msg.Proto, dst netip.AddrPort, data []byte, o SendOpts) (*msg.Socket, error) {
	s, _, err := l.SendConn(proto, dst, data, o)
	return s, err
}

// SendConn is Send that also returns the stream connection used (0 for
// UDP), so a caller can notice when that connection ends.
func (l *Layer) SendConn(proto msg.Proto, dst netip.AddrPort, data []byte, o SendOpts) (*msg.Socket, uint64, error) {
	if l.closed.Load() {
		return nil, 0, errors.New("transport closed")
	}
	var err error
	var used *msg.Socket
	var conn uint64
	switch proto {
	case msg.UDP:
		used, err = l.sendUDP(dst, data, o)
	case msg.TCP:
		used, conn, err = l.sendTCP(dst, data, o)
	default:
		err = fmt.Errorf("transport %s not supported", proto)
	}
	if err != nil {
		l.statErr.Inc()
		return used, conn, err
	}
	l.statSent.Inc()
	return used, conn, nil
}

func (l *Layer) sendUDP(dst netip.AddrPort, data []byte, o SendOpts) (*msg.Socket, error) {
	s := l.PickSocket(msg.UDP, dst.Addr(), o.From)
	if s == nil {
		return nil, fmt.Errorf("no UDP socket for %s", dst)
	}
	for _, u := range l.udp {
		if u.sock == s {
			_, err := u.conn.WriteToUDPAddrPort(data, dst)
			return s, err
		}
	}
	return nil, errors.New("socket not found")
}

func (l *Layer) sendTCP(dst netip.AddrPort, data []byte, o SendOpts) (*msg.Socket, uint64, error) {
	var tc *tcpConn
	l.mu.Lock()
	if o.ConnID != 0 {
		tc = l.conns[o.ConnID]
	}
	if tc == nil {
		tc = l.byAddr[dst]
	}
	l.mu.Unlock()
	if tc == nil {
		if o.NoConnect {
			return nil, 0, ErrNoConnection
		}
		var err error
		tc, err = l.dial(o.Ctx, dst, o.From)
		if err != nil {
			return nil, 0, err
		}
	}
	err := l.writeConn(tc, data)
	if o.Close {
		l.dropConn(tc)
	}
	return tc.sock, tc.id, err
}

func (l *Layer) dial(parent context.Context, dst netip.AddrPort, from *msg.Socket) (*tcpConn, error) {
	s := l.PickSocket(msg.TCP, dst.Addr(), from)
	d := net.Dialer{Timeout: l.opts.DialTimeout}
	if s != nil && !s.Addr.Addr().IsUnspecified() {
		d.LocalAddr = &net.TCPAddr{IP: s.Addr.Addr().AsSlice()}
	}
	if parent == nil {
		parent = context.Background()
	}
	ctx, cancel := context.WithTimeout(parent, l.opts.DialTimeout)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", dst.String())
	if err != nil {
		return nil, err
	}
	if s == nil {
		s = &msg.Socket{Proto: msg.TCP}
	}
	return l.addConn(c.(*net.TCPConn), s)
}

// ConnAlive reports whether a stream connection id is still open.
func (l *Layer) ConnAlive(id uint64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, ok := l.conns[id]
	return ok
}

// ConnCount is the number of open stream connections.
func (l *Layer) ConnCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}
