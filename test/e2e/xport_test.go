package e2e

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/luasbc/luasbc/core/transport/tlstest"
)

// xportOpts describe a server with the secure and web transports: SIP on
// UDP and TCP at Port, RPC at Port+1, TLS at Port+2, WS at Port+3, WSS at
// Port+4 (each only when asked for).
type xportOpts struct {
	Script  string
	Replace map[string]string
	Modules []string
	Core    []string
	TLS     bool // tls: listener
	WS      bool // ws: listener
	WSS     bool // wss: listener
	// V6 adds udp:[::1]:Port and tls:[::1]:Port+2 (TLS6Addr).
	V6 bool
	// TLSProfiles are extra YAML entries under tls: (a server:default
	// profile with the generated certificate is always there when TLS or
	// WSS is on).
	TLSProfiles []string
	Extra       string // more top-level YAML
}

// xport is a running server and its test PKI.
type xport struct {
	*Server
	TLSAddr, WSAddr, WSSAddr string
	UDP6Addr, TLS6Addr       string
	Dir                      string
	CA                       *tlstest.CA
	Cert                     *tlstest.Leaf
}

// bridgeModules are the modules bridge.lua needs.
var bridgeModules = []string{"sl: {}", "maxfwd: {}", "siputils: {}", "tm: {fr_timer: 3000, fr_inv_timer: 20000}",
	"tmx: {}", "rr: {}"}

// startXport starts bin/sbc with a config written for o; certificates for
// 127.0.0.1, ::1 and sbc.test are made first.
func startXport(t *testing.T, o xportOpts) *xport {
	t.Helper()
	dir := t.TempDir()
	port := freePorts(t, 5)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	s := &Server{t: t, Port: port, RPCPort: port + 1, Addr: addr, Dir: dir, logs: &logBuf{}, exited: make(chan struct{})}
	x := &xport{Server: s, Dir: dir}
	x.CA = tlstest.NewCA(t, dir)
	x.Cert = x.CA.Issue(t, dir, "sbc", "sbc.test", "127.0.0.1", "::1", "sbc.test")

	src := o.Script
	if !filepath.IsAbs(src) {
		src = testdata("lua", src)
	}
	text, err := os.ReadFile(src)
	if err != nil {
		t.Fatalf("script: %v", err)
	}
	s.Script = filepath.Join(dir, "script.lua")
	s.WriteScript(expand(string(text), o.Replace))

	listen := []string{"udp:" + addr, "tcp:" + addr}
	if o.TLS {
		x.TLSAddr = "127.0.0.1:" + strconv.Itoa(port+2)
		listen = append(listen, "tls:"+x.TLSAddr)
	}
	if o.WS {
		x.WSAddr = "127.0.0.1:" + strconv.Itoa(port+3)
		listen = append(listen, "ws:"+x.WSAddr)
	}
	if o.WSS {
		x.WSSAddr = "127.0.0.1:" + strconv.Itoa(port+4)
		listen = append(listen, "wss:"+x.WSSAddr)
	}
	if o.V6 {
		x.UDP6Addr = "[::1]:" + strconv.Itoa(port)
		x.TLS6Addr = "[::1]:" + strconv.Itoa(port+2)
		listen = append(listen, "udp:"+x.UDP6Addr, "tls:"+x.TLS6Addr)
	}
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "listen: [%s]\n", quoteAll(listen))
	cfg.WriteString("log: {level: info, format: console}\n")
	fmt.Fprintf(&cfg, "rpc: {listen: \"127.0.0.1:%d\"}\n", s.RPCPort)
	cfg.WriteString("lua:\n  load: script.lua\n")
	if o.TLS || o.WSS || len(o.TLSProfiles) > 0 {
		cfg.WriteString("tls:\n")
		if o.TLS || o.WSS {
			cfg.WriteString("  - {profile: \"server:default\", certificate: sbc.pem, private_key: sbc.key}\n")
		}
		for _, p := range o.TLSProfiles {
			cfg.WriteString("  - " + p + "\n")
		}
	}
	if len(o.Core) > 0 {
		cfg.WriteString("core:\n")
		for _, c := range o.Core {
			cfg.WriteString("  " + c + "\n")
		}
	}
	cfg.WriteString(o.Extra)
	mods := o.Modules
	if mods == nil {
		mods = bridgeModules
	}
	cfg.WriteString("modules:\n")
	for _, m := range mods {
		cfg.WriteString("  " + m + "\n")
	}
	s.Config = filepath.Join(dir, "sbc.yaml")
	if err := os.WriteFile(s.Config, []byte(cfg.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	s.cmd = exec.Command(sbcBin, "-c", s.Config)
	s.cmd.Dir = dir
	s.cmd.Stdout = s.logs
	s.cmd.Stderr = s.logs
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start sbc: %v", err)
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(s.stop)
	s.waitReady()
	return x
}

func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, ", ")
}

// routes renders the ROUTES table of bridge.lua.
func routes(kv ...string) map[string]string {
	var b strings.Builder
	for i := 0; i+1 < len(kv); i += 2 {
		fmt.Fprintf(&b, "[%q] = %q, ", kv[i], kv[i+1])
	}
	return map[string]string{"__ROUTES__": b.String()}
}

// DialTLS opens a TLS connection to the server, checking its certificate
// for serverName with the test CA.
func (x *xport) DialTLS(t *testing.T, serverName string) *TCPClient {
	t.Helper()
	return x.DialTLSTo(t, x.TLSAddr, serverName)
}

// DialTLSTo is DialTLS to another TLS address of the server.
func (x *xport) DialTLSTo(t *testing.T, addr, serverName string) *TCPClient {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: x.CA.Pool, ServerName: serverName})
	if err != nil {
		t.Fatalf("tls dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return &TCPClient{t: t, Conn: c, r: bufio.NewReaderSize(c, 70000), Addr: c.LocalAddr().String()}
}

// recvStream reads messages until ok accepts one.
func recvStream(c *TCPClient, d time.Duration, ok func(*Msg) bool) (*Msg, []string, error) {
	deadline := time.Now().Add(d)
	var seen []string
	for {
		m, err := c.Recv(time.Until(deadline))
		if err != nil {
			return nil, seen, err
		}
		seen = append(seen, m.First)
		if ok(m) {
			return m, seen, nil
		}
	}
}

// routeSet is the Route header lines for a route set, first entry first.
func routeSet(rrs []string) string {
	var b strings.Builder
	for _, r := range rrs {
		b.WriteString("Route: " + r + "\r\n")
	}
	return b.String()
}

func reversed(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[len(ss)-1-i] = s
	}
	return out
}

// contactURI is the URI inside a Contact value.
func contactURI(v string) string {
	if i := strings.IndexByte(v, '<'); i >= 0 {
		if j := strings.IndexByte(v[i:], '>'); j > 0 {
			return v[i+1 : i+j]
		}
	}
	return strings.TrimSpace(v)
}

// inDialog renders an in-dialog request.
func inDialog(method, ruri, via, from, to, callID string, cseq int, routes []string, contact string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s SIP/2.0\r\nVia: %s\r\n", method, ruri, via)
	b.WriteString(routeSet(routes))
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: %d %s\r\nMax-Forwards: 70\r\n", from, to, callID, cseq, method)
	if contact != "" {
		b.WriteString("Contact: " + contact + "\r\n")
	}
	b.WriteString("Content-Length: 0\r\n\r\n")
	return b.String()
}
