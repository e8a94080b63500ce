package transport

import (
	"bufio"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/luasbc/luasbc/core/msg"
)

func TestTCPPingPongAndReuse(t *testing.T) {
	tl := newTestLayer(t, Options{})
	s, err := tl.ListenTCP(loop)
	if err != nil {
		t.Fatal(err)
	}
	tl.Start()
	c, err := net.Dial("tcp", s.Addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// RFC 5626: a double-CRLF ping is answered with one CRLF.
	if _, err := c.Write([]byte("\r\n\r\n" + optMsg)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	pong := make([]byte, 2)
	if _, err := br.Read(pong); err != nil || string(pong) != "\r\n" {
		t.Fatalf("pong %q %v", pong, err)
	}
	p := tl.next(t)
	if string(p.Data) != optMsg || p.ConnID == 0 {
		t.Fatalf("packet %q conn %d", p.Data, p.ConnID)
	}
	// A reply to the source address reuses the connection, with or without its id.
	for _, id := range []uint64{p.ConnID, 0} {
		if _, conn, err := tl.SendConn(msg.TCP, p.Src, []byte("SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n"), SendOpts{ConnID: id, NoConnect: true}); err != nil || conn != p.ConnID {
			t.Fatalf("send on conn %d: used %d err %v", id, conn, err)
		}
		line, _ := br.ReadString('\n')
		if !strings.HasPrefix(line, "SIP/2.0 200") {
			t.Fatalf("got %q", line)
		}
		_, _ = br.ReadString('\n')
		_, _ = br.ReadString('\n')
	}
	// No connection to the Via port: NoConnect refuses to open one...
	via := netip.AddrPortFrom(p.Src.Addr(), 5099)
	if _, err := tl.Send(msg.TCP, via, []byte("x"), SendOpts{NoConnect: true}); err != ErrNoConnection {
		t.Fatalf("no-connect send: %v", err)
	}
	// ...until the connection is aliased for that port (add_tcp_alias).
	if !tl.AddAlias(p.ConnID, 5099) {
		t.Fatal("alias refused")
	}
	if _, conn, err := tl.SendConn(msg.TCP, via, []byte("SIP/2.0 180 Ringing\r\nContent-Length: 0\r\n\r\n"), SendOpts{NoConnect: true}); err != nil || conn != p.ConnID {
		t.Fatalf("aliased send: %d %v", conn, err)
	}
	c.Close()
	deadline := time.Now().Add(2 * time.Second)
	for tl.ConnAlive(p.ConnID) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if tl.ConnAlive(p.ConnID) {
		t.Fatal("closed connection still alive")
	}
	if _, err := tl.Send(msg.TCP, via, []byte("x"), SendOpts{NoConnect: true}); err != ErrNoConnection {
		t.Fatalf("alias outlived its connection: %v", err)
	}
}

func TestViaAliasAccepted(t *testing.T) {
	tl := newTestLayer(t, Options{AcceptAliases: true})
	s, _ := tl.ListenTCP(loop)
	tl.Start()
	c, err := net.Dial("tcp", s.Addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _ = c.Write([]byte(strings.Replace(optMsg, "branch=z9hG4bK1", "branch=z9hG4bK1;alias", 1)))
	p := tl.next(t)
	if _, conn, err := tl.SendConn(msg.TCP, netip.AddrPortFrom(p.Src.Addr(), 5099), []byte("x"), SendOpts{NoConnect: true}); err != nil || conn != p.ConnID {
		t.Fatalf("via alias not used: %d %v", conn, err)
	}
	if port, ok := viaAlias([]byte("SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP h:1;alias\r\n\r\n")); ok {
		t.Fatalf("reply aliased: %d", port)
	}
	if _, ok := viaAlias([]byte("INVITE sip:x SIP/2.0\r\nVia: SIP/2.0/TCP [::1];alias\r\n\r\n")); ok {
		t.Fatal("Via without port aliased")
	}
	if p, ok := viaAlias([]byte("INVITE sip:x SIP/2.0\r\nv: SIP/2.0/TCP [::1]:7000 ;rport;alias, SIP/2.0/UDP a\r\n\r\n")); !ok || p != 7000 {
		t.Fatalf("compact Via alias: %d %v", p, ok)
	}
}

func TestFirstDataTimeoutAndEviction(t *testing.T) {
	tl := newTestLayer(t, Options{MaxConnections: 4, FirstDataTimeout: 300 * time.Millisecond})
	s, _ := tl.ListenTCP(loop)
	tl.Start()
	// Four silent connections fill the table.
	var silent []net.Conn
	for i := 0; i < 4; i++ {
		c, err := net.Dial("tcp", s.Addr.String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		silent = append(silent, c)
	}
	waitCount(t, tl.Layer, 4)
	// A fifth, legitimate one still gets in: the oldest silent one goes.
	c, err := net.Dial("tcp", s.Addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _ = c.Write([]byte(optMsg))
	tl.next(t)
	_ = silent[0].SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := silent[0].Read(make([]byte, 1)); err == nil {
		t.Fatal("oldest silent connection not closed")
	}
	// The others time out without a message; the proven one stays.
	tl.waitBad(t, "no complete message within tcp_msg_data_timeout", 2*time.Second)
	waitCount(t, tl.Layer, 1)
}

func TestRefusedAtLimit(t *testing.T) {
	tl := newTestLayer(t, Options{MaxConnections: 1})
	s, _ := tl.ListenTCP(loop)
	tl.Start()
	c, _ := net.Dial("tcp", s.Addr.String())
	defer c.Close()
	_, _ = c.Write([]byte(optMsg))
	tl.next(t)
	// At the limit with only proven connections, new ones are refused.
	r, err := net.Dial("tcp", s.Addr.String())
	if err == nil {
		_ = r.SetReadDeadline(time.Now().Add(2 * time.Second))
		_, err = r.Read(make([]byte, 1))
		r.Close()
	}
	if err == nil {
		t.Fatal("connection over the limit not refused")
	}
	if tl.st.refused.Value() == 0 {
		t.Fatal("refusal not counted")
	}
	// Outgoing connections count too.
	other, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := tl.Send(msg.TCP, netip.MustParseAddrPort(other.Addr().String()), []byte(optMsg), SendOpts{}); err != ErrConnLimit {
		t.Fatalf("dial over the limit: %v", err)
	}
}

func waitCount(t *testing.T, l *Layer, n int) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for l.ConnCount() != n && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := l.ConnCount(); got != n {
		t.Fatalf("%d connections, want %d", got, n)
	}
}

func TestIdleLifetimeAndPartialMessage(t *testing.T) {
	tl := newTestLayer(t, Options{ConnLifetime: 300 * time.Millisecond, MsgReadTimeout: 200 * time.Millisecond})
	s, _ := tl.ListenTCP(loop)
	tl.Start()
	c, _ := net.Dial("tcp", s.Addr.String())
	defer c.Close()
	_, _ = c.Write([]byte(optMsg))
	p := tl.next(t)
	// Writes keep the connection alive past the lifetime.
	for i := 0; i < 4; i++ {
		time.Sleep(150 * time.Millisecond)
		if _, err := tl.Send(msg.TCP, p.Src, []byte("\r\n"), SendOpts{NoConnect: true}); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	if !tl.ConnAlive(p.ConnID) {
		t.Fatal("active connection closed")
	}
	time.Sleep(500 * time.Millisecond)
	if tl.ConnAlive(p.ConnID) {
		t.Fatal("idle connection not closed after the lifetime")
	}
	// Half a message that never completes is dropped within tcp_msg_read_timeout.
	c2, _ := net.Dial("tcp", s.Addr.String())
	defer c2.Close()
	_, _ = c2.Write([]byte(optMsg))
	tl.next(t)
	_, _ = c2.Write([]byte(optMsg[:20]))
	tl.waitBad(t, "tcp_msg_read_timeout", 2*time.Second)
}

func TestIPv6(t *testing.T) {
	tl := newTestLayer(t, Options{})
	u, err := tl.ListenUDP(netip.MustParseAddrPort("[::1]:0"))
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	s, err := tl.ListenTCP(netip.MustParseAddrPort("[::1]:0"))
	if err != nil {
		t.Fatal(err)
	}
	tl.Start()
	if u.Name != "udp:[::1]:"+itoaPort(u) || u.HostPort() != "[::1]:"+itoaPort(u) {
		t.Fatalf("socket name %s hostport %s", u.Name, u.HostPort())
	}
	c, err := net.Dial("tcp6", s.Addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _ = c.Write([]byte(optMsg))
	p := tl.next(t)
	if !p.Src.Addr().Is6() {
		t.Fatalf("source %s", p.Src)
	}
	if got := tl.PickSocket(msg.UDP, p.Src.Addr(), nil); got != u {
		t.Fatalf("picked %v", got)
	}
	if got := tl.PickSocket(msg.UDP, netip.MustParseAddr("127.0.0.1"), nil); got != nil {
		t.Fatalf("IPv6 socket picked for IPv4: %v", got)
	}
}

func itoaPort(s *msg.Socket) string {
	return netip.AddrPortFrom(netip.IPv4Unspecified(), s.Addr.Port()).String()[8:]
}
