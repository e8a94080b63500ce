package e2e

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"
)

const tlsInvite = `INVITE sip:bob@{srv} SIP/2.0
Via: SIP/2.0/TLS 127.0.0.1:5099;branch={branch};alias
From: <sip:alice@example.test>;tag=caller1
To: <sip:bob@{srv}>
Call-ID: {callid}
CSeq: 1 INVITE
Contact: <sip:alice@127.0.0.1:5099;transport=tls>
Max-Forwards: 70
Content-Length: 0

`

// TestTLSCallerToUDPCallee: a TLS caller (certificate checked with the test
// CA, SNI) calls a UDP callee through the double Record-Route; the ACK and
// an INFO go caller→callee, the BYE callee→caller over the caller's own TLS
// connection although its Contact names another port (Via ;alias with
// tcp_accept_aliases): nothing listens there.
func TestTLSCallerToUDPCallee(t *testing.T) {
	t.Parallel()
	callee := NewUDP(t)
	x := startXport(t, xportOpts{Script: "bridge.lua", TLS: true, Replace: routes("bob", "sip:"+callee.Addr),
		Core: []string{"tcp_accept_aliases: yes"}})
	caller := x.DialTLS(t, "sbc.test")
	inv := NewReq(tlsInvite, caller.Addr, x.TLSAddr, "TLS")
	if err := caller.Send([]byte(inv.Text)); err != nil {
		t.Fatal(err)
	}
	in, err := callee.RecvFor(inv.CallID, 3*time.Second)
	if err != nil || in.Method != "INVITE" {
		t.Fatalf("callee got %v %v\n%s", in, err, x.Logs())
	}
	if v := in.All("via")[0]; !strings.HasPrefix(v, "SIP/2.0/UDP "+x.Addr) {
		t.Errorf("top Via %q", v)
	}
	rrs := in.All("record-route")
	if len(rrs) != 2 || !strings.Contains(rrs[0], x.Addr+";r2=on") || !strings.Contains(rrs[1], x.TLSAddr+";transport=tls;r2=on") {
		t.Fatalf("double Record-Route: %q", rrs)
	}
	toTag := "callee1"
	ring := replyFor(in, 180, "Ringing", toTag)
	callee.Send(x.Addr, ring)
	ok := strings.Replace(string(replyFor(in, 200, "OK", toTag)), "Content-Length: 0", "Contact: <sip:bob@"+callee.Addr+">\r\nContent-Length: 0", 1)
	callee.Send(x.Addr, []byte(ok))
	r200, seen, err := recvStream(caller, 3*time.Second, func(m *Msg) bool { return m.Code >= 200 })
	if err != nil || r200.Code != 200 {
		t.Fatalf("caller got %v (%v) %v", r200, seen, err)
	}
	if len(seen) < 2 || !strings.HasPrefix(seen[0], "SIP/2.0 1") {
		t.Errorf("no provisional before 200: %v", seen)
	}
	from := "<sip:alice@example.test>;tag=caller1"
	to := "<sip:bob@" + x.TLSAddr + ">;tag=" + toTag
	callerRoutes := reversed(r200.All("record-route"))
	calleeContact := contactURI(r200.Get("contact"))
	via := func(n int) string {
		return fmt.Sprintf("SIP/2.0/TLS 127.0.0.1:5099;branch=z9hG4bKc%d%s;alias", n, randHex(4))
	}

	// ACK and INFO from the caller follow the route set to the callee.
	_ = caller.Send([]byte(inDialog("ACK", calleeContact, via(1), from, to, inv.CallID, 1, callerRoutes, "")))
	if ack, err := callee.RecvFor(inv.CallID, 3*time.Second); err != nil || ack.Method != "ACK" {
		t.Fatalf("callee ACK: %v %v", ack, err)
	}
	_ = caller.Send([]byte(inDialog("INFO", calleeContact, via(2), from, to, inv.CallID, 2, callerRoutes, "")))
	info, err := callee.RecvFor(inv.CallID, 3*time.Second)
	if err != nil || info.Method != "INFO" || len(info.All("route")) != 0 {
		t.Fatalf("callee INFO: %v %v %q", info, err, info.All("route"))
	}
	callee.Send(x.Addr, replyFor(info, 200, "OK", ""))
	if r, _, err := recvStream(caller, 3*time.Second, func(m *Msg) bool { return m.Code >= 200 }); err != nil || r.Code != 200 {
		t.Fatalf("INFO reply over TLS: %v %v", r, err)
	}

	// BYE from the callee: loose_route forces the TLS socket, the caller's
	// Contact port is an alias of its connection.
	bye := inDialog("BYE", "sip:alice@127.0.0.1:5099;transport=tls", "SIP/2.0/UDP "+callee.Addr+";branch=z9hG4bKbye"+randHex(4),
		to, from, inv.CallID, 1, rrs, "")
	callee.Send(x.Addr, []byte(bye))
	got, _, err := recvStream(caller, 3*time.Second, func(m *Msg) bool { return m.Method == "BYE" })
	if err != nil {
		t.Fatalf("BYE not delivered over the caller's TLS connection: %v\n%s", err, tail(x.Logs(), 3000))
	}
	if v := got.All("via")[0]; !strings.HasPrefix(v, "SIP/2.0/TLS "+x.TLSAddr) {
		t.Errorf("BYE top Via %q", v)
	}
	if err := caller.Send(replyFor(got, 200, "OK", "")); err != nil {
		t.Fatal(err)
	}
	if r, err := callee.RecvFor(inv.CallID, 3*time.Second); err != nil || r.Code != 200 {
		t.Fatalf("BYE 200 at callee: %v %v", r, err)
	}
}

