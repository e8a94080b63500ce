package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/luasbc/luasbc/core/msg"
)

// listener is one tcp:, tls:, ws: or wss: socket.
type listener struct {
	sock   *msg.Socket
	ln     *net.TCPListener
	tlsCfg *tls.Config // tls: and wss:
}

// conn is one stream connection. Its reader goroutine owns the read side;
// writes are serialised by wmu.
type conn struct {
	id uint64
	// raw is the TCP connection: closing it ends everything. nc is what
	// messages are read and written on (raw, or TLS over it); it is set
	// before the connection can be found by senders and not changed after.
	raw      net.Conn
	nc       net.Conn
	proto    msg.Proto
	sock     *msg.Socket
	remote   netip.AddrPort
	outbound bool
	born     time.Time
	last     atomic.Int64 // unix nanoseconds of the last read or write
	// proven is set once the connection delivered a message (or we opened
	// it): only then can senders find it, and only unproven ones are evicted.
	proven  atomic.Bool
	aliases []netip.AddrPort // guarded by Layer.mu
	wmu     sync.Mutex
	closed  atomic.Bool
	// tlsState is the handshake result, for core.tcp_list and tls.list:
	// nc itself is not safe to read from another goroutine.
	tlsState atomic.Pointer[tls.ConnectionState]
}

// connKey finds a connection by transport and remote address.
type connKey struct {
	proto msg.Proto
	addr  netip.AddrPort
}

// class is the limit a transport counts against: 0 TCP and WS, 1 TLS and WSS.
func class(p msg.Proto) int {
	if p == msg.TLS || p == msg.WSS {
		return 1
	}
	return 0
}

func (c *conn) touch() { c.last.Store(time.Now().UnixNano()) }

// ListenTCP binds a TCP listener.
func (l *Layer) ListenTCP(addr netip.AddrPort) (*msg.Socket, error) {
	return l.listenStream(msg.TCP, addr)
}

// ListenTLS binds a TLS listener; its certificate comes from the TLS
// profiles (SetTLS) for this address or the default one.
func (l *Layer) ListenTLS(addr netip.AddrPort) (*msg.Socket, error) {
	return l.listenStream(msg.TLS, addr)
}

// ListenWS binds a WebSocket listener (RFC 7118, plain).
func (l *Layer) ListenWS(addr netip.AddrPort) (*msg.Socket, error) {
	return l.listenStream(msg.WS, addr)
}

// ListenWSS binds a secure WebSocket listener (WebSocket over TLS).
func (l *Layer) ListenWSS(addr netip.AddrPort) (*msg.Socket, error) {
	return l.listenStream(msg.WSS, addr)
}

func (l *Layer) listenStream(proto msg.Proto, addr netip.AddrPort) (*msg.Socket, error) {
	var tcfg *tls.Config
	if proto == msg.TLS || proto == msg.WSS {
		if l.tls == nil {
			return nil, fmt.Errorf("%s listener without TLS settings (add a tls: profile with certificate and private_key)", proto)
		}
		var err error
		if tcfg, err = l.tls.serverConfig(addr); err != nil {
			return nil, err
		}
	}
	ln, err := net.ListenTCP(network("tcp", addr), net.TCPAddrFromAddrPort(addr))
	if err != nil {
		return nil, err
	}
	la := ln.Addr().(*net.TCPAddr).AddrPort()
	s := &msg.Socket{Proto: proto, Addr: netip.AddrPortFrom(la.Addr().Unmap(), la.Port())}
	s.Name = proto.String() + ":" + s.Addr.String()
	l.streams = append(l.streams, &listener{sock: s, ln: ln, tlsCfg: tcfg})
	l.Sockets = append(l.Sockets, s)
	return s, nil
}

// accept takes connections as fast as they come: everything that can wait
// on the client (handshakes, the first message) runs on the connection's
// own goroutine.
func (l *Layer) accept(s *listener) {
	defer l.wg.Done()
	for {
		c, err := s.ln.AcceptTCP()
		if err != nil {
			if l.closed.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: wait a little rather
			// than spin, and say so.
			l.log.Warn("accept failed", zap.String("socket", s.sock.Name), zap.Error(err))
			time.Sleep(10 * time.Millisecond)
			continue
		}
		ra := c.RemoteAddr().(*net.TCPAddr).AddrPort()
		tc := &conn{raw: c, nc: c, proto: s.sock.Proto, sock: s.sock, remote: netip.AddrPortFrom(ra.Addr().Unmap(), ra.Port()), born: time.Now()}
		tc.touch()
		if err := l.register(tc); err != nil {
			l.st.refused.Inc()
			l.logRefused(tc)
			_ = c.SetLinger(0)
			_ = c.Close()
			continue
		}
		_ = c.SetNoDelay(true)
		l.wg.Add(1)
		go l.serve(tc, s)
	}
}

