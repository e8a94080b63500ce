package nathelper_test

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"gopkg.in/yaml.v3"

	"github.com/luasbc/luasbc/core"
	"github.com/luasbc/luasbc/core/config"
	"github.com/luasbc/luasbc/core/rpc"
	"github.com/luasbc/luasbc/core/stats"
	"github.com/luasbc/luasbc/kemi"
	"github.com/luasbc/luasbc/modules/nathelper"
)

// fakeUsrloc stands in for the usrloc module: its contacts are set by the
// test, and it records what nathelper reports back.
type fakeUsrloc struct {
	mu       sync.Mutex
	contacts []nathelper.PingTarget
	natOnly  []bool
	replies  map[string]int
	expired  []string
}

func (f *fakeUsrloc) Exports() []kemi.Export { return nil }

func (f *fakeUsrloc) KeepaliveContacts(_ context.Context, natOnly bool) ([]nathelper.PingTarget, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.natOnly = append(f.natOnly, natOnly)
	return append([]nathelper.PingTarget(nil), f.contacts...), nil
}

func (f *fakeUsrloc) KeepaliveReply(ruid string, rtt time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.replies == nil {
		f.replies = map[string]int{}
	}
	f.replies[ruid]++
}

func (f *fakeUsrloc) KeepaliveExpired(ruid string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.expired = append(f.expired, ruid)
	// usrloc removes it.
	out := f.contacts[:0]
	for _, c := range f.contacts {
		if c.Ruid != ruid {
			out = append(out, c)
		}
	}
	f.contacts = out
}

func (f *fakeUsrloc) set(cs ...nathelper.PingTarget) {
	f.mu.Lock()
	f.contacts = cs
	f.mu.Unlock()
}

func (f *fakeUsrloc) snapshot() (replies map[string]int, expired []string, natOnly []bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := map[string]int{}
	for k, v := range f.replies {
		r[k] = v
	}
	return r, append([]string(nil), f.expired...), append([]bool(nil), f.natOnly...)
}

// listOnly is a usrloc that can list contacts but not remove them.
type listOnly struct{}

func (listOnly) Exports() []kemi.Export { return nil }
func (listOnly) KeepaliveContacts(context.Context, bool) ([]nathelper.PingTarget, error) {
	return nil, nil
}

func init() {
	kemi.RegisterModule(&kemi.Module{Name: "usrloc", Params: []kemi.ParamDef{{Name: "kind", Default: "full"}},
		New: func(env *kemi.Env) (kemi.Instance, error) {
			switch env.Params.Str("kind") {
			case "list":
				return listOnly{}, nil
			case "none":
				return noContacts{}, nil
			}
			return &fakeUsrloc{}, nil
		}})
}

type noContacts struct{}

func (noContacts) Exports() []kemi.Export { return nil }

// tryStart builds an engine with mods and starts its modules, returning the
// error sbc --check would report.
func tryStart(mods map[string]map[string]any) (*kemi.Engine, error) {
	dir, err := os.MkdirTemp("", "nh")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	if err := os.WriteFile(filepath.Join(dir, "s.lua"), []byte("function ksr_request_route() end\n"), 0o644); err != nil {
		return nil, err
	}
	m := map[string]any{}
	for k, v := range mods {
		if v == nil {
			v = map[string]any{}
		}
		m[k] = v
	}
	raw, _ := yaml.Marshal(map[string]any{"listen": []string{"udp:127.0.0.1:0"}, "lua": map[string]any{"load": "s.lua"}, "modules": m})
	cfg, err := config.Parse(raw, dir)
	if err != nil {
		return nil, err
	}
	c := core.New(cfg, zap.NewNop())
	eng, err := kemi.NewEngine(c, cfg, zap.NewNop(), nil)
	if err != nil {
		return nil, err
	}
	err = eng.StartModules()
	eng.Stop()
	return eng, err
}

