package transport

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"go.uber.org/zap"

	"github.com/luasbc/luasbc/core/msg"
)

type udpSock struct {
	sock *msg.Socket
	conn *net.UDPConn
}

// ListenUDP binds a UDP socket.
func (l *Layer) ListenUDP(addr netip.AddrPort) (*msg.Socket, error) {
	c, err := net.ListenUDP(network("udp", addr), net.UDPAddrFromAddrPort(addr))
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

// network picks "udp6"/"tcp6" for an IPv6 address so that "[::]" binds
// IPv6 only and an IPv4 listener on the same port can coexist.
func network(base string, a netip.AddrPort) string {
	if a.Addr().Is6() && !a.Addr().Is4In6() {
		return base + "6"
	}
	return base + "4"
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
		l.st.recv.Inc()
		data := make([]byte, n)
		copy(data, buf[:n])
		l.deliver(Packet{Data: data, Src: netip.AddrPortFrom(src.Addr().Unmap(), src.Port()), Sock: u.sock})
	}
}

func isKeepalive(b []byte) bool {
	for _, c := range b {
		if c != '\r' && c != '\n' && c != 0 && c != ' ' {
			return false
		}
	}
	return true
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
