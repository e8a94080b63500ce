// Package transport owns the SIP sockets: UDP, TCP, TLS, WebSocket (ws) and
// secure WebSocket (wss) listeners whose readers hand complete messages to
// a delivery function, and a sender that writes from the listening socket
// (UDP) or over a kept connection (the streams).
//
// sipgo's transport layer is not used: it spawns a goroutine per message,
// grows its UDP pool per source address and cannot refuse to connect. Here
// every stream connection has exactly one reader goroutine, the number of
// connections is bounded per class (TCP+WS, TLS+WSS), and handshakes (TLS,
// the WebSocket upgrade) run on that goroutine under a deadline, so the
// accept loops never wait for a client.
package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
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
	MaxMessage int
	// ConnLifetime is how long a stream connection may stay idle (Kamailio's
	// tcp_connection_lifetime): reads and writes both count as activity.
	ConnLifetime time.Duration
	// MaxConnections bounds TCP and WS connections together, MaxTLSConnections
	// TLS and WSS ones (Kamailio's tcp_max_connections, tls_max_connections;
	// 0 for TLS = MaxConnections). At the limit the oldest connection that
	// never delivered a message is closed to make room; when there is none
	// the new connection is refused.
	MaxConnections    int
	MaxTLSConnections int
	DialTimeout       time.Duration
	WriteTimeout      time.Duration
	// FirstDataTimeout bounds the time from accept to the first complete
	// message, TLS handshake and WebSocket upgrade included (Kamailio's
	// tcp_msg_data_timeout).
	FirstDataTimeout time.Duration
	// MsgReadTimeout bounds how long a message that started arriving may
	// take to complete (Kamailio's tcp_msg_read_timeout).
	MsgReadTimeout time.Duration
	// AcceptAliases: a request whose top Via carries ";alias" makes its
	// connection reachable at the source IP and the Via port as well
	// (Kamailio's tcp_accept_aliases).
	AcceptAliases bool
	// OnBad is told about input dropped before it became a message (an
	// oversized datagram, a stream that cannot be framed, a failed TLS
	// handshake or WebSocket upgrade, a connection that sent nothing), so the
	// core counts and logs it like a parse failure.
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
	// ServerName is the host name of the destination (URI host or SRV
	// target): sent as SNI and checked in the certificate of a new TLS
	// connection.
	ServerName string
}

// ErrNoConnection is returned when NoConnect forbids opening a connection
// (and always for ws/wss, which only the client side opens).
var ErrNoConnection = errors.New("no existing connection and connecting is not allowed")

// ErrConnLimit is returned when a connection cannot be opened because the
// connection limit is reached.
var ErrConnLimit = errors.New("connection limit reached")

// Layer is the set of listeners and connections.
type Layer struct {
	opts    Options
	log     *zap.Logger
	deliver func(Packet)
	udp     []*udpSock
	streams []*listener
	Sockets []*msg.Socket
	tls     *tlsStore

	mu     sync.Mutex
	conns  map[uint64]*conn
	byAddr map[connKey]*conn
	count  [2]int // open connections per class (TCP+WS, TLS+WSS)
	nextID atomic.Uint64
	closed atomic.Bool
	wg     sync.WaitGroup

	st layerStats
}

type layerStats struct {
	conns, tlsConns, wsConns                *stats.Counter
	recv, sent, sendErr                     *stats.Counter
	refused, evicted, idle, noData, connErr *stats.Counter
	tlsFail, wsFail, wsBad                  *stats.Counter
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
	if opts.MaxTLSConnections <= 0 {
		opts.MaxTLSConnections = opts.MaxConnections
	}
	if opts.FirstDataTimeout <= 0 {
		opts.FirstDataTimeout = 10 * time.Second
	}
	if opts.MsgReadTimeout <= 0 {
		opts.MsgReadTimeout = 20 * time.Second
	}
	if log == nil {
		log = zap.NewNop()
	}
	l := &Layer{
		opts: opts, log: log, deliver: deliver,
		conns:  map[uint64]*conn{},
		byAddr: map[connKey]*conn{},
	}
	l.st = layerStats{
		conns:    stats.New("tcp", "current_opened_connections", "open TCP and WS connections"),
		tlsConns: stats.New("tls", "opened_connections", "open TLS and WSS connections"),
		wsConns:  stats.New("websocket", "ws_current_connections", "open WebSocket connections (ws and wss)"),
		recv:     stats.New("core", "rcv_packets", "packets and stream messages received"),
		sent:     stats.New("core", "snd_packets", "packets and stream messages sent"),
		sendErr:  stats.New("core", "snd_errors", "send failures"),
		refused:  stats.New("tcp", "refused_connections", "connections refused at the limit"),
		evicted:  stats.New("tcp", "evicted_connections", "silent connections closed to make room at the limit"),
		idle:     stats.New("tcp", "idle_closed", "connections closed after tcp_connection_lifetime without traffic"),
		noData:   stats.New("tcp", "no_data_closed", "connections closed for sending no complete message in time"),
		connErr:  stats.New("tcp", "connect_failed", "outgoing connections that could not be set up"),
		tlsFail:  stats.New("tls", "handshake_failed", "TLS handshakes that failed or timed out"),
		wsFail:   stats.New("websocket", "ws_failed_handshakes", "WebSocket upgrades refused or timed out"),
		wsBad:    stats.New("websocket", "ws_bad_frames", "WebSocket connections closed for a bad frame"),
	}
	return l
}

