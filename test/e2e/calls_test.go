package e2e

// Call flows through a transaction-stateful, record-routing proxy (RFC 3665 session
// flows), with SIPp as caller and callee(s): testdata/lua/proxy.lua on bin/sbc with
// sl, tm, tmx, rr and the REQINIT modules, and the scenarios of
// testdata/sipp/calls/. The scenarios and the script were validated against stock
// Kamailio 5.6 with app_lua (test/kamailio/run-calls.sh), the reference behaviour.
//
//	go test ./test/e2e/ -run 'TestCall' -v
//	LUASBC_CALLS_TARGET=kamailio go test ./test/e2e/ -run 'TestCall' -v
//
// The second form runs the very same tests against stock Kamailio
// (test/kamailio/kamailio.cfg, kamcmd for the transaction count) to prove the
// tests themselves right.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// callModules: the modules proxy.lua needs, with short tm timers so the 408 flow
// takes 2 s (the values test/kamailio/kamailio.cfg gives Kamailio).
var callModules = []string{
	"sl: {}",
	"tm: {fr_timer: 2000, fr_inv_timer: 4000}",
	"tmx: {}",
	"rr: {}",
	"maxfwd: {max_limit: 70}",
	"sanity: {}",
	"siputils: {}",
	"corex: {}",
	"kx: {}",
	"textops: {}",
	"xlog: {}",
}

const (
	// callWT bounds how long a finished transaction stays in memory: tm's wt_timer
	// (5 s, the default) plus a second of timer granularity.
	callWT = 6 * time.Second
	// sippTimeout bounds every SIPp run (-timeout); the flows take 0.3-3 s.
	sippTimeout = 20 * time.Second
)

func callsEnabled(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("sipp"); err != nil {
		t.Fatalf("sipp not installed: run `make deps` (Debian package sip-tester)")
	}
}

// callProxy is the proxy under test: bin/sbc, or Kamailio with LUASBC_CALLS_TARGET=kamailio.
type callProxy struct {
	Name    string
	Addr    string
	current func() (int64, error) // transactions in memory (tm:current / tm.stats current)
	logs    func() string
}

// calleePorts are the destinations substituted into proxy.lua.
type calleePorts struct {
	A, B, TCP int
	// Dead answers nothing: a UDP socket on an ephemeral port that is never read
	// by a SIP stack (the test reads what arrived there afterwards). Holding it
	// bound keeps the port from being handed to anyone else during the test.
	Dead *UDPClient
}

// newCalleePorts takes 6 consecutive ports for each SIPp callee (SIP, control port,
// media ports) and a silent socket for the callee that never answers.
func newCalleePorts(t *testing.T) calleePorts {
	return calleePorts{A: freePorts(t, 6), B: freePorts(t, 6), TCP: freePorts(t, 6), Dead: NewUDP(t)}
}

func (p calleePorts) replace() map[string]string {
	return map[string]string{
		"__CALLEE_A__":    fmt.Sprintf("sip:127.0.0.1:%d", p.A),
		"__CALLEE_B__":    fmt.Sprintf("sip:127.0.0.1:%d", p.B),
		"__CALLEE_TCP__":  fmt.Sprintf("sip:127.0.0.1:%d;transport=tcp", p.TCP),
		"__CALLEE_DEAD__": "sip:" + p.Dead.Addr,
	}
}

// startCallProxy starts the proxy with proxy.lua routing to the given callees.
func startCallProxy(t *testing.T, replace map[string]string) *callProxy {
	t.Helper()
	if os.Getenv("LUASBC_CALLS_TARGET") == "kamailio" {
		return startKamailio(t, replace)
	}
	s := StartServer(t, Opts{Script: "proxy.lua", Replace: replace, Modules: callModules})
	return &callProxy{
		Name: "luasbc",
		Addr: s.Addr,
		current: func() (int64, error) {
			var lines []string
			res, rerr, err := s.TryRPC("stats.get_statistics", "tm:current")
			if err != nil {
				return -1, err
			}
			if rerr != nil {
				return -1, rerr
			}
			if err := json.Unmarshal(res, &lines); err != nil {
				return -1, err
			}
			for _, l := range lines {
				if k, v, ok := strings.Cut(l, " = "); ok && k == "tm:current" {
					return strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				}
			}
			return -1, fmt.Errorf("tm:current not in %q", lines)
		},
		logs: s.Logs,
	}
}

