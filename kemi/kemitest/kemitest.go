// Package kemitest runs a real core and Lua engine on an ephemeral loopback
// port for module tests: send SIP text from a client socket, read what comes back.
package kemitest

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"gopkg.in/yaml.v3"

	"github.com/luasbc/luasbc/core"
	"github.com/luasbc/luasbc/core/config"
	"github.com/luasbc/luasbc/core/rpc"
	"github.com/luasbc/luasbc/kemi"
)

// Harness is a running server plus a UDP client.
type Harness struct {
	T      testing.TB
	Core   *core.Core
	Engine *kemi.Engine
	RPC    *rpc.Server
	Client *net.UDPConn
	Addr   *net.UDPAddr // the server's UDP socket
	Logs   *observer.ObservedLogs
	Dir    string
}

// Options tune New.
type Options struct {
	Modules map[string]map[string]any // module configs (YAML-like values)
	Extra   string                    // extra YAML merged at top level (e.g. "alias: [x]")
	Workers int
}

// New starts a server running script (Lua source) with the given modules.
func New(t testing.TB, script string, o Options) *Harness {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "script.lua"), []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	if o.Workers == 0 {
		o.Workers = 2
	}
	doc := map[string]any{
		"listen": []string{"udp:127.0.0.1:0"},
		"lua":    map[string]any{"load": "script.lua", "workers": o.Workers, "timeout_ms": 200},
	}
	mods := map[string]any{}
	for k, v := range o.Modules {
		if v == nil {
			v = map[string]any{}
		}
		mods[k] = v
	}
	doc["modules"] = mods
	if o.Extra != "" {
		var extra map[string]any
		if err := yaml.Unmarshal([]byte(o.Extra), &extra); err != nil {
			t.Fatal(err)
		}
		for k, v := range extra {
			doc[k] = v
		}
	}
	raw, _ := yaml.Marshal(doc)
	cfg, err := config.Parse(raw, dir)
	if err != nil {
		t.Fatal(err)
	}
	obsCore, logs := observer.New(zap.DebugLevel)
	log := zap.New(obsCore)
	c := core.New(cfg, log)
	rs := rpc.NewServer(log)
	eng, err := kemi.NewEngine(c, cfg, log, rs)
	if err != nil {
		t.Fatal(err)
	}
	c.Router = eng
	rs.Register(core.RPCMethods(c)...)
	if err := eng.Start(c.Workers() + 1); err != nil {
		t.Fatal(err)
	}
	if err := c.Listen(); err != nil {
		t.Fatal(err)
	}
	if err := eng.StartModules(); err != nil {
		t.Fatal(err)
	}
	c.Run()
	cl, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	h := &Harness{T: t, Core: c, Engine: eng, RPC: rs, Client: cl, Logs: logs, Dir: dir,
		Addr: net.UDPAddrFromAddrPort(c.TP.Sockets[0].Addr)}
	t.Cleanup(func() {
		_ = cl.Close()
		c.Stop(2 * time.Second)
		eng.Stop()
	})
	return h
}

// ClientPort is the port of the client socket (for Via headers).
func (h *Harness) ClientPort() int { return h.Client.LocalAddr().(*net.UDPAddr).Port }

// ServerPort is the server's UDP port.
func (h *Harness) ServerPort() int { return h.Addr.Port }

// Expand replaces {cport} and {sport} and turns bare LF into CRLF.
func (h *Harness) Expand(raw string) string {
	raw = strings.ReplaceAll(raw, "{cport}", itoa(h.ClientPort()))
	raw = strings.ReplaceAll(raw, "{sport}", itoa(h.ServerPort()))
	raw = strings.ReplaceAll(raw, "\r\n", "\n")
	return strings.ReplaceAll(raw, "\n", "\r\n")
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for n > 0 {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
	}
	return string(b)
}

// Send sends raw (after Expand) to the server.
func (h *Harness) Send(raw string) {
	h.T.Helper()
	if _, err := h.Client.WriteToUDP([]byte(h.Expand(raw)), h.Addr); err != nil {
		h.T.Fatal(err)
	}
}

// Recv waits up to d for one datagram; "" on timeout.
func (h *Harness) Recv(d time.Duration) string {
	_ = h.Client.SetReadDeadline(time.Now().Add(d))
	buf := make([]byte, 65536)
	n, _, err := h.Client.ReadFromUDP(buf)
	if err != nil {
		return ""
	}
	return string(buf[:n])
}

// Exchange sends raw and returns the first reply within one second ("" if none).
func (h *Harness) Exchange(raw string) string {
	h.T.Helper()
	h.Send(raw)
	return h.Recv(time.Second)
}

// Request builds a simple request text with the given method, R-URI and extra
// header lines (each without CRLF), addressed from the client socket.
func Request(method, ruri string, extra ...string) string {
	var b strings.Builder
	b.WriteString(method + " " + ruri + " SIP/2.0\n")
	b.WriteString("Via: SIP/2.0/UDP 127.0.0.1:{cport};branch=z9hG4bK-" + method + "-" + itoa(int(time.Now().UnixNano()%1e9)) + ";rport\n")
	b.WriteString("From: <sip:alice@example.com>;tag=ft1\n")
	b.WriteString("To: <sip:bob@example.com>\n")
	b.WriteString("Call-ID: test-" + itoa(int(time.Now().UnixNano()%1e9)) + "@test\n")
	b.WriteString("CSeq: 1 " + method + "\n")
	b.WriteString("Max-Forwards: 70\n")
	for _, e := range extra {
		b.WriteString(e + "\n")
	}
	b.WriteString("Content-Length: 0\n\n")
	return b.String()
}

// StatusCode extracts the status code of a reply text (0 if not a reply).
func StatusCode(reply string) int {
	if !strings.HasPrefix(reply, "SIP/2.0 ") || len(reply) < 11 {
		return 0
	}
	n := 0
	for _, c := range reply[8:11] {
		if c < '0' || c > '9' {
			return 0
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// LogContains reports whether any log entry message or field contains s.
func (h *Harness) LogContains(s string) bool {
	for _, e := range h.Logs.All() {
		if strings.Contains(e.Message, s) {
			return true
		}
		for _, f := range e.Context {
			if strings.Contains(f.String, s) {
				return true
			}
			if err, ok := f.Interface.(error); ok && strings.Contains(err.Error(), s) {
				return true
			}
		}
	}
	return false
}
