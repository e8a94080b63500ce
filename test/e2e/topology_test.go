package e2e

// Topology hiding end to end: bin/sbc with testdata/lua/topology.lua and topos
// (memory or Redis storage) or topoh between a SIPp caller and SIPp callees.
// Every flow must succeed (SIPp exit 0), and the message traces of each side
// (-trace_msg) must show nothing of the other side: no address, no Via, no
// Record-Route (topos strips them, topoh masks them).
//
//	go test ./test/e2e/ -run 'TestTopology' -v
//
// Then the cluster cases, with Go peers so the test decides which node each
// message goes to: two nodes sharing one Redis (topos), two nodes sharing one
// key (topoh), and a topoh node restarted between INVITE and BYE.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/luasbc/luasbc/core/backend/backendtest"
	"github.com/luasbc/luasbc/modules/topoh/thtest"
)

// topoBaseModules are the modules topology.lua needs; the hiding module is added per mode.
var topoBaseModules = []string{
	"sl: {}",
	"tm: {fr_timer: 2000, fr_inv_timer: 4000}",
	"tmx: {}",
	"rr: {}",
	"maxfwd: {max_limit: 70}",
	"sanity: {}",
	"siputils: {}",
	"kx: {}",
	"corex: {}",
	"textops: {}",
	"xlog: {}",
}

// topoMode is one way the proxy hides the topology.
type topoMode struct {
	name   string
	module func(t *testing.T) string // the YAML line of the hiding module
	topoh  bool
}

var topoModes = []topoMode{
	{name: "topos", module: func(*testing.T) string { return "topos: {event_callback: ksr_topos_event}" }},
	{name: "topos-redis", module: func(t *testing.T) string {
		return fmt.Sprintf("topos: {storage: redis, redis_url: %q, redis_prefix: %q, event_callback: ksr_topos_event}",
			backendtest.RedisURL(), redisPrefix(t))
	}},
	{name: "topoh", topoh: true, module: func(*testing.T) string {
		return `topoh: {mask_key: "e2e secret", mask_callid: 1, event_callback: ksr_topos_event}`
	}},
}

// redisPrefix is a private key prefix, its keys deleted after the test.
func redisPrefix(t *testing.T) string {
	t.Helper()
	rc := backendtest.Redis(t)
	prefix := "test:e2e:topos:" + backendtest.Suffix() + ":"
	t.Cleanup(func() {
		keys, _ := rc.Keys(context.Background(), prefix+"*").Result()
		if len(keys) > 0 {
			rc.Del(context.Background(), keys...)
		}
	})
	return prefix
}

// topoFlow is one SIPp call flow: the caller's scenario and R-URI user, and
// its callees (role A or B of topology.lua).
type topoFlow struct {
	name, caller, service string
	callees               []callee
}

var topoFlows = []topoFlow{
	{"caller-hangs-up", "uac_call.xml", "callee", []callee{{role: "A", scenario: "uas_answer.xml"}}},
	{"callee-hangs-up", "uac_wait_bye.xml", "callee", []callee{{role: "A", scenario: "uas_answer_bye.xml"}}},
	{"whole-dialog", "uac_dialog.xml", "callee", []callee{{role: "A", scenario: "uas_dialog.xml"}}},
	{"cancel", "uac_cancel.xml", "callee", []callee{{role: "A", scenario: "uas_ring_cancel.xml"}}},
	{"busy", "uac_busy.xml", "callee", []callee{{role: "A", scenario: "uas_busy.xml"}}},
	{"fork", "uac_call.xml", "fork", []callee{{role: "A", scenario: "uas_answer.xml", args: []string{"-d", "500"}},
		{role: "B", scenario: "uas_ring_cancel.xml"}}},
	{"out-of-dialog", "uac_message.xml", "callee", []callee{{role: "A", scenario: "uas_message.xml"}}},
}

func TestTopology(t *testing.T) {
	callsEnabled(t)
	for _, mode := range topoModes {
		t.Run(mode.name, func(t *testing.T) {
			for _, f := range topoFlows {
				t.Run(f.name, func(t *testing.T) {
					t.Parallel()
					runTopoFlow(t, mode, f)
				})
			}
		})
	}
}

