package transport

import (
	"bufio"
	"crypto/tls"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/luasbc/luasbc/core/msg"
	"github.com/luasbc/luasbc/core/transport/tlstest"
)

func TestTLSServerSNIReloadAndClient(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, dir)
	def := ca.Issue(t, dir, "default", "default.test", "127.0.0.1")
	named := ca.Issue(t, dir, "named", "sbc.example.test", "sbc.example.test")
	tl := newTestLayer(t, Options{FirstDataTimeout: 500 * time.Millisecond})
	if err := tl.SetTLS([]TLSProfile{
		{Server: true, Certificate: def.CertFile, PrivateKey: def.KeyFile},
		{Server: true, ServerName: "sbc.example.test", Certificate: named.CertFile, PrivateKey: named.KeyFile},
		{Server: false, Verify: true, CAList: ca.File},
	}); err != nil {
		t.Fatal(err)
	}
	s, err := tl.ListenTLS(loop)
	if err != nil {
		t.Fatal(err)
	}
	tl.Start()
	dial := func(sni string) *tls.Conn {
		t.Helper()
		c, err := tls.Dial("tcp", s.Addr.String(), &tls.Config{RootCAs: ca.Pool, ServerName: sni})
		if err != nil {
			t.Fatalf("tls dial %s: %v", sni, err)
		}
		return c
	}
	// SNI picks the certificate.
	c1 := dial("sbc.example.test")
	if cn := c1.ConnectionState().PeerCertificates[0].Subject.CommonName; cn != "sbc.example.test" {
		t.Fatalf("SNI certificate %s", cn)
	}
	c2 := dial("127.0.0.1")
	if cn := c2.ConnectionState().PeerCertificates[0].Subject.CommonName; cn != "default.test" {
		t.Fatalf("default certificate %s", cn)
	}
	_, _ = c1.Write([]byte(optMsg))
	p := tl.next(t)
	if p.Sock.Proto != msg.TLS {
		t.Fatalf("proto %s", p.Sock.Proto)
	}
	// A new certificate on disk is used after ReloadTLS; open connections stay.
	ca.Issue(t, dir, "default", "renewed.test", "127.0.0.1")
	if err := tl.ReloadTLS(); err != nil {
		t.Fatal(err)
	}
	c3 := dial("127.0.0.1")
	defer c3.Close()
	if cn := c3.ConnectionState().PeerCertificates[0].Subject.CommonName; cn != "renewed.test" {
		t.Fatalf("after reload %s", cn)
	}
	if _, err := tl.Send(msg.TLS, p.Src, []byte("SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n"), SendOpts{ConnID: p.ConnID, NoConnect: true}); err != nil {
		t.Fatalf("old connection after reload: %v", err)
	}
	_ = c1.SetReadDeadline(time.Now().Add(2 * time.Second))
	if line, err := bufio.NewReader(c1).ReadString('\n'); err != nil || !strings.HasPrefix(line, "SIP/2.0 200") {
		t.Fatalf("reply on old connection %q %v", line, err)
	}
	// A broken file on reload keeps the last good certificate.
	writeFile(t, def.CertFile, "garbage")
	if err := tl.ReloadTLS(); err == nil {
		t.Fatal("reload with a broken certificate succeeded")
	}
	c4 := dial("127.0.0.1")
	c4.Close()

	// Outgoing TLS: verified against the CA, SNI from the server name.
	peer := newTestLayer(t, Options{})
	if err := peer.SetTLS([]TLSProfile{{Server: true, Certificate: named.CertFile, PrivateKey: named.KeyFile}}); err != nil {
		t.Fatal(err)
	}
	ps, _ := peer.ListenTLS(loop)
	peer.Start()
	if _, err := tl.Send(msg.TLS, ps.Addr, []byte(optMsg), SendOpts{ServerName: "sbc.example.test"}); err != nil {
		t.Fatalf("outgoing TLS: %v", err)
	}
	peer.next(t)
	if _, err := tl.Send(msg.TLS, ps.Addr, []byte(optMsg), SendOpts{ServerName: "wrong.test"}); err != nil {
		t.Fatalf("existing connection not reused: %v", err)
	}
	peer.next(t)
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestTLSBadHandshakes(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, dir)
	srv := ca.Issue(t, dir, "srv", "srv.test", "127.0.0.1")
	tl := newTestLayer(t, Options{FirstDataTimeout: 300 * time.Millisecond})
	if err := tl.SetTLS([]TLSProfile{{Server: true, Certificate: srv.CertFile, PrivateKey: srv.KeyFile,
		Verify: true, Require: true, CAList: ca.File, MinVersion: tls.VersionTLS13}}); err != nil {
		t.Fatal(err)
	}
	s, _ := tl.ListenTLS(loop)
	tl.Start()
	// Plain text on a TLS port.
	c, _ := net.Dial("tcp", s.Addr.String())
	_, _ = c.Write([]byte(optMsg))
	tl.waitBad(t, "tls handshake failed", 2*time.Second)
	c.Close()
	// A client that connects and stalls is closed at the deadline.
	st, _ := net.Dial("tcp", s.Addr.String())
	defer st.Close()
	tl.waitBad(t, "tls handshake timed out", 2*time.Second)
	// TLS 1.2 is below the minimum; no client certificate is refused.
	if c, err := tls.Dial("tcp", s.Addr.String(), &tls.Config{RootCAs: ca.Pool, MaxVersion: tls.VersionTLS12}); err == nil {
		c.Close()
		t.Fatal("TLS 1.2 accepted with method TLSv1.3")
	}
	nc, err := tls.Dial("tcp", s.Addr.String(), &tls.Config{RootCAs: ca.Pool})
	if err == nil {
		// TLS 1.3 reports a missing client certificate on the first read.
		_ = nc.SetReadDeadline(time.Now().Add(time.Second))
		_, err = nc.Read(make([]byte, 1))
		nc.Close()
	}
	if err == nil || isTimeout(err) {
		t.Fatalf("no client certificate accepted: %v", err)
	}
	cli := ca.Issue(t, dir, "cli", "client.test", "client.test")
	ok, err := tls.Dial("tcp", s.Addr.String(), &tls.Config{RootCAs: ca.Pool, Certificates: []tls.Certificate{cli.TLS}})
	if err != nil {
		t.Fatalf("client certificate refused: %v", err)
	}
	defer ok.Close()
	_, _ = ok.Write([]byte(optMsg))
	tl.next(t)
	if tl.st.tlsFail.Value() < 2 {
		t.Fatalf("handshake failures counted %d", tl.st.tlsFail.Value())
	}
}