// refusedLog limits the refusal log line to one per interval.
var refusedLog atomic.Int64

func (l *Layer) logRefused(c *conn) {
	now := time.Now().UnixNano()
	last := refusedLog.Load()
	if now-last < int64(10*time.Second) || !refusedLog.CompareAndSwap(last, now) {
		return
	}
	l.log.Warn("connection refused: connection limit reached", zap.String("src", c.remote.String()),
		zap.String("socket", c.sock.Name), zap.Int("tcp_max_connections", l.opts.MaxConnections),
		zap.Int("tls_max_connections", l.opts.MaxTLSConnections))
}

// register counts a new connection against its class limit, closing the
// oldest silent (unproven, inbound) connection of the class to make room.
func (l *Layer) register(c *conn) error {
	c.id = l.nextID.Add(1)
	cl := class(c.proto)
	limit := l.opts.MaxConnections
	if cl == 1 {
		limit = l.opts.MaxTLSConnections
	}
	var victim *conn
	l.mu.Lock()
	if l.count[cl] >= limit {
		for _, o := range l.conns {
			if class(o.proto) == cl && !o.outbound && !o.proven.Load() && !o.closed.Load() &&
				(victim == nil || o.born.Before(victim.born)) {
				victim = o
			}
		}
		if victim == nil {
			l.mu.Unlock()
			return ErrConnLimit
		}
		l.unlinkLocked(victim)
	}
	l.conns[c.id] = c
	l.count[cl]++
	l.gaugesLocked()
	l.mu.Unlock()
	if victim != nil {
		l.st.evicted.Inc()
		victim.closed.Store(true)
		_ = victim.raw.Close()
		if l.opts.OnClose != nil {
			l.opts.OnClose(victim.id)
		}
	}
	return nil
}

// publish makes a connection findable by its remote address.
func (l *Layer) publish(c *conn) {
	if c.proven.Swap(true) {
		return
	}
	l.mu.Lock()
	if _, ok := l.conns[c.id]; ok {
		l.byAddr[connKey{c.proto, c.remote}] = c
	}
	l.mu.Unlock()
}

func (l *Layer) gaugesLocked() {
	l.st.conns.Set(int64(l.count[0]))
	l.st.tlsConns.Set(int64(l.count[1]))
	ws := 0
	for _, c := range l.conns {
		if c.proto == msg.WS || c.proto == msg.WSS {
			ws++
		}
	}
	l.st.wsConns.Set(int64(ws))
}

// unlinkLocked removes c from the tables; it reports whether c was there.
func (l *Layer) unlinkLocked(c *conn) bool {
	if _, ok := l.conns[c.id]; !ok {
		return false
	}
	delete(l.conns, c.id)
	l.count[class(c.proto)]--
	if k := (connKey{c.proto, c.remote}); l.byAddr[k] == c {
		delete(l.byAddr, k)
	}
	for _, a := range c.aliases {
		if k := (connKey{c.proto, a}); l.byAddr[k] == c {
			delete(l.byAddr, k)
		}
	}
	l.gaugesLocked()
	return true
}

func (l *Layer) dropConn(c *conn) {
	if c.closed.Swap(true) {
		return
	}
	_ = c.raw.Close()
	l.mu.Lock()
	was := l.unlinkLocked(c)
	l.mu.Unlock()
	if was && l.opts.OnClose != nil {
		l.opts.OnClose(c.id)
	}
}

