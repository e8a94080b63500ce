package e2e

// The examples of lua/examples run as shipped: their sbc.yaml and script.lua
// are copied into a temporary directory with only addresses changed (ports,
// gateways, key prefixes), and bin/sbc is started on that sbc.yaml.

import (
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

// startExample copies lua/examples/<name> into a temporary directory, moves
// its SIP listener (127.0.0.1:5060) and RPC listener (127.0.0.1:8088) to free
// ports, applies edit (per file name: old -> new, each old must be found) and
// starts bin/sbc on its sbc.yaml.
func startExample(t *testing.T, name string, edit map[string]map[string]string) *Server {
	t.Helper()
	src := filepath.Join(repoRoot, "lua", "examples", name)
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	port := freePorts(t, 2)
	s := &Server{t: t, Port: port, RPCPort: port + 1, Addr: "127.0.0.1:" + strconv.Itoa(port), Dir: dir,
		logs: &logBuf{}, exited: make(chan struct{})}
	moved := map[string]string{"127.0.0.1:5060": s.Addr, "127.0.0.1:8088": "127.0.0.1:" + strconv.Itoa(s.RPCPort),
		"load: ../../default.lua": "load: " + filepath.Join(repoRoot, "lua", "default.lua")}
	for _, e := range entries {
		if e.IsDir() || e.Name() == "README.md" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		text := expand(string(b), moved)
		for old, repl := range edit[e.Name()] {
			if !strings.Contains(text, old) {
				t.Fatalf("example %s/%s no longer contains %q: update the test", name, e.Name(), old)
			}
			text = strings.ReplaceAll(text, old, repl)
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s.Config = filepath.Join(dir, "sbc.yaml")
	s.Script = filepath.Join(dir, "script.lua")
	s.launch()
	return s
}

// toposExampleEdit points the sbc-topos example at the given gateways, a
// private Redis key prefix, and no gateway probing (the SIPp gateways answer
// only what their scenario expects).
func toposExampleEdit(t *testing.T, gateways ...string) map[string]map[string]string {
	var list strings.Builder
	for i, gw := range gateways {
		// Descending priority: round robin starts with the first one.
		fmt.Fprintf(&list, "1 %s 0 %d duid=gw%d\n", gw, 10-i, i+1)
	}
	return map[string]map[string]string{
		"dispatcher.list": {"1 sip:127.0.0.1:5080 8 0 duid=gw1\n": list.String()},
		"sbc.yaml": {
			`redis_url: "redis://127.0.0.1:6379/0"`: fmt.Sprintf("redis_url: %q", backendtest.RedisURL()),
			`redis_prefix: "sbc:topos:"`:            fmt.Sprintf("redis_prefix: %q", redisPrefix(t)),
			"ds_ping_interval: 10":                  "ds_ping_interval: 3600",
		},
	}
}

// TestExampleSBCToposInbound: a call from outside reaches the second inner
// gateway after the first answers 503, and neither side sees the other's
// addresses, Via or Record-Route; every topos event is logged.
func TestExampleSBCToposInbound(t *testing.T) {
	callsEnabled(t)
	t.Parallel()
	gw1Port, gw2Port := freePorts(t, 6), freePorts(t, 6)
	gw1 := startSIPp(t, "gw1", "uas_503.xml", gw1Port, "")
	gw2 := startSIPp(t, "gw2", topoScenario("uas_answer.xml"), gw2Port, "")
	gw1.waitBound(t)
	gw2.waitBound(t)
	s := startExample(t, "sbc-topos", toposExampleEdit(t,
		fmt.Sprintf("sip:127.0.0.1:%d", gw1Port), fmt.Sprintf("sip:127.0.0.1:%d", gw2Port)))
	callerPort := freePorts(t, 6)
	caller := startSIPp(t, "caller", topoScenario("uac_call.xml"), callerPort, s.Addr, "-s", "4930123")
	for _, a := range []*sippAgent{caller, gw1, gw2} {
		if code, ok := a.wait(sippTimeout + 10*time.Second); !ok || code != 0 {
			t.Errorf("sipp %s: exit %d (finished %v)\n%s", a.Name, code, ok, a.report())
		}
	}
	if t.Failed() {
		t.Fatalf("sbc output (tail):\n%s", tail(s.Logs(), 5000))
	}
	callerAddr := fmt.Sprintf("127.0.0.1:%d", callerPort)
	gwAddrs := []string{fmt.Sprintf("127.0.0.1:%d", gw1Port), fmt.Sprintf("127.0.0.1:%d", gw2Port)}
	for _, gw := range []*sippAgent{gw1, gw2} {
		for _, m := range received(t, gw) {
			hidden(t, gw.Name, m, s.Addr, false, append([]string{callerAddr}, gwAddrs...), gw.Port)
		}
	}
	for _, m := range received(t, caller) {
		hidden(t, "caller", m, s.Addr, false, gwAddrs, callerPort)
	}
	logs := s.Logs()
	for _, want := range []string{
		"inbound INVITE", "via gateway sip:" + gwAddrs[0],
		"topos:msg-outgoing to udp:" + gwAddrs[1], "topos:msg-incoming from udp:127.0.0.1:" + strconv.Itoa(callerPort),
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("the example's log lacks %q", want)
		}
	}
	waitTopoTransactions(t, s)
}

// TestExampleSBCToposOutbound: a call from an inner gateway goes out to its
// R-URI; in-dialog requests both ways go through, hidden.
func TestExampleSBCToposOutbound(t *testing.T) {
	t.Parallel()
	gw := thtest.NewPeer(t, "alice")
	outside := thtest.NewPeer(t, "bob")
	s := startExample(t, "sbc-topos", toposExampleEdit(t, "sip:"+gw.Addr))
	c := setupPeerCallTo(t, s.Addr, "sip:bob@"+outside.Addr, gw, outside)
	noneOf(t, "INVITE outside", c.inv, gw.Addr)
	noneOf(t, "200 at the gateway", c.ok, outside.Addr)
	inDialogBothWays(t, s.Addr, c)
	if !strings.Contains(s.Logs(), "outbound INVITE") {
		t.Errorf("the example did not log the outbound call")
	}

	// A forged in-dialog request from outside (a To tag and our Route)
	// does not reach an inner address that is no gateway.
	inner, outsider := newUDPFrom(t, "127.0.0.9"), NewUDP(t) // the gateway is 127.0.0.1
	forged := forgedInDialogInvite(outsider, s, "sip:inner@"+inner.Addr, "<sip:"+s.Addr+";lr>")
	if r, err := outsider.Exchange(s.Addr, forged, replyWait); err != nil || r.Code != 403 {
		t.Errorf("forged in-dialog INVITE to the inner network: %v %v, want 403", r, err)
	}
	inner.ExpectNothing(t, 300*time.Millisecond, "the inner address after a forged in-dialog INVITE")
}

// TestExampleMediaGateway: the media-gateway example sends a call to the
// first gateway of set 1, and on its 503 to the second, which answers.
func TestExampleMediaGateway(t *testing.T) {
	callsEnabled(t)
	t.Parallel()
	gw1Port, gw2Port := freePorts(t, 6), freePorts(t, 6)
	gw1 := startSIPp(t, "gw1", "uas_503.xml", gw1Port, "")
	gw2 := startSIPp(t, "gw2", topoScenario("uas_answer.xml"), gw2Port, "")
	gw1.waitBound(t)
	gw2.waitBound(t)
	s := startExample(t, "media-gateway", map[string]map[string]string{
		"dispatcher.list": {
			"1 sip:127.0.0.1:5080 8 0 duid=mgw1": fmt.Sprintf("1 sip:127.0.0.1:%d 0 10 duid=mgw1", gw1Port),
			"1 sip:127.0.0.1:5082 8 0 duid=mgw2": fmt.Sprintf("1 sip:127.0.0.1:%d 0 5 duid=mgw2", gw2Port),
		},
		"sbc.yaml": {"ds_ping_interval: 10": "ds_ping_interval: 3600"},
	})
	caller := startSIPp(t, "caller", topoScenario("uac_call.xml"), freePorts(t, 6), s.Addr, "-s", "4930123")
	for _, a := range []*sippAgent{caller, gw1, gw2} {
		if code, ok := a.wait(sippTimeout + 10*time.Second); !ok || code != 0 {
			t.Errorf("sipp %s: exit %d (finished %v)\n%s", a.Name, code, ok, a.report())
		}
	}
	if t.Failed() {
		t.Logf("sbc output (tail):\n%s", tail(s.Logs(), 5000))
	}
	waitTopoTransactions(t, s)
}

// TestExampleSecureEdge: two nodes of the secure-edge example share their
// bans through Redis. A scanner's User-Agent, a source on secfilter's block
// list and a flood are banned with their reasons, on both nodes; sbcctl
// lifts a ban everywhere.
func TestExampleSecureEdge(t *testing.T) {
	t.Parallel()
	prefix := redisPrefix(t)
	edit := map[string]map[string]string{
		"sbc.yaml": {
			`redis_url: "redis://127.0.0.1:6379/0"`: fmt.Sprintf("redis_url: %q", backendtest.RedisURL()),
			`redis_prefix: "edge:"`:                 fmt.Sprintf("redis_prefix: %q", prefix),
		},
		"secfilter": {"198.51.100.66": "127.0.0.66"},
	}
	a := startExample(t, "secure-edge", edit)
	b := startExample(t, "secure-edge", edit)

	const scanner, listed, flooder = "127.0.0.30", "127.0.0.66", "127.0.0.31"
	if r := keepalive(t, a, newUDPFrom(t, scanner), "sipcli/v1.8", replyWait); r == nil || r.Code != 200 {
		t.Fatalf("scanner got %v, want the bland 200", r)
	}
	if !a.waitBan(t, scanner, "scanner", 2*time.Second) {
		t.Fatalf("scanner not banned: %v", a.bans(t))
	}
	if r := keepalive(t, b, newUDPFrom(t, scanner), "Linphone/5.0", 700*time.Millisecond); r != nil {
		t.Errorf("node B answered the scanner banned on node A: %q", r.First)
	}
	if r := keepalive(t, a, newUDPFrom(t, listed), "Linphone/5.0", 700*time.Millisecond); r != nil {
		t.Errorf("a source on the block list got %q", r.First)
	}
	if !b.waitBan(t, listed, "blocklist", 2*time.Second) {
		t.Errorf("the block-listed source is not banned on node B: %v", b.bans(t))
	}

	// A flood: twice the example's pike limit within one sampling unit.
	c := newUDPFrom(t, flooder)
	for i := 0; i < 60 && !a.waitBan(t, flooder, "flood", 0); i++ {
		c.Send(a.Addr, []byte(NewReq(optionsTmpl, c.Addr, a.Addr, "UDP").Text))
	}
	if !a.waitBan(t, flooder, "flood", 3*time.Second) {
		t.Errorf("the flood was not banned: %v", a.bans(t))
	}
	if !strings.Contains(a.Logs(), "luasbc-ban: ip="+flooder+" reason=flood") {
		t.Errorf("no fail2ban line for the flood")
	}

	sbcctl(t, a, "ban", "rm", scanner)
	if r := keepalive(t, b, newUDPFrom(t, scanner), "Linphone/5.0", replyWait); r == nil || r.Code != 200 {
		t.Errorf("node B after the ban was lifted on node A: %v", r)
	}
}