// TestUDPCallerToTLSCallee: the server opens the TLS connection to the
// callee (checked against the CA of a client profile), and the callee's BYE
// comes back over that same connection.
func TestUDPCallerToTLSCallee(t *testing.T) {
	t.Parallel()
	caller := NewUDP(t)
	calleeLn := newTLSPeer(t)
	x := startXport(t, xportOpts{Script: "bridge.lua", TLS: true,
		Replace:     routes("bob", "sip:"+calleeLn.addr+";transport=tls"),
		TLSProfiles: []string{"{profile: \"client:default\", verify_certificate: true, ca_list: ca.pem}"}})
	calleeLn.issue(t, x)
	inv := NewReq(strings.ReplaceAll(tlsInvite, "SIP/2.0/TLS 127.0.0.1:5099;branch={branch};alias", "SIP/2.0/UDP {me};branch={branch};rport"),
		caller.Addr, x.Addr, "UDP")
	caller.Send(x.Addr, []byte(inv.Text))
	conn := calleeLn.accept(t)
	in, err := conn.Recv(5 * time.Second)
	if err != nil || in.Method != "INVITE" {
		t.Fatalf("callee over TLS got %v %v\n%s", in, err, tail(x.Logs(), 3000))
	}
	rrs := in.All("record-route")
	if len(rrs) != 2 || !strings.Contains(rrs[0], x.TLSAddr+";transport=tls;r2=on") || !strings.Contains(rrs[1], x.Addr+";r2=on") {
		t.Fatalf("double Record-Route: %q", rrs)
	}
	if v := in.All("via")[0]; !strings.HasPrefix(v, "SIP/2.0/TLS "+x.TLSAddr) {
		t.Errorf("top Via %q", v)
	}
	_ = conn.Send(replyFor(in, 200, "OK", "tlscallee"))
	if r, _, err := recvUntil(caller, inv.CallID, 3*time.Second, func(m *Msg) bool { return m.Code >= 200 }); err != nil || r.Code != 200 {
		t.Fatalf("caller: %v %v", r, err)
	}
	// The callee hangs up on the connection the server opened.
	from := "<sip:alice@example.test>;tag=caller1"
	to := "<sip:bob@" + x.Addr + ">;tag=tlscallee"
	bye := inDialog("BYE", "sip:alice@"+caller.Addr, "SIP/2.0/TLS 127.0.0.1:5098;branch=z9hG4bKb"+randHex(4), to, from, inv.CallID, 1, rrs, "")
	_ = conn.Send([]byte(bye))
	b, err := caller.RecvFor(inv.CallID, 3*time.Second)
	if err != nil || b.Method != "BYE" {
		t.Fatalf("caller BYE: %v %v", b, err)
	}
	caller.Send(x.Addr, replyFor(b, 200, "OK", ""))
	if r, err := conn.Recv(3 * time.Second); err != nil || r.Code != 200 {
		t.Fatalf("BYE reply over TLS: %v %v", r, err)
	}
	if n := calleeLn.accepted(); n != 1 {
		t.Errorf("%d TLS connections to the callee, want 1 (reuse)", n)
	}
}