func TestKeepaliveStartErrors(t *testing.T) {
	for _, tc := range []struct {
		mods map[string]map[string]any
		want string
	}{
		{map[string]map[string]any{"nathelper": {"natping_interval": 10}}, "usrloc"},
		{map[string]map[string]any{"nathelper": {"natping_interval": 10}, "usrloc": {"kind": "none"}}, "cannot list"},
		{map[string]map[string]any{"nathelper": {"natping_interval": 10, "keepalive_timeout": 60}, "usrloc": {"kind": "list"}}, "keepalive_timeout"},
		{map[string]map[string]any{"nathelper": {"natping_interval": 10, "force_socket": "udp:192.0.2.1:5060"}, "usrloc": nil}, "force_socket"},
	} {
		_, err := tryStart(tc.mods)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one naming %q", tc.mods, err, tc.want)
		}
	}
	if _, err := tryStart(map[string]map[string]any{"nathelper": {"natping_interval": 10}, "usrloc": {"kind": "list"}}); err != nil {
		t.Errorf("a usrloc that only lists contacts is enough without keepalive_timeout: %v", err)
	}
}

// pingServer runs luasbc with nathelper keepalives every second and the
// fake usrloc; peer is the test socket the contacts point at.
type pingServer struct {
	*server
	ul   *fakeUsrloc
	peer *net.UDPConn
}

func startPing(t *testing.T, params map[string]any) *pingServer {
	t.Helper()
	p := map[string]any{"natping_interval": 1, "sipping_bflag": 7, "sipping_from": "sip:pinger@example.com"}
	for k, v := range params {
		p[k] = v
	}
	script := `function ksr_request_route() KSR.sl.sl_send_reply(404, "Not here") end
function ksr_reply_route() KSR.info("REPLY ROUTE " .. KSR.pv.gete("$rs")) end
`
	s := startScript(t, script, map[string]map[string]any{"sl": nil, "usrloc": nil, "nathelper": p})
	ul, ok := s.h.Engine.Instance("usrloc").(*fakeUsrloc)
	if !ok {
		t.Fatal("no fake usrloc")
	}
	return &pingServer{server: s, ul: ul, peer: s.nh}
}

func (p *pingServer) peerURI() string { return "sip:127.0.0.1:" + p.nhPort() }

// recvPeer reads datagrams at the peer until one satisfies keep or d passes.
func (p *pingServer) recvPeer(t *testing.T, d time.Duration, keep func(string) bool) (string, *net.UDPAddr) {
	t.Helper()
	end := time.Now().Add(d)
	buf := make([]byte, 65536)
	for time.Now().Before(end) {
		_ = p.peer.SetReadDeadline(end)
		n, from, err := p.peer.ReadFromUDP(buf)
		if err != nil {
			break
		}
		if keep(string(buf[:n])) {
			return string(buf[:n]), from
		}
	}
	return "", nil
}

func isOptions(m string) bool { return strings.HasPrefix(m, "OPTIONS ") }

// replyTo builds the reply a user agent sends to request req.
func replyTo(req string, code int) string {
	var b strings.Builder
	b.WriteString("SIP/2.0 " + strconv.Itoa(code) + " OK\r\n")
	for _, name := range []string{"Via", "From", "To", "Call-ID", "CSeq"} {
		for _, v := range headers(req, name) {
			if name == "To" {
				v += ";tag=ua1"
			}
			b.WriteString(name + ": " + v + "\r\n")
		}
	}
	b.WriteString("Content-Length: 0\r\n\r\n")
	return b.String()
}