// startKamailio runs stock Kamailio with test/kamailio/kamailio.cfg and proxy.lua,
// in the foreground, in its own process group, stopped in Cleanup.
func startKamailio(t *testing.T, replace map[string]string) *callProxy {
	t.Helper()
	for _, tool := range []string{"kamailio", "kamcmd"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("LUASBC_CALLS_TARGET=kamailio: %s not installed (Debian: kamailio kamailio-lua-modules)", tool)
		}
	}
	dir := t.TempDir()
	text, err := os.ReadFile(testdata("lua", "proxy.lua"))
	if err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(dir, "proxy.lua")
	if err := os.WriteFile(script, []byte(expand(string(text), replace)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "run"), 0o755); err != nil {
		t.Fatal(err)
	}
	port := freePorts(t, 1)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	ctl := "unix:" + filepath.Join(dir, "ctl.sock")
	args := []string{"-f", filepath.Join(repoRoot, "test", "kamailio", "kamailio.cfg"),
		"-A", `CALLS_SCRIPT="` + script + `"`, "-A", "CALLS_UDP=udp:" + addr, "-A", "CALLS_TCP=tcp:" + addr,
		"-A", `CALLS_CTL="` + ctl + `"`, "-m", "64", "-M", "8",
		"-P", filepath.Join(dir, "kamailio.pid"), "-w", dir, "-Y", filepath.Join(dir, "run"), "-DD", "-E"}
	logs := &logBuf{}
	cmd := exec.Command("kamailio", args...)
	cmd.Dir = dir
	cmd.Stdout = logs
	cmd.Stderr = logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start kamailio: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		pgid := cmd.Process.Pid
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			t.Errorf("kamailio did not stop within 5s of SIGTERM")
		}
		_ = syscall.Kill(-pgid, syscall.SIGKILL) // any child left behind
		if t.Failed() {
			t.Logf("kamailio output (tail):\n%s", tail(logs.String(), 6000))
		}
	})
	kamcmd := func(a ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, "kamcmd", append([]string{"-s", ctl}, a...)...).CombinedOutput()
		return string(out), err
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, err := kamcmd("core.uptime"); err == nil {
			break
		}
		select {
		case <-exited:
			t.Fatalf("kamailio exited before it was ready:\n%s", tail(logs.String(), 4000))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("kamailio not ready after 15s:\n%s", tail(logs.String(), 4000))
		}
		time.Sleep(50 * time.Millisecond)
	}
	currentRe := regexp.MustCompile(`(?m)^\s*current:\s*(\d+)`)
	return &callProxy{
		Name: "kamailio",
		Addr: addr,
		current: func() (int64, error) {
			out, err := kamcmd("tm.stats")
			if err != nil {
				return -1, fmt.Errorf("kamcmd tm.stats: %v: %s", err, out)
			}
			m := currentRe.FindStringSubmatch(out)
			if m == nil {
				return -1, fmt.Errorf("no current: in tm.stats %q", out)
			}
			return strconv.ParseInt(m[1], 10, 64)
		},
		logs: logs.String,
	}
}