// tlsPeer is a TLS server playing the callee.
type tlsPeer struct {
	ln    net.Listener
	addr  string
	conns chan net.Conn
	n     int
	cert  tls.Certificate
	ready chan struct{}
}

func newTLSPeer(t *testing.T) *tlsPeer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return &tlsPeer{ln: ln, addr: ln.Addr().String(), conns: make(chan net.Conn, 4), ready: make(chan struct{})}
}

// issue makes the peer's certificate with the server's CA and starts accepting.
func (p *tlsPeer) issue(t *testing.T, x *xport) {
	p.cert = x.CA.Issue(t, x.Dir, "callee", "callee.test", "127.0.0.1").TLS
	go func() {
		for {
			c, err := p.ln.Accept()
			if err != nil {
				return
			}
			p.n++
			p.conns <- tls.Server(c, &tls.Config{Certificates: []tls.Certificate{p.cert}})
		}
	}()
}

func (p *tlsPeer) accept(t *testing.T) *TCPClient {
	t.Helper()
	select {
	case c := <-p.conns:
		t.Cleanup(func() { c.Close() })
		return &TCPClient{t: t, Conn: c, r: bufio.NewReaderSize(c, 70000), Addr: c.LocalAddr().String()}
	case <-time.After(5 * time.Second):
		t.Fatal("the server did not connect to the TLS callee")
	}
	return nil
}

func (p *tlsPeer) accepted() int { return p.n }