func TestSIPKeepaliveAndReplyAbsorbed(t *testing.T) {
	p := startPing(t, nil)
	contact := "sip:alice@10.0.0.5:5062;transport=udp"
	p.ul.set(nathelper.PingTarget{AOR: "alice", Contact: contact, Received: p.peerURI(), CFlags: 1 << 7, Ruid: "r1"})
	before := stats.New("nathelper", "keepalive_replies", "").Value()
	got, from := p.recvPeer(t, 3*time.Second, isOptions)
	if got == "" {
		t.Fatalf("no OPTIONS keepalive; logs: %v", p.h.Logs.All())
	}
	if rl := requestLine(got); rl != "OPTIONS "+contact+" SIP/2.0" {
		t.Errorf("request line %q", rl)
	}
	eq(t, "To", headers(got, "To"), []string{"<" + contact + ">"})
	if f := headers(got, "From"); len(f) != 1 || !strings.HasPrefix(f[0], "<sip:pinger@example.com>;tag=") {
		t.Errorf("From %q", f)
	}
	eq(t, "CSeq", headers(got, "CSeq"), []string{"1 OPTIONS"})
	eq(t, "Max-Forwards", headers(got, "Max-Forwards"), []string{"70"})
	via := headers(got, "Via")
	if len(via) != 1 || !strings.Contains(via[0], ";branch=z9hG4bKnhp.") || !strings.HasPrefix(via[0], "SIP/2.0/UDP 127.0.0.1:"+strconv.Itoa(p.h.ServerPort())) {
		t.Errorf("Via %q", via)
	}
	if from.Port != p.h.ServerPort() {
		t.Errorf("keepalive sent from port %d, not the listening socket %d", from.Port, p.h.ServerPort())
	}
	// The user agent answers; nathelper takes the reply and tells usrloc.
	if _, err := p.peer.WriteToUDP([]byte(replyTo(got, 200)), from); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		r, _, _ := p.ul.snapshot()
		if r["r1"] > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("usrloc was not told about the reply; logs: %v", p.h.Logs.All())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := stats.New("nathelper", "keepalive_replies", "").Value(); n <= before {
		t.Errorf("keepalive_replies %d, was %d", n, before)
	}
	// A reply naming our keepalive branch that matches no ping in flight
	// (here: the same one again) is absorbed too, never relayed.
	rep := replyTo(got, 200)
	if _, err := p.peer.WriteToUDP([]byte(rep), from); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if !p.h.LogContains("REPLY ROUTE 200") {
		t.Error("the reply route did not see the reply")
	}
	if _, _, natOnly := p.ul.snapshot(); len(natOnly) == 0 || natOnly[0] {
		t.Errorf("natOnly %v, want false (ping_nated_only 0)", natOnly)
	}
}

func TestUDPKeepaliveAndDisableFlag(t *testing.T) {
	p := startPing(t, map[string]any{"natping_disable_bflag": 3, "ping_nated_only": 1})
	// Two contacts at the peer: one pinged with zero bytes, one never (its
	// Contact host is distinguishable in a SIP ping, so flag it sipping
	// too: if it were pinged, an OPTIONS would show up).
	p.ul.set(
		nathelper.PingTarget{AOR: "bob", Contact: "sip:bob@10.0.0.6", Received: p.peerURI(), Ruid: "r2"},
		nathelper.PingTarget{AOR: "carol", Contact: "sip:carol@10.0.0.7", Received: p.peerURI(), CFlags: 1<<3 | 1<<7, Ruid: "r3"},
	)
	var zero, options int
	p.recvPeer(t, 2500*time.Millisecond, func(m string) bool {
		switch {
		case m == "\x00\x00\x00\x00":
			zero++
		case isOptions(m):
			options++
		}
		return false
	})
	if zero == 0 || options != 0 {
		t.Errorf("%d zero-byte pings and %d OPTIONS, want some and none", zero, options)
	}
	if _, _, natOnly := p.ul.snapshot(); len(natOnly) == 0 || !natOnly[0] {
		t.Errorf("natOnly %v, want true (ping_nated_only 1)", natOnly)
	}
}