// waitNoTransactions requires the proxy's transaction count to fall to 0 within
// callWT: every transaction of the flow completed and was freed after wt_timer.
func waitNoTransactions(t *testing.T, p *callProxy) {
	t.Helper()
	deadline := time.Now().Add(callWT)
	var n int64
	var err error
	for {
		n, err = p.current()
		if err == nil && n == 0 {
			return
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		t.Errorf("%s: transaction count: %v", p.Name, err)
		return
	}
	t.Errorf("%s: %d transaction(s) still in memory %v after the flow (want 0 after wt_timer)", p.Name, n, callWT)
}

// sippAgent is one SIPp process (caller or callee) of a flow.
type sippAgent struct {
	Name  string
	Port  int
	TCP   bool
	dir   string
	cmd   *exec.Cmd
	out   bytes.Buffer
	mu    sync.Mutex
	done  chan struct{}
	code  int
	start time.Time
}

func (a *sippAgent) file(ext string) string { return filepath.Join(a.dir, a.Name+ext) }

// startSIPp starts SIPp with a scenario of testdata/sipp/calls on port (SIP),
// port+1 (control) and port+2.. (media); remote is the proxy for a caller, "" for
// a callee. Every run is bounded: -m 1, -timeout, and a kill after sippTimeout+10s.
func startSIPp(t *testing.T, name, scenario string, port int, remote string, args ...string) *sippAgent {
	t.Helper()
	a := &sippAgent{Name: name, Port: port, dir: t.TempDir(), done: make(chan struct{}), start: time.Now()}
	for _, x := range args {
		if x == "t1" {
			a.TCP = true
		}
	}
	var argv []string
	if remote != "" {
		argv = append(argv, remote)
	}
	argv = append(argv, "-sf", testdata("sipp", "calls", scenario), "-i", "127.0.0.1",
		"-p", strconv.Itoa(port), "-cp", strconv.Itoa(port+1), "-mp", strconv.Itoa(port+2),
		"-m", "1", "-nostdin", "-timeout", fmt.Sprintf("%ds", int(sippTimeout/time.Second)), "-timeout_error",
		"-trace_err", "-error_file", a.file(".err"), "-trace_msg", "-message_file", a.file(".msg"))
	argv = append(argv, args...)
	ctx, cancel := context.WithTimeout(context.Background(), sippTimeout+10*time.Second)
	a.cmd = exec.CommandContext(ctx, "sipp", argv...)
	a.cmd.Dir = a.dir
	a.cmd.Stdout = &lockedWriter{mu: &a.mu, b: &a.out}
	a.cmd.Stderr = a.cmd.Stdout
	if err := a.cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start sipp %s: %v", name, err)
	}
	go func() {
		_ = a.cmd.Wait()
		a.code = a.cmd.ProcessState.ExitCode()
		cancel()
		close(a.done)
	}()
	t.Cleanup(func() {
		select {
		case <-a.done:
		default:
			_ = a.cmd.Process.Kill()
			<-a.done
		}
	})
	return a
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// waitBound waits until the agent's SIP port is bound (UDP) or listening (TCP),
// read from /proc/net so the probe never takes the port itself.
func (a *sippAgent) waitBound(t *testing.T) {
	t.Helper()
	table, state := "/proc/net/udp", "07"
	if a.TCP {
		table, state = "/proc/net/tcp", "0A"
	}
	local := fmt.Sprintf("0100007F:%04X", a.Port)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(table)
		for _, l := range strings.Split(string(b), "\n") {
			f := strings.Fields(l)
			if len(f) > 3 && f[1] == local && f[3] == state {
				return
			}
		}
		select {
		case <-a.done:
			t.Fatalf("sipp %s exited before it was ready (exit %d):\n%s", a.Name, a.code, a.report())
		default:
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("sipp %s did not bind port %d within 5s:\n%s", a.Name, a.Port, a.report())
}

// wait waits for the agent to exit (at most d) and returns its exit code.
func (a *sippAgent) wait(d time.Duration) (int, bool) {
	select {
	case <-a.done:
		return a.code, true
	case <-time.After(d):
		return -1, false
	}
}

// ladder is the first line of every message the agent sent (>>) and received (<<).
func (a *sippAgent) ladder() string {
	b, err := os.ReadFile(a.file(".msg"))
	if err != nil {
		return "  (no message trace)\n"
	}
	var out strings.Builder
	lines := strings.Split(strings.ReplaceAll(string(b), "\r", ""), "\n")
	for i, l := range lines {
		dir := ""
		switch {
		case strings.Contains(l, "message sent"):
			dir = ">>"
		case strings.Contains(l, "message received"):
			dir = "<<"
		default:
			continue
		}
		for j := i + 1; j < len(lines) && j < i+4; j++ {
			if s := strings.TrimSpace(lines[j]); s != "" {
				fmt.Fprintf(&out, "  %s %s\n", dir, s)
				break
			}
		}
	}
	return out.String()
}

// count returns how many messages the agent received whose first line starts with prefix.
func (a *sippAgent) count(prefix string) int {
	b, _ := os.ReadFile(a.file(".msg"))
	n := 0
	for _, l := range strings.Split(strings.ReplaceAll(string(b), "\r", ""), "\n") {
		if strings.HasPrefix(l, prefix) {
			n++
		}
	}
	return n
}

func (a *sippAgent) report() string {
	a.mu.Lock()
	out := a.out.String()
	a.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "=== sipp %s (port %d) messages:\n%s", a.Name, a.Port, a.ladder())
	if e, err := os.ReadFile(a.file(".err")); err == nil && len(bytes.TrimSpace(e)) > 0 {
		fmt.Fprintf(&b, "--- errors:\n%s\n", tail(string(e), 3000))
	}
	fmt.Fprintf(&b, "--- output:\n%s\n", tail(out, 2500))
	return b.String()
}

// callee describes a SIPp UAS of a flow: which destination of proxy.lua it serves.
type callee struct {
	role     string // "A", "B" or "TCP"
	scenario string
	args     []string
}

// callFlow is one call flow: the caller's scenario and R-URI user, and its callees.
type callFlow struct {
	caller  string
	service string // R-URI user: callee, tcp, dead, serial, fork
	args    []string
	callees []callee
}

// flowResult is what a flow leaves for its test to check.
type flowResult struct {
	proxy  *callProxy
	agents map[string]*sippAgent // "caller", "A", "B", "TCP"
	ports  calleePorts
}

// runCallFlow starts the callees (first, so the ports they bind are taken before
// anything else is allocated), then the proxy, runs the caller, and requires every
// SIPp to exit 0 (all calls successful) and the proxy to free every transaction.
func runCallFlow(t *testing.T, f callFlow) flowResult {
	t.Helper()
	callsEnabled(t)
	t.Parallel()
	ports := newCalleePorts(t)
	agents := map[string]*sippAgent{}
	var order []*sippAgent
	for _, c := range f.callees {
		port := map[string]int{"A": ports.A, "B": ports.B, "TCP": ports.TCP}[c.role]
		args := c.args
		if c.role == "TCP" {
			args = append([]string{"-t", "t1"}, args...)
		}
		a := startSIPp(t, "callee"+c.role, c.scenario, port, "", args...)
		a.waitBound(t)
		agents[c.role] = a
		order = append(order, a)
	}
	p := startCallProxy(t, ports.replace())
	caller := startSIPp(t, "caller", f.caller, freePorts(t, 6), p.Addr, append([]string{"-s", f.service}, f.args...)...)
	agents["caller"] = caller
	order = append([]*sippAgent{caller}, order...)

	failed := false
	for _, a := range order {
		limit := sippTimeout + 12*time.Second
		if a != caller {
			limit = 10 * time.Second // once the caller is done, a callee has at most its last message to see
		}
		code, ok := a.wait(limit)
		switch {
		case !ok:
			t.Errorf("sipp %s did not finish", a.Name)
			failed = true
		case code != 0:
			t.Errorf("sipp %s exit code %d (0 = all calls successful)", a.Name, code)
			failed = true
		}
	}
	if failed {
		for _, a := range order {
			t.Logf("%s", a.report())
		}
		t.Logf("%s output (tail):\n%s", p.Name, tail(p.logs(), 5000))
		t.FailNow()
	}
	if testing.Verbose() {
		var b strings.Builder
		for _, a := range order {
			fmt.Fprintf(&b, "%s:\n%s", a.Name, a.ladder())
		}
		t.Logf("%s, flow %s -s %s (%v):\n%s", p.Name, f.caller, f.service, time.Since(caller.start).Round(time.Millisecond), b.String())
	}
	waitNoTransactions(t, p)
	return flowResult{proxy: p, agents: agents, ports: ports}
}

// RFC 3665 3.2 + 3.8: INVITE, 180, 200 (Record-Route), ACK and BYE from the caller along
// the route set through the proxy.
func TestCallCallerHangsUp(t *testing.T) {
	fr := runCallFlow(t, callFlow{caller: "uac_call.xml", service: "callee",
		callees: []callee{{role: "A", scenario: "uas_answer.xml"}}})
	if n := fr.agents["A"].count("BYE "); n != 1 {
		t.Errorf("callee received %d BYE, want 1", n)
	}
}

// The callee hangs up: its BYE follows the Record-Route set back through the proxy.
func TestCallCalleeHangsUp(t *testing.T) {
	fr := runCallFlow(t, callFlow{caller: "uac_call_wait_bye.xml", service: "callee",
		callees: []callee{{role: "A", scenario: "uas_answer_bye.xml"}}})
	if n := fr.agents["caller"].count("BYE "); n != 1 {
		t.Errorf("caller received %d BYE, want 1", n)
	}
}

// RFC 3665 3.6: 486 relayed to the caller; the ACKs are hop-by-hop (the proxy ACKs the
// callee itself and absorbs the caller's ACK).
func TestCallBusy(t *testing.T) {
	fr := runCallFlow(t, callFlow{caller: "uac_busy.xml", service: "callee",
		callees: []callee{{role: "A", scenario: "uas_busy.xml"}}})
	if n := fr.agents["A"].count("ACK "); n != 1 {
		t.Errorf("callee received %d ACK, want 1 (the proxy's)", n)
	}
}

// RFC 3665 3.9: no answer, the caller CANCELs: 200 for the CANCEL from the proxy, the
// CANCEL relayed to the callee, its 487 relayed back and ACKed hop-by-hop.
func TestCallCancel(t *testing.T) {
	fr := runCallFlow(t, callFlow{caller: "uac_cancel.xml", service: "callee",
		callees: []callee{{role: "A", scenario: "uas_ring_cancel.xml"}}})
	if n := fr.agents["A"].count("CANCEL "); n != 1 {
		t.Errorf("callee received %d CANCEL, want 1", n)
	}
}

// A callee that never answers: the proxy retransmits the INVITE to it (Timer A:
// 0, 0.5, 1.5 s), answers 100 upstream at once and 408 itself when fr_timer (2 s)
// fires; the caller's ACK is absorbed. No CANCEL goes to a branch that never sent a
// provisional reply (RFC 3261 9.1, 16.8). test/kamailio/run-calls.sh runs the same
// flow against a closed port (ICMP unreachable), with the same result.
func TestCallNoAnswer408(t *testing.T) {
	fr := runCallFlow(t, callFlow{caller: "uac_timeout.xml", service: "dead"})
	if d := time.Since(fr.agents["caller"].start); d < 1500*time.Millisecond {
		t.Errorf("408 after %v, want it after fr_timer (2 s)", d)
	}
	var firsts []string
	branches := map[string]bool{}
	for {
		m, err := fr.ports.Dead.Recv(100 * time.Millisecond)
		if err != nil {
			break
		}
		firsts = append(firsts, m.First)
		if v := m.All("via"); len(v) > 0 {
			branches[v[0]] = true
		}
	}
	invites := 0
	for _, f := range firsts {
		if strings.HasPrefix(f, "INVITE ") {
			invites++
		} else {
			t.Errorf("the silent callee received %q, want only INVITE retransmissions", f)
		}
	}
	if invites < 2 || invites > 4 {
		t.Errorf("the silent callee received the INVITE %d times in fr_timer (2 s), want 3 (0, 0.5, 1.5 s): %q",
			invites, firsts)
	}
	if len(branches) != 1 {
		t.Errorf("INVITE retransmissions with %d different top Vias, want 1: %v", len(branches), branches)
	}
}

// Serial forking: callee A answers 503, the failure route sends the INVITE to callee B,
// which answers; the call proceeds with B. The 503 never reaches the caller.
func TestCallSerialFailover(t *testing.T) {
	fr := runCallFlow(t, callFlow{caller: "uac_call.xml", service: "serial",
		callees: []callee{{role: "A", scenario: "uas_503.xml"}, {role: "B", scenario: "uas_answer.xml"}}})
	if n := fr.agents["caller"].count("SIP/2.0 503"); n != 0 {
		t.Errorf("caller received the 503 of the first callee (%d)", n)
	}
}

// Parallel forking: A answers after 0.5 s of ringing, B rings and is CANCELled by the
// proxy when A's 200 arrives, and answers 487 (absorbed by the proxy).
func TestCallParallelFork(t *testing.T) {
	fr := runCallFlow(t, callFlow{caller: "uac_call.xml", service: "fork",
		callees: []callee{{role: "A", scenario: "uas_answer.xml", args: []string{"-d", "500"}},
			{role: "B", scenario: "uas_ring_cancel.xml"}}})
	if n := fr.agents["caller"].count("SIP/2.0 487"); n != 0 {
		t.Errorf("caller received the 487 of the cancelled branch (%d)", n)
	}
	if n := fr.agents["caller"].count("SIP/2.0 180"); n != 2 {
		t.Errorf("caller received %d 180, want 2 (one per branch)", n)
	}
}

// A re-INVITE within the established dialog, routed by the route set.
func TestCallReINVITE(t *testing.T) {
	runCallFlow(t, callFlow{caller: "uac_reinvite.xml", service: "callee",
		callees: []callee{{role: "A", scenario: "uas_reinvite.xml"}}})
}

// An UPDATE (RFC 3311) within the established dialog.
func TestCallUPDATE(t *testing.T) {
	runCallFlow(t, callFlow{caller: "uac_update.xml", service: "callee",
		callees: []callee{{role: "A", scenario: "uas_update.xml"}}})
}

// UDP caller, TCP callee: double Record-Route (one per transport); the caller hangs up.
func TestCallTCPCalleeCallerHangsUp(t *testing.T) {
	runCallFlow(t, callFlow{caller: "uac_call.xml", service: "tcp",
		callees: []callee{{role: "TCP", scenario: "uas_answer.xml"}}})
}

// UDP caller, TCP callee; the callee hangs up over its TCP connection.
func TestCallTCPCalleeCalleeHangsUp(t *testing.T) {
	runCallFlow(t, callFlow{caller: "uac_call_wait_bye.xml", service: "tcp",
		callees: []callee{{role: "TCP", scenario: "uas_answer_bye.xml"}}})
}

// A CANCEL that matches no transaction gets 481 from the script (sl).
func TestCallUnmatchedCancel(t *testing.T) {
	runCallFlow(t, callFlow{caller: "uac_cancel_unmatched.xml", service: "callee"})
}

// The SIPp form of the retransmission flow (validated on Kamailio): the caller
// repeats its INVITE, the proxy answers it with the 180 again, and the callee (which
// fails on a second INVITE) sees one.
func TestCallRetransmissionSIPp(t *testing.T) {
	fr := runCallFlow(t, callFlow{caller: "uac_retrans.xml", service: "callee", args: []string{"-nr"},
		callees: []callee{{role: "A", scenario: "uas_ring_busy.xml", args: []string{"-nr"}}}})
	if n := fr.agents["A"].count("INVITE "); n != 1 {
		t.Errorf("callee received %d INVITE, want 1", n)
	}
}

const retransInviteTmpl = `INVITE sip:callee@{srv} SIP/2.0
Via: SIP/2.0/UDP {me};branch={branch}
From: <sip:caller@{me}>;tag={tag}
To: <sip:callee@{srv}>
Call-ID: {callid}
CSeq: 1 INVITE
Contact: <sip:caller@{me}>
Max-Forwards: 70
Content-Length: 0

`

// replyFor builds a reply to a request as a UAS would: Vias, From, To (with toTag
// added when it has none), Call-ID, CSeq and Record-Route copied.
func replyFor(req *Msg, code int, reason, toTag string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "SIP/2.0 %d %s\r\n", code, reason)
	for _, h := range req.Hdrs {
		switch h[0] {
		case "via":
			b.WriteString("Via: " + h[1] + "\r\n")
		case "record-route":
			b.WriteString("Record-Route: " + h[1] + "\r\n")
		case "from":
			b.WriteString("From: " + h[1] + "\r\n")
		case "call-id":
			b.WriteString("Call-ID: " + h[1] + "\r\n")
		case "cseq":
			b.WriteString("CSeq: " + h[1] + "\r\n")
		case "to":
			v := h[1]
			if toTag != "" && !strings.Contains(strings.ToLower(v), "tag=") {
				v += ";tag=" + toTag
			}
			b.WriteString("To: " + v + "\r\n")
		}
	}
	b.WriteString("Content-Length: 0\r\n\r\n")
	return []byte(b.String())
}