// topoScenario names a scenario of testdata/sipp/topology for startSIPp,
// which looks in testdata/sipp/calls.
func topoScenario(name string) string { return filepath.Join("..", "topology", name) }

func runTopoFlow(t *testing.T, mode topoMode, f topoFlow) {
	ports := newCalleePorts(t)
	agents := map[string]*sippAgent{}
	var order []*sippAgent
	for _, c := range f.callees {
		port := map[string]int{"A": ports.A, "B": ports.B}[c.role]
		a := startSIPp(t, "callee"+c.role, topoScenario(c.scenario), port, "", c.args...)
		a.waitBound(t)
		agents[c.role] = a
		order = append(order, a)
	}
	mods := append(append([]string(nil), topoBaseModules...), mode.module(t))
	s := StartServer(t, Opts{Script: "topology.lua", Modules: mods, Replace: map[string]string{
		"__CALLEE_A__": fmt.Sprintf("sip:127.0.0.1:%d", ports.A),
		"__CALLEE_B__": fmt.Sprintf("sip:127.0.0.1:%d", ports.B),
	}})
	callerPort := freePorts(t, 6)
	caller := startSIPp(t, "caller", topoScenario(f.caller), callerPort, s.Addr, "-s", f.service)
	order = append([]*sippAgent{caller}, order...)
	failed := false
	for _, a := range order {
		limit := sippTimeout + 12*time.Second
		if a != caller {
			limit = 10 * time.Second
		}
		code, ok := a.wait(limit)
		if !ok || code != 0 {
			t.Errorf("sipp %s: exit %d (finished %v)", a.Name, code, ok)
			failed = true
		}
	}
	if failed {
		for _, a := range order {
			t.Logf("%s", a.report())
		}
		t.Logf("sbc output (tail):\n%s", tail(s.Logs(), 5000))
		t.FailNow()
	}
	if testing.Verbose() {
		var b strings.Builder
		for _, a := range order {
			fmt.Fprintf(&b, "%s:\n%s", a.Name, a.ladder())
		}
		t.Logf("%s %s:\n%s", mode.name, f.name, b.String())
	}

	// What each side received shows nothing of the other side.
	calleeAddrs := []string{}
	for _, c := range f.callees {
		calleeAddrs = append(calleeAddrs, fmt.Sprintf("127.0.0.1:%d", map[string]int{"A": ports.A, "B": ports.B}[c.role]))
	}
	callerAddr := fmt.Sprintf("127.0.0.1:%d", callerPort)
	for role, a := range agents {
		msgs := received(t, a)
		if len(msgs) == 0 {
			t.Errorf("callee %s: no message in its trace", role)
		}
		for _, m := range msgs {
			hidden(t, "callee "+role, m, s.Addr, mode.topoh, append([]string{callerAddr}, calleeAddrs...), a.Port)
		}
	}
	for _, m := range received(t, caller) {
		hidden(t, "caller", m, s.Addr, mode.topoh, calleeAddrs, callerPort)
	}
	waitTopoTransactions(t, s)
	if !strings.Contains(s.Logs(), "luasbc started") {
		t.Errorf("no start line")
	}
}