func TestKeepaliveTimeout(t *testing.T) {
	p := startPing(t, map[string]any{"keepalive_timeout": 2})
	p.ul.set(
		nathelper.PingTarget{AOR: "dave", Contact: "sip:dave@10.0.0.8", Received: p.peerURI(), CFlags: 1 << 7, Ruid: "silent"},
		nathelper.PingTarget{AOR: "erin", Contact: "sip:erin@10.0.0.9", Received: p.peerURI(), CFlags: 1 << 7, Ruid: "answers"},
	)
	// Answer erin's pings only.
	deadline := time.Now().Add(6 * time.Second)
	for time.Now().Before(deadline) {
		if _, expired, _ := p.ul.snapshot(); len(expired) > 0 {
			break
		}
		got, from := p.recvPeer(t, 300*time.Millisecond, isOptions)
		if got != "" && strings.Contains(requestLine(got), "erin@") {
			_, _ = p.peer.WriteToUDP([]byte(replyTo(got, 200)), from)
		}
	}
	replies, expired, _ := p.ul.snapshot()
	eq(t, "expired", expired, []string{"silent"})
	if replies["answers"] == 0 || replies["silent"] != 0 {
		t.Errorf("replies %v", replies)
	}
	// Once removed, the silent contact is not pinged any more.
	seen := false
	p.recvPeer(t, 1500*time.Millisecond, func(m string) bool {
		seen = seen || strings.Contains(requestLine(m), "dave@")
		return false
	})
	if seen {
		t.Error("the expired contact is still pinged")
	}
}

func TestEnablePing(t *testing.T) {
	p := startPing(t, nil)
	p.ul.set(nathelper.PingTarget{AOR: "f", Contact: "sip:f@10.0.0.10", Received: p.peerURI(), Ruid: "r5"})
	if got, _ := p.recvPeer(t, 3*time.Second, func(string) bool { return true }); got == "" {
		t.Fatal("no keepalive before enable_ping 0")
	}
	call := func(arg string) {
		if _, err := p.h.RPC.Call(context.Background(), "nathelper.enable_ping", rpc.Params{json.RawMessage(arg)}); err != nil {
			t.Fatal(err)
		}
	}
	call(`0`)
	time.Sleep(1100 * time.Millisecond) // a tick already under way may still send
	if got, _ := p.recvPeer(t, 2500*time.Millisecond, func(string) bool { return true }); got != "" {
		t.Errorf("keepalive %q after enable_ping 0", got)
	}
	call(`"1"`)
	if got, _ := p.recvPeer(t, 3*time.Second, func(string) bool { return true }); got == "" {
		t.Error("no keepalive after enable_ping 1")
	}
}

// Contacts whose data cannot make a safe request are skipped, not sent
// with injected text.
func TestKeepaliveRefusesBadContacts(t *testing.T) {
	p := startPing(t, nil)
	p.ul.set(
		nathelper.PingTarget{AOR: "x", Contact: "sip:x@10.0.0.5\r\nX-Evil: 1", Received: p.peerURI(), CFlags: 1 << 7, Ruid: "a"},
		nathelper.PingTarget{AOR: "y", Contact: "sip:y@10.0.0.5", Path: "<" + p.peerURI() + ";lr>\r\nX-Evil: 1", CFlags: 1 << 7, Ruid: "b"},
		nathelper.PingTarget{AOR: "z", Contact: "sip:z@10.0.0.5", Path: "<" + p.peerURI() + ";lr>", CFlags: 1 << 7, Ruid: "c"},
	)
	var got []string
	p.recvPeer(t, 2500*time.Millisecond, func(m string) bool { got = append(got, m); return false })
	if len(got) == 0 {
		t.Fatal("the good contact was not pinged")
	}
	for _, m := range got {
		if strings.Contains(m, "X-Evil") || !strings.HasPrefix(m, "OPTIONS sip:z@10.0.0.5 SIP/2.0\r\n") {
			t.Errorf("unexpected keepalive %q", m)
		}
		eq(t, "Route", headers(m, "Route"), []string{"<" + p.peerURI() + ";lr>"})
	}
}