// Start runs the readers.
func (l *Layer) Start() {
	for _, u := range l.udp {
		l.wg.Add(1)
		go l.readUDP(u)
	}
	for _, s := range l.streams {
		l.wg.Add(1)
		go l.accept(s)
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
	for _, s := range l.streams {
		_ = s.ln.Close()
	}
	l.mu.Lock()
	for _, c := range l.conns {
		_ = c.raw.Close()
	}
	l.mu.Unlock()
	l.wg.Wait()
}

func (l *Layer) bad(src netip.AddrPort, sock *msg.Socket, size int, reason string) {
	src = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
	if l.opts.OnBad != nil {
		l.opts.OnBad(src, sock, size, reason)
		return
	}
	l.log.Info("input dropped", zap.String("src", src.String()), zap.String("reason", reason))
}

// PickSocket returns a local socket for proto and the address family of dst,
// preferring from.
func (l *Layer) PickSocket(proto msg.Proto, dst netip.Addr, from *msg.Socket) *msg.Socket {
	if from != nil && from.Proto == proto && from.Addr.Addr().Is4() == dst.Is4() {
		return from
	}
	if s := l.pickSocket(proto, dst); s != nil || (proto != msg.WS && proto != msg.WSS) {
		return s
	}
	// transport=ws names secure WebSocket too (RFC 7118): use the other kind.
	return l.pickSocket(otherWS(proto), dst)
}

func otherWS(p msg.Proto) msg.Proto {
	if p == msg.WS {
		return msg.WSS
	}
	return msg.WS
}

func (l *Layer) pickSocket(proto msg.Proto, dst netip.Addr) *msg.Socket {
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

// HasProto reports whether a socket of that transport is open.
func (l *Layer) HasProto(p msg.Proto) bool {
	for _, s := range l.Sockets {
		if s.Proto == p {
			return true
		}
	}
	return false
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
	case msg.TCP, msg.TLS, msg.WS, msg.WSS:
		used, conn, err = l.sendStream(proto, dst, data, o)
	default:
		err = fmt.Errorf("transport %s not supported", proto)
	}
	if err != nil {
		l.st.sendErr.Inc()
		return used, conn, err
	}
	l.st.sent.Inc()
	return used, conn, nil
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

// ConnInfo describes one open stream connection (RPC core.tcp_list).
type ConnInfo struct {
	ID       uint64
	Proto    msg.Proto
	Local    string
	Remote   netip.AddrPort
	Aliases  []netip.AddrPort
	Outbound bool
	Age      time.Duration
	Idle     time.Duration
	// LocalAddr is the local end (the listener's address for an accepted
	// connection); Proven is set once a message came or we opened it.
	LocalAddr netip.AddrPort
	Proven    bool
	// TLS is the handshake result of a TLS or WSS connection, nil before
	// the handshake completed.
	TLS *tls.ConnectionState
}

// Conns lists the open stream connections.
func (l *Layer) Conns() []ConnInfo {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]ConnInfo, 0, len(l.conns))
	for _, c := range l.conns {
		out = append(out, ConnInfo{ID: c.id, Proto: c.proto, Local: c.sock.Name, Remote: c.remote,
			Aliases: append([]netip.AddrPort(nil), c.aliases...), Outbound: c.outbound,
			Age: now.Sub(c.born), Idle: now.Sub(time.Unix(0, c.last.Load())),
			LocalAddr: localAddr(c), Proven: c.proven.Load(), TLS: c.tlsState.Load()})
	}
	return out
}