// hidden checks one message a side received: no address of the others; for a
// request, every Via but the proxy's hidden; no Record-Route of anyone but
// the proxy in clear.
func hidden(t *testing.T, who string, m *Msg, proxy string, topoh bool, others []string, own int) {
	t.Helper()
	for _, o := range others {
		if strings.Contains(m.Raw, o) && !strings.HasSuffix(o, ":"+strconv.Itoa(own)) {
			t.Errorf("%s received %q showing %s:\n%s", who, m.First, o, m.Raw)
		}
	}
	vias := m.All("via")
	if m.Method != "" {
		if len(vias) == 0 || !strings.Contains(vias[0], proxy) {
			t.Errorf("%s received %q whose top Via is not the proxy's: %q", who, m.First, vias)
		}
		for _, v := range vias[1:] {
			if !topoh {
				t.Errorf("%s received %q with a Via beyond the proxy's (topos strips them): %q", who, m.First, v)
			} else if !strings.Contains(v, "127.0.0.8;branch=z9hG4bKsr-") {
				t.Errorf("%s received %q with an unmasked Via %q", who, m.First, v)
			}
		}
	}
	for _, rr := range m.All("record-route") {
		switch {
		case !topoh:
			t.Errorf("%s received %q with a Record-Route (topos strips them): %q", who, m.First, rr)
		case !strings.Contains(rr, proxy) && !strings.Contains(rr, "line=sr-"):
			t.Errorf("%s received %q with an unmasked foreign Record-Route %q", who, m.First, rr)
		}
	}
	if c := m.Get("contact"); c != "" {
		if topoh && !strings.Contains(c, "127.0.0.8;line=sr-") || !topoh && !strings.Contains(c, "tpsh-") {
			t.Errorf("%s received %q with a Contact that is not the proxy's: %q", who, m.First, c)
		}
	}
}

// received returns the messages an agent received, from its -trace_msg file.
func received(t *testing.T, a *sippAgent) []*Msg {
	t.Helper()
	b, err := os.ReadFile(a.file(".msg"))
	if err != nil {
		t.Fatalf("sipp %s: no message trace: %v", a.Name, err)
	}
	var out []*Msg
	for _, block := range strings.Split(string(b), "----------------------------------------------- ") {
		_, rest, ok := strings.Cut(block, "\n") // the time stamp
		if !ok {
			continue
		}
		first, text, ok := strings.Cut(rest, "\n")
		if !ok || !strings.Contains(first, "message received") {
			continue
		}
		// The trace adds blank lines around each message.
		text = strings.TrimRight(strings.TrimLeft(text, "\r\n"), "\r\n")
		if !strings.Contains(text, "\r\n\r\n") {
			text += "\r\n\r\n"
		}
		m, err := ParseMsg(text)
		if err != nil {
			t.Errorf("sipp %s: unparsable received message: %v\n%q", a.Name, err, text)
			continue
		}
		out = append(out, m)
	}
	return out
}