// TestTLSBadClientsAndReload: clients that stall in the handshake or send
// plain text are closed within tcp_msg_data_timeout, counted and logged once;
// SIGHUP loads a new certificate for new connections while an open one
// keeps working; a good client is served throughout.
func TestTLSBadClientsAndReload(t *testing.T) {
	t.Parallel()
	x := startXport(t, xportOpts{Script: "bridge.lua", TLS: true, Replace: routes(),
		Core: []string{"tcp_msg_data_timeout: 1"}})
	good := x.DialTLS(t, "sbc.test")
	opt := NewReq(optionsTmpl, good.Addr, x.TLSAddr, "TLS")
	if r, err := good.Exchange(opt, 3*time.Second); err != nil || r.Code != 200 {
		t.Fatalf("OPTIONS over TLS: %v %v", r, err)
	}
	var stalled []net.Conn
	for i := 0; i < 20; i++ {
		c, err := net.Dial("tcp", x.TLSAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		stalled = append(stalled, c)
	}
	plain, _ := net.Dial("tcp", x.TLSAddr)
	defer plain.Close()
	_, _ = plain.Write([]byte(opt.Text))
	start := time.Now()
	for _, c := range stalled {
		_ = c.SetReadDeadline(time.Now().Add(4 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Fatal("stalled handshake got data")
		}
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("stalled handshakes closed after %v, want about tcp_msg_data_timeout (1s)", d)
	}
	x.WaitLog("tls handshake timed out", 2*time.Second)
	if n := strings.Count(x.Logs(), "tls handshake timed out"); n != 1 {
		t.Errorf("stalled handshakes logged %d times, want once", n)
	}
	if !x.WaitLog("tls handshake failed", 2*time.Second) {
		t.Error("plain text on the TLS port not reported")
	}
	if x.Stat("tls:handshake_failed") < 21 {
		t.Errorf("tls:handshake_failed = %d", x.Stat("tls:handshake_failed"))
	}

	// Renew the certificate on disk, SIGHUP: new connections see it, the
	// open one still works.
	x.CA.Issue(t, x.Dir, "sbc", "renewed.sbc.test", "127.0.0.1", "sbc.test")
	x.Signal(syscall.SIGHUP)
	if !x.WaitLog("TLS certificates reloaded", 3*time.Second) {
		t.Fatal("no reload logged")
	}
	again := x.DialTLS(t, "sbc.test")
	if cn := again.Conn.(*tls.Conn).ConnectionState().PeerCertificates[0].Subject.CommonName; cn != "renewed.sbc.test" {
		t.Errorf("certificate after SIGHUP: %s", cn)
	}
	opt2 := NewReq(optionsTmpl, good.Addr, x.TLSAddr, "TLS")
	if r, err := good.Exchange(opt2, 3*time.Second); err != nil || r.Code != 200 {
		t.Fatalf("open connection after reload: %v %v", r, err)
	}
}

// TestTLSOverIPv6ToUDPv4: a TLS caller on [::1] calls an IPv4 UDP callee;
// the double Record-Route names the IPv6 TLS socket and the IPv4 UDP one,
// and the callee's BYE finds the caller's IPv6 connection.
func TestTLSOverIPv6ToUDPv4(t *testing.T) {
	t.Parallel()
	callee := NewUDP(t)
	x := startXport(t, xportOpts{Script: "bridge.lua", TLS: true, V6: true, Replace: routes("bob", "sip:"+callee.Addr),
		Core: []string{"tcp_accept_aliases: yes"}})
	caller := x.DialTLSTo(t, x.TLS6Addr, "::1")
	tmpl := strings.NewReplacer("127.0.0.1:5099", "[::1]:5099").Replace(tlsInvite)
	inv := NewReq(tmpl, caller.Addr, x.TLS6Addr, "TLS")
	_ = caller.Send([]byte(inv.Text))
	in, err := callee.RecvFor(inv.CallID, 3*time.Second)
	if err != nil {
		t.Fatalf("callee: %v\n%s", err, tail(x.Logs(), 2000))
	}
	rrs := in.All("record-route")
	if len(rrs) != 2 || !strings.Contains(rrs[0], "sip:"+x.Addr+";r2=on") || !strings.Contains(rrs[1], "sip:"+x.TLS6Addr+";transport=tls;r2=on") {
		t.Fatalf("double Record-Route over IPv6/IPv4: %q", rrs)
	}
	if v := in.All("via")[0]; !strings.HasPrefix(v, "SIP/2.0/UDP "+x.Addr) {
		t.Errorf("IPv4 side Via %q", v)
	}
	ok := strings.Replace(string(replyFor(in, 200, "OK", "v4callee")), "Content-Length: 0", "Contact: <sip:bob@"+callee.Addr+">\r\nContent-Length: 0", 1)
	callee.Send(x.Addr, []byte(ok))
	if r, _, err := recvStream(caller, 3*time.Second, func(m *Msg) bool { return m.Code >= 200 }); err != nil || r.Code != 200 {
		t.Fatalf("caller over IPv6: %v %v", r, err)
	}
	from := "<sip:alice@example.test>;tag=caller1"
	to := "<sip:bob@" + x.TLS6Addr + ">;tag=v4callee"
	bye := inDialog("BYE", "sip:alice@[::1]:5099;transport=tls", "SIP/2.0/UDP "+callee.Addr+";branch=z9hG4bKv6"+randHex(4), to, from, inv.CallID, 1, rrs, "")
	callee.Send(x.Addr, []byte(bye))
	b, _, err := recvStream(caller, 3*time.Second, func(m *Msg) bool { return m.Method == "BYE" })
	if err != nil {
		t.Fatalf("BYE over IPv6 TLS: %v\n%s", err, tail(x.Logs(), 2000))
	}
	if v := b.All("via")[0]; !strings.HasPrefix(v, "SIP/2.0/TLS "+x.TLS6Addr) {
		t.Errorf("BYE Via %q", v)
	}
}