// serve is the reader goroutine of an accepted connection: handshakes,
// then messages until the connection ends.
func (l *Layer) serve(c *conn, s *listener) {
	defer l.wg.Done()
	defer l.dropConn(c)
	deadline := c.born.Add(l.opts.FirstDataTimeout)
	_ = c.nc.SetDeadline(deadline)
	if s.tlsCfg != nil {
		tc := tls.Server(c.nc, s.tlsCfg)
		if err := tc.Handshake(); err != nil {
			l.st.tlsFail.Inc()
			l.bad(c.remote, c.sock, 0, tlsReason(err))
			return
		}
		c.nc = tc
		st := tc.ConnectionState()
		c.tlsState.Store(&st)
	}
	var rest []byte
	if c.proto == msg.WS || c.proto == msg.WSS {
		var err error
		if rest, err = wsUpgrade(c.nc); err != nil {
			l.st.wsFail.Inc()
			l.bad(c.remote, c.sock, 0, wsReason(err))
			return
		}
		l.readWS(c, rest)
		return
	}
	l.readStream(c, nil)
}

// tlsReason is a stable description of a failed handshake (logged once
// per source and reason, so no addresses or random bytes in it).
func tlsReason(err error) string {
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return "tls handshake timed out (tcp_msg_data_timeout)"
	case errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrDeadlineExceeded):
		return "tls handshake: connection closed"
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return "tls handshake: network error"
	}
	return "tls handshake failed: " + err.Error()
}

func wsReason(err error) string {
	var he *errWSHandshake
	if errors.As(err, &he) {
		return he.Error()
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "websocket handshake timed out (tcp_msg_data_timeout)"
	}
	return "websocket handshake: connection closed"
}

// readDeadline is when the next read must have returned: the first-message
// bound until the connection proved itself, the message bound while a
// message is incomplete, else the idle lifetime after the last activity.
func (l *Layer) readDeadline(c *conn, partialSince time.Time) time.Time {
	d := time.Unix(0, c.last.Load()).Add(l.opts.ConnLifetime)
	if !c.proven.Load() {
		d = c.born.Add(l.opts.FirstDataTimeout)
	}
	if !partialSince.IsZero() {
		if m := partialSince.Add(l.opts.MsgReadTimeout); m.Before(d) {
			d = m
		}
	}
	return d
}