// recvUntil reads messages of a call until one satisfies ok.
func recvUntil(c *UDPClient, callID string, d time.Duration, ok func(*Msg) bool) (*Msg, []string, error) {
	deadline := time.Now().Add(d)
	var seen []string
	for {
		m, err := c.RecvFor(callID, time.Until(deadline))
		if err != nil {
			return nil, seen, err
		}
		seen = append(seen, m.First)
		if ok(m) {
			return m, seen, nil
		}
	}
}

// TestCallRetransmissionAbsorbed: the same INVITE sent twice from a raw UDP client is
// one transaction. The retransmission is answered from the transaction with the most
// recent provisional reply (RFC 3261 17.2.1; Kamailio resends the relayed 180) and
// never reaches the callee; the call then ends with 486 and hop-by-hop ACKs.
func TestCallRetransmissionAbsorbed(t *testing.T) {
	callsEnabled(t)
	t.Parallel()
	callee := NewUDP(t)
	ports := newCalleePorts(t)
	repl := ports.replace()
	repl["__CALLEE_A__"] = "sip:" + callee.Addr
	p := startCallProxy(t, repl)
	caller := NewUDP(t)
	defer func() {
		if t.Failed() {
			t.Logf("%s output (tail):\n%s", p.Name, tail(p.logs(), 5000))
		}
	}()

	inv := NewReq(retransInviteTmpl, caller.Addr, p.Addr, "UDP")
	caller.Send(p.Addr, []byte(inv.Text))

	fwd, err := callee.RecvFor(inv.CallID, 3*time.Second)
	if err != nil {
		t.Fatalf("callee got no INVITE: %v", err)
	}
	if fwd.Method != "INVITE" {
		t.Fatalf("callee got %q, want the INVITE", fwd.First)
	}
	if v := fwd.All("via"); len(v) != 2 || !strings.Contains(v[1], inv.Branch) {
		t.Errorf("forwarded Vias %q, want the proxy's and the caller's", v)
	}
	callee.Send(p.Addr, replyFor(fwd, 180, "Ringing", "callee1"))

	r180, seen, err := recvUntil(caller, inv.CallID, 3*time.Second, func(m *Msg) bool { return m.Code == 180 })
	if err != nil {
		t.Fatalf("caller got no 180 (saw %q): %v", seen, err)
	}
	if v := r180.All("via"); len(v) != 1 || !strings.Contains(v[0], inv.Branch) {
		t.Errorf("180 at the caller has Vias %q, want only the caller's", v)
	}

	// The retransmission, byte for byte.
	caller.Send(p.Addr, []byte(inv.Text))
	again, err := caller.RecvFor(inv.CallID, 2*time.Second)
	if err != nil {
		t.Errorf("no reply to the retransmitted INVITE (want the last provisional, 180, again): %v", err)
	} else if again.Code != 180 {
		t.Errorf("retransmitted INVITE answered %q, want the most recent provisional, 180", again.First)
	}
	// The callee sees nothing: neither the retransmission nor a tm retransmission
	// (its 180 stopped those).
	if b, _, err := callee.RecvRaw(800 * time.Millisecond); err == nil {
		t.Errorf("callee received another message after the retransmission:\n%s", clip(string(b), 400))
	}

	// End the call: 486 from the callee, the proxy's ACK to it, 486 and ACK upstream.
	callee.Send(p.Addr, replyFor(fwd, 486, "Busy Here", "callee1"))
	ack, err := callee.RecvFor(inv.CallID, 3*time.Second)
	if err != nil {
		t.Fatalf("callee got no ACK for its 486: %v", err)
	}
	if ack.Method != "ACK" {
		t.Errorf("callee got %q, want the proxy's ACK", ack.First)
	} else if v := ack.All("via"); len(v) != 1 || v[0] != fwd.All("via")[0] {
		t.Errorf("proxy's ACK has Vias %q, want only the INVITE's top Via %q", v, fwd.All("via")[0])
	}
	r486, seen, err := recvUntil(caller, inv.CallID, 3*time.Second, func(m *Msg) bool { return m.Code >= 200 })
	if err != nil {
		t.Fatalf("caller got no final reply (saw %q): %v", seen, err)
	}
	if r486.Code != 486 {
		t.Fatalf("caller got %q, want 486", r486.First)
	}
	caller.Send(p.Addr, []byte(fmt.Sprintf("ACK sip:callee@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=%s\r\n"+
		"From: %s\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: 1 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
		p.Addr, caller.Addr, inv.Branch, r486.Get("from"), r486.Get("to"), inv.CallID)))
	// The ACK for a negative reply is hop-by-hop: the proxy absorbs it.
	if b, _, err := callee.RecvRaw(500 * time.Millisecond); err == nil {
		t.Errorf("callee received a message after the ACK:\n%s", clip(string(b), 400))
	}
	waitNoTransactions(t, p)
}