// waitTopoTransactions requires every transaction to be freed after the flow.
func waitTopoTransactions(t *testing.T, s *Server) {
	t.Helper()
	deadline := time.Now().Add(callWT)
	for {
		n := s.Stat("tm:current")
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%d transaction(s) still in memory %v after the flow", n, callWT)
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// startServerAt starts bin/sbc like StartServer, on a given port (0: a free
// one) and with extra top-level config lines (alias: ...).
func startServerAt(t *testing.T, port int, o Opts, extra ...string) *Server {
	t.Helper()
	if port == 0 {
		port = freePorts(t, 2)
	}
	dir := t.TempDir()
	s := &Server{t: t, Port: port, RPCPort: port + 1, Addr: "127.0.0.1:" + strconv.Itoa(port), Dir: dir,
		logs: &logBuf{}, exited: make(chan struct{})}
	text, err := os.ReadFile(testdata("lua", o.Script))
	if err != nil {
		t.Fatalf("script: %v", err)
	}
	s.Script = filepath.Join(dir, "script.lua")
	s.WriteScript(expand(string(text), o.Replace))
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "listen: [\"udp:%s\", \"tcp:%s\"]\n", s.Addr, s.Addr)
	cfg.WriteString("log: {level: info, format: console}\n")
	fmt.Fprintf(&cfg, "rpc: {listen: \"127.0.0.1:%d\"}\n", s.RPCPort)
	cfg.WriteString("lua:\n  load: script.lua\n")
	for _, e := range extra {
		cfg.WriteString(e + "\n")
	}
	cfg.WriteString("modules:\n")
	for _, m := range o.Modules {
		cfg.WriteString("  " + m + "\n")
	}
	s.Config = filepath.Join(dir, "sbc.yaml")
	if err := os.WriteFile(s.Config, []byte(cfg.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	s.launch()
	return s
}

// topoPeerModules: topology.lua's modules with the given hiding module.
func topoPeerModules(module string) []string {
	return append(append([]string(nil), topoBaseModules...), module)
}

// peerCall is a call set up through a proxy by Go peers (thtest): the peers
// send each message to the proxy the test chooses.
type peerCall struct {
	caller, callee *thtest.Peer
	inv, ok        *thtest.Msg
	uac, uas       *thtest.Dialog
}

// setupPeerCall runs INVITE, 180, 200, ACK through proxy addr; the callee is
// topology.lua's callee A.
func setupPeerCall(t *testing.T, addr string, caller, callee *thtest.Peer) *peerCall {
	t.Helper()
	return setupPeerCallTo(t, addr, "sip:callee@"+addr, caller, callee)
}

// setupPeerCallTo is setupPeerCall with the INVITE's R-URI.
func setupPeerCallTo(t *testing.T, addr, ruri string, caller, callee *thtest.Peer) *peerCall {
	t.Helper()
	caller.Send(addr, strings.Replace(caller.Invite(addr, callee.Addr), "sip:bob@"+addr, ruri, 1))
	inv := callee.Expect("INVITE ")
	callee.Send(addr, callee.Reply(inv, 180, "Ringing", "bt1", ""))
	caller.Expect("SIP/2.0 180")
	callee.Send(addr, callee.Reply(inv, 200, "OK", "bt1", ""))
	ok := caller.Expect("SIP/2.0 200")
	c := &peerCall{caller: caller, callee: callee, inv: inv, ok: ok,
		uac: thtest.UACDialog(caller, ok, 1), uas: thtest.UASDialog(callee, inv, "bt1", 0)}
	caller.Send(addr, c.uac.Request("ACK"))
	callee.Expect("ACK ")
	return c
}

// noneOf fails when a message shows one of the addresses.
func noneOf(t *testing.T, what string, m *thtest.Msg, addrs ...string) {
	t.Helper()
	for _, a := range addrs {
		if strings.Contains(m.Raw, a) {
			t.Errorf("%s shows %s:\n%s", what, a, m.Raw)
		}
	}
}

// inDialogBothWays runs, through addr, a re-INVITE from the callee, an INFO
// from the caller and a BYE from the callee, checking what each side gets.
func inDialogBothWays(t *testing.T, addr string, c *peerCall) {
	t.Helper()
	caller, callee := c.caller, c.callee
	callee.Send(addr, c.uas.Request("INVITE"))
	re := caller.Expect("INVITE ")
	if re.RURI != "sip:alice@"+caller.Addr {
		t.Errorf("re-INVITE reached the caller at %q", re.RURI)
	}
	noneOf(t, "re-INVITE at the caller", re, callee.Addr)
	caller.Send(addr, caller.Reply(re, 200, "OK", "", ""))
	noneOf(t, "re-INVITE 200 at the callee", callee.Expect("SIP/2.0 200"), caller.Addr)
	callee.Send(addr, c.uas.Request("ACK"))
	caller.Expect("ACK ")
	caller.Send(addr, c.uac.Request("INFO"))
	info := callee.Expect("INFO ")
	if info.RURI != "sip:bob@"+callee.Addr {
		t.Errorf("INFO reached the callee at %q", info.RURI)
	}
	noneOf(t, "INFO at the callee", info, caller.Addr)
	callee.Send(addr, callee.Reply(info, 200, "OK", "", "-"))
	noneOf(t, "INFO 200 at the caller", caller.Expect("SIP/2.0 200"), callee.Addr)
	callee.Send(addr, c.uas.Request("BYE"))
	bye := caller.Expect("BYE ")
	noneOf(t, "BYE at the caller", bye, callee.Addr)
	caller.Send(addr, caller.Reply(bye, 200, "OK", "", "-"))
	callee.Expect("SIP/2.0 200")
}

// Two nodes with topos on one Redis: a dialog set up through node A goes on
// through node B, which never saw its INVITE, in both directions. Node B
// answers to node A's address (alias), as two nodes behind one DNS name.
func TestTopologyTwoNodesRedis(t *testing.T) {
	t.Parallel()
	callee := thtest.NewPeer(t, "bob")
	mod := fmt.Sprintf("topos: {storage: redis, redis_url: %q, redis_prefix: %q}", backendtest.RedisURL(), redisPrefix(t))
	opts := Opts{Script: "topology.lua", Modules: topoPeerModules(mod),
		Replace: map[string]string{"__CALLEE_A__": "sip:" + callee.Addr, "__CALLEE_B__": "sip:" + callee.Addr}}
	portA, portB := freePorts(t, 2), freePorts(t, 2)
	alias := fmt.Sprintf("alias: [\"127.0.0.1:%d\", \"127.0.0.1:%d\"]", portA, portB)
	a := startServerAt(t, portA, opts, alias)
	b := startServerAt(t, portB, opts, alias)
	caller := thtest.NewPeer(t, "alice")
	c := setupPeerCall(t, a.Addr, caller, callee)
	noneOf(t, "INVITE at the callee", c.inv, caller.Addr)
	noneOf(t, "200 at the caller", c.ok, callee.Addr)
	inDialogBothWays(t, b.Addr, c)
	if n := b.Stat("topos:restored_requests"); n < 3 {
		t.Errorf("node B restored %d requests, want the re-INVITE, ACK, INFO and BYE", n)
	}
}

// Two nodes with topoh and the same key: node B decodes what node A masked.
func TestTopologyTwoNodesTopoh(t *testing.T) {
	t.Parallel()
	callee := thtest.NewPeer(t, "bob")
	mod := `topoh: {mask_key: "cluster key", mask_callid: 1}`
	opts := Opts{Script: "topology.lua", Modules: topoPeerModules(mod),
		Replace: map[string]string{"__CALLEE_A__": "sip:" + callee.Addr, "__CALLEE_B__": "sip:" + callee.Addr}}
	portA, portB := freePorts(t, 2), freePorts(t, 2)
	alias := fmt.Sprintf("alias: [\"127.0.0.1:%d\", \"127.0.0.1:%d\"]", portA, portB)
	a := startServerAt(t, portA, opts, alias)
	b := startServerAt(t, portB, opts, alias)
	caller := thtest.NewPeer(t, "alice")
	c := setupPeerCall(t, a.Addr, caller, callee)
	noneOf(t, "INVITE at the callee", c.inv, caller.Addr)
	inDialogBothWays(t, b.Addr, c)
	if n := b.Stat("topoh:unmasked"); n < 4 {
		t.Errorf("node B unmasked %d messages, want at least the re-INVITE, INFO, BYE and a reply", n)
	}
}

// A topoh node restarted between INVITE and BYE: the new process, on the same
// port with the same key, routes the in-dialog requests from the masked
// values alone.
func TestTopologyTopohRestart(t *testing.T) {
	t.Parallel()
	callee := thtest.NewPeer(t, "bob")
	opts := Opts{Script: "topology.lua", Modules: topoPeerModules(`topoh: {mask_key: "restart key"}`),
		Replace: map[string]string{"__CALLEE_A__": "sip:" + callee.Addr, "__CALLEE_B__": "sip:" + callee.Addr}}
	first := startServerAt(t, 0, opts)
	caller := thtest.NewPeer(t, "alice")
	c := setupPeerCall(t, first.Addr, caller, callee)
	first.stop()
	if first.Alive() {
		t.Fatal("the first server is still running")
	}
	second := startServerAt(t, first.Port, opts)
	if second.Pid() == first.Pid() || second.Addr != first.Addr {
		t.Fatalf("not a new process on the same address: %d %s / %d %s", first.Pid(), first.Addr, second.Pid(), second.Addr)
	}
	inDialogBothWays(t, second.Addr, c)
	if n := second.Stat("topoh:unmasked"); n < 4 {
		t.Errorf("the new process unmasked %d messages, want at least the re-INVITE, INFO, BYE and a reply", n)
	}
}