// timedOut handles a read deadline: it reports whether the connection
// must close (and counts why), or false when a write kept it alive.
func (l *Layer) timedOut(c *conn, partialSince time.Time) bool {
	now := time.Now()
	if d := l.readDeadline(c, partialSince); now.Before(d) {
		return false
	}
	switch {
	case !partialSince.IsZero() && !now.Before(partialSince.Add(l.opts.MsgReadTimeout)):
		l.bad(c.remote, c.sock, 0, "message not completed within tcp_msg_read_timeout")
	case !c.proven.Load():
		l.st.noData.Inc()
		l.bad(c.remote, c.sock, 0, "no complete message within tcp_msg_data_timeout")
	default:
		l.st.idle.Inc()
	}
	return true
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// readStream reads SIP messages framed by Content-Length (TCP, TLS).
func (l *Layer) readStream(c *conn, pre []byte) {
	buf := append(make([]byte, 0, 4096), pre...)
	tmp := make([]byte, 4096)
	var partial time.Time
	for {
		if len(buf) > 0 {
			if stop := l.frameStream(c, &buf, &partial); stop {
				return
			}
		}
		_ = c.nc.SetReadDeadline(l.readDeadline(c, partial))
		n, err := c.nc.Read(tmp)
		if n > 0 {
			c.touch()
			buf = append(buf, tmp[:n]...)
			if len(tmp) < 16384 && n == len(tmp) {
				tmp = make([]byte, 16384) // a busy connection reads in larger chunks
			}
			if partial.IsZero() {
				partial = time.Now()
			}
			continue
		}
		if err != nil {
			if isTimeout(err) && !l.timedOut(c, partial) {
				continue
			}
			return
		}
	}
}

// frameStream delivers the complete messages in buf; it reports whether
// the connection must close.
func (l *Layer) frameStream(c *conn, buf *[]byte, partial *time.Time) bool {
	for {
		skip, size, ping, ferr := Frame(*buf, l.opts.MaxMessage)
		if ping {
			// RFC 5626 §3.5.1: a double-CRLF ping gets a single CRLF pong.
			_ = l.writeRaw(c, []byte("\r\n"))
		}
		if ferr != nil {
			l.bad(c.remote, c.sock, len(*buf), "stream closed: "+ferr.Error())
			return true
		}
		if size == 0 {
			*buf = append((*buf)[:0], (*buf)[skip:]...)
			if len(*buf) == 0 {
				*partial = time.Time{}
			}
			if cap(*buf) > 1<<17 && len(*buf) < 4096 {
				*buf = append(make([]byte, 0, 4096), *buf...)
			}
			return false
		}
		data := make([]byte, size)
		copy(data, (*buf)[skip:skip+size])
		*buf = append((*buf)[:0], (*buf)[skip+size:]...)
		*partial = time.Time{}
		if len(*buf) > 0 {
			*partial = time.Now()
		}
		l.received(c, data)
	}
}

// received hands one message on and marks the connection proven.
func (l *Layer) received(c *conn, data []byte) {
	l.publish(c)
	if l.opts.AcceptAliases {
		if port, ok := viaAlias(data); ok {
			l.addAlias(c, netip.AddrPortFrom(c.remote.Addr(), uint16(port)))
		}
	}
	l.st.recv.Inc()
	l.deliver(Packet{Data: data, Src: c.remote, Sock: c.sock, ConnID: c.id})
}

// readWS reads WebSocket frames, one SIP message per text/binary message.
func (l *Layer) readWS(c *conn, pre []byte) {
	buf := append(make([]byte, 0, 4096), pre...)
	tmp := make([]byte, 4096)
	asm := &wsAssembler{max: l.opts.MaxMessage}
	// bufSince is when the incomplete frame at the head of buf started.
	var partial, bufSince time.Time
	for {
		consumed := false
		for len(buf) > 0 {
			f, n, err := ParseWSFrame(buf, l.opts.MaxMessage, true)
			if err != nil {
				code := wsCloseProtocol
				if errors.Is(err, ErrWSTooLarge) {
					code = wsCloseTooBig
				}
				l.wsFail(c, len(buf), code, err)
				return
			}
			if n == 0 {
				break
			}
			ev, err := asm.frame(f, time.Now())
			buf = append(buf[:0], buf[n:]...)
			consumed = true
			if err != nil {
				l.wsFail(c, len(buf), ev.code, err)
				return
			}
			switch {
			case ev.close:
				_ = l.writeRaw(c, wsCloseFrame(ev.code))
				return
			case ev.pong != nil:
				_ = l.writeRaw(c, AppendWSFrame(nil, wsPong, ev.pong, nil))
			case ev.message != nil:
				if !isKeepalive(ev.message) {
					l.received(c, ev.message)
				}
			}
		}
		switch {
		case len(buf) == 0:
			bufSince = time.Time{}
		case consumed || bufSince.IsZero():
			bufSince = time.Now()
		}
		partial = bufSince
		if since, ok := asm.pending(); ok && (partial.IsZero() || since.Before(partial)) {
			partial = since
		}
		_ = c.nc.SetReadDeadline(l.readDeadline(c, partial))
		n, err := c.nc.Read(tmp)
		if n > 0 {
			c.touch()
			buf = append(buf, tmp[:n]...)
			continue
		}
		if err != nil {
			if isTimeout(err) && !l.timedOut(c, partial) {
				continue
			}
			return
		}
	}
}

// wsFail closes a WebSocket connection after a bad frame: a close frame
// with the code, counted and reported once.
func (l *Layer) wsFail(c *conn, size, code int, err error) {
	l.st.wsBad.Inc()
	if code != 0 {
		_ = l.writeRaw(c, wsCloseFrame(code))
	}
	l.bad(c.remote, c.sock, size, "websocket closed: "+err.Error())
}

// writeRaw writes bytes as they are, under the write lock and deadline.
func (l *Layer) writeRaw(c *conn, b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.nc.SetWriteDeadline(time.Now().Add(l.opts.WriteTimeout))
	_, err := c.nc.Write(b)
	if err != nil {
		go l.dropConn(c)
		return err
	}
	c.touch()
	return nil
}

// writeMsg writes one SIP message: in a frame on WebSocket connections.
func (l *Layer) writeMsg(c *conn, data []byte) error {
	if c.proto == msg.WS || c.proto == msg.WSS {
		return l.writeRaw(c, AppendWSFrame(make([]byte, 0, len(data)+10), wsDataOpcode(data), data, nil))
	}
	return l.writeRaw(c, data)
}

// lookup finds the connection for a send: the given id when it is of the
// transport, else the one (or the alias) for the remote address.
func (l *Layer) lookup(proto msg.Proto, dst netip.AddrPort, id uint64) *conn {
	l.mu.Lock()
	defer l.mu.Unlock()
	if id != 0 {
		if c := l.conns[id]; c != nil && sameKind(c.proto, proto) && !c.closed.Load() {
			return c
		}
	}
	if c := l.byAddr[connKey{proto, dst}]; c != nil && !c.closed.Load() {
		return c
	}
	if proto == msg.WS || proto == msg.WSS {
		// transport=ws in a URI stands for both (RFC 7118).
		if c := l.byAddr[connKey{otherWS(proto), dst}]; c != nil && !c.closed.Load() {
			return c
		}
	}
	return nil
}

func (l *Layer) sendStream(proto msg.Proto, dst netip.AddrPort, data []byte, o SendOpts) (*msg.Socket, uint64, error) {
	c := l.lookup(proto, dst, o.ConnID)
	if c == nil {
		// WebSocket connections are only opened by clients (as in Kamailio).
		if o.NoConnect || proto == msg.WS || proto == msg.WSS {
			return nil, 0, ErrNoConnection
		}
		var err error
		if c, err = l.dial(o.Ctx, proto, dst, o.From, o.ServerName); err != nil {
			l.st.connErr.Inc()
			return nil, 0, err
		}
	}
	err := l.writeMsg(c, data)
	if o.Close {
		l.dropConn(c)
	}
	return c.sock, c.id, err
}

// dial opens a TCP or TLS connection to dst from a socket of that transport.
func (l *Layer) dial(parent context.Context, proto msg.Proto, dst netip.AddrPort, from *msg.Socket, serverName string) (*conn, error) {
	s := l.PickSocket(proto, dst.Addr(), from)
	d := net.Dialer{Timeout: l.opts.DialTimeout}
	if s != nil && !s.Addr.Addr().IsUnspecified() {
		d.LocalAddr = &net.TCPAddr{IP: s.Addr.Addr().AsSlice()}
	}
	if parent == nil {
		parent = context.Background()
	}
	ctx, cancel := context.WithTimeout(parent, l.opts.DialTimeout)
	defer cancel()
	nc, err := d.DialContext(ctx, "tcp", dst.String())
	if err != nil {
		return nil, err
	}
	if s == nil {
		s = &msg.Socket{Proto: proto}
	}
	c := &conn{raw: nc, nc: nc, proto: proto, sock: s, remote: dst, outbound: true, born: time.Now()}
	c.touch()
	c.proven.Store(true)
	if err := l.register(c); err != nil {
		_ = nc.Close()
		return nil, err
	}
	if tcp, ok := nc.(*net.TCPConn); ok {
		_ = tcp.SetNoDelay(true)
	}
	if proto == msg.TLS {
		tc := tls.Client(nc, l.tls.clientConfig(dst, serverName))
		if err := tc.HandshakeContext(ctx); err != nil {
			l.st.tlsFail.Inc()
			l.dropConn(c)
			return nil, fmt.Errorf("tls handshake with %s: %w", dst, err)
		}
		c.nc = tc
		st := tc.ConnectionState()
		c.tlsState.Store(&st)
	}
	l.mu.Lock()
	if _, ok := l.conns[c.id]; ok {
		l.byAddr[connKey{c.proto, c.remote}] = c
	}
	l.mu.Unlock()
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		defer l.dropConn(c)
		l.readStream(c, nil)
	}()
	return c, nil
}

// sameKind reports whether a connection of transport have serves want
// (ws and wss stand for each other).
func sameKind(have, want msg.Proto) bool {
	if have == want {
		return true
	}
	ws := func(p msg.Proto) bool { return p == msg.WS || p == msg.WSS }
	return ws(have) && ws(want)
}

// StreamProto is the transport of the open connection that a send of
// proto to dst would use: for ws it may be wss and the other way round
// (RFC 7118 writes transport=ws for both); proto itself when there is none.
func (l *Layer) StreamProto(proto msg.Proto, dst netip.AddrPort) msg.Proto {
	if proto != msg.WS && proto != msg.WSS {
		return proto
	}
	if c := l.lookup(proto, dst, 0); c != nil {
		return c.proto
	}
	return proto
}