func TestTLSConfigErrors(t *testing.T) {
	tl := newTestLayer(t, Options{})
	if _, err := tl.ListenTLS(loop); err == nil || !strings.Contains(err.Error(), "tls") {
		t.Fatalf("TLS listener without profiles: %v", err)
	}
	if err := tl.SetTLS([]TLSProfile{{Server: true}}); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("server profile without certificate: %v", err)
	}
	if err := tl.SetTLS([]TLSProfile{{Server: true, Certificate: "/nonexistent.pem", PrivateKey: "/nonexistent.key"}}); err == nil ||
		!strings.Contains(err.Error(), "/nonexistent.pem") {
		t.Fatalf("missing file: %v", err)
	}
	dir := t.TempDir()
	ca := tlstest.NewCA(t, dir)
	c := ca.Issue(t, dir, "c", "c", "127.0.0.1")
	if err := tl.SetTLS([]TLSProfile{{Server: true, Addr: netip.MustParseAddrPort("127.0.0.1:5061"), Certificate: c.CertFile, PrivateKey: c.KeyFile}}); err != nil {
		t.Fatal(err)
	}
	if _, err := tl.ListenTLS(netip.MustParseAddrPort("127.0.0.1:0")); err == nil {
		t.Fatal("listener with no profile for its address accepted")
	}
}
