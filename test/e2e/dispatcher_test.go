package e2e

// The dispatcher in front of several SIPp callees: testdata/lua/dispatcher.lua on
// bin/sbc (the R-URI user s<set>a<alg> picks the set and the algorithm), the
// scenarios of testdata/sipp/dispatcher/, and bin/sbcctl for the operator's verbs.
//
//	go test ./test/e2e/ -run 'TestDispatcher' -v

import (
	"context"
	"fmt"
	"net"
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

// dsModules are the modules of dispatcher.lua besides the dispatcher. The
// script sets a 1 s fr_timer on INVITEs, so a silent destination fails over
// quickly; other transactions have 5 s, room for a loaded test machine.
var dsModules = []string{"sl: {}", "tm: {fr_timer: 5000, fr_inv_timer: 10000}", "tmx: {}", "rr: {}",
	"maxfwd: {max_limit: 70}", "sanity: {}", "siputils: {}", "corex: {}", "kx: {}", "textops: {}", "xlog: {}"}

// dsProxy runs dispatcher.lua with the destination list list (written to a
// file) and the dispatcher parameters params (YAML, without braces).
type dsProxy struct {
	*Server
	List string // path of the list file, rewrite it to test reloads
}

func startDsProxy(t *testing.T, list, params string) *dsProxy {
	t.Helper()
	path := filepath.Join(t.TempDir(), "dispatcher.list")
	if err := os.WriteFile(path, []byte(list), 0o644); err != nil {
		t.Fatal(err)
	}
	ds := fmt.Sprintf("dispatcher: {list_file: %q, flags: 2, reload_delta: 0", path)
	if params != "" {
		ds += ", " + params
	}
	mods := append(append([]string(nil), dsModules...), ds+"}")
	// A generous script deadline: on a loaded test machine a worker may wait
	// for the CPU longer than the default second.
	return &dsProxy{Server: StartServer(t, Opts{Script: "dispatcher.lua", Modules: mods, NoTCP: true, TimeoutMS: 5000}), List: path}
}

// flags returns the FLAGS of each destination ("set uri") from dispatcher.list.
func (p *dsProxy) flags(t *testing.T) map[string]string {
	t.Helper()
	var l struct {
		RECORDS []struct {
			SET struct {
				ID      int
				TARGETS []struct{ DEST struct{ URI, FLAGS string } }
			}
		}
	}
	p.MustRPC(&l, "dispatcher.list")
	out := map[string]string{}
	for _, r := range l.RECORDS {
		for _, d := range r.SET.TARGETS {
			out[fmt.Sprintf("%d %s", r.SET.ID, d.DEST.URI)] = d.DEST.FLAGS
		}
	}
	return out
}

// waitFlags polls until destination key has flags want; it returns how long it took.
func (p *dsProxy) waitFlags(t *testing.T, key, want string, d time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		got := p.flags(t)[key]
		if got == want {
			return time.Since(start)
		}
		if time.Since(start) > d {
			t.Fatalf("%s is %s after %v, want %s", key, got, d, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// dsAgentTimeout bounds every SIPp run of these tests.
const dsAgentTimeout = 60 * time.Second

// startDs starts SIPp with scenario (relative to testdata/sipp) on port (SIP),
// port+1 (control), port+2.. (media); remote is the proxy for a caller, "" for a
// callee. Callees run until stopped (stopAndCount) or killed; every run is bounded
// by dsAgentTimeout.
func startDs(t *testing.T, name, scenario string, port int, remote string, args ...string) *sippAgent {
	t.Helper()
	a := &sippAgent{Name: name, Port: port, dir: t.TempDir(), done: make(chan struct{}), start: time.Now()}
	var argv []string
	if remote != "" {
		argv = append(argv, remote)
	}
	argv = append(argv, "-sf", testdata("sipp", scenario), "-i", "127.0.0.1",
		"-p", strconv.Itoa(port), "-cp", strconv.Itoa(port+1), "-mp", strconv.Itoa(port+2),
		"-nostdin", "-timeout", fmt.Sprintf("%ds", int(dsAgentTimeout/time.Second)),
		"-trace_err", "-error_file", a.file(".err"))
	argv = append(argv, args...)
	ctx, cancel := context.WithTimeout(context.Background(), dsAgentTimeout+10*time.Second)
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

// dsCallee starts a SIPp UAS on fresh ports and waits until it listens.
func dsCallee(t *testing.T, name, scenario string, args ...string) *sippAgent {
	t.Helper()
	// A call whose ACK or BYE never comes is given up after 10 s, so a callee
	// always stops once its callers are done.
	a := startDs(t, name, scenario, freePorts(t, 6), "", append([]string{"-recv_timeout", "10000"}, args...)...)
	a.waitBound(t)
	return a
}

func (a *sippAgent) uri() string { return fmt.Sprintf("sip:127.0.0.1:%d", a.Port) }

// dsCall starts a SIPp caller of dispatcher/uac.xml for service. The talk
// lasts -d ms, 100 by default: the proxy relays on several workers at once, so
// an ACK and a BYE sent back to back may overtake each other on the way, which
// SIPp's callee counts as a failed call.
func dsCall(t *testing.T, p *dsProxy, service string, args ...string) *sippAgent {
	t.Helper()
	hasD := false
	for _, a := range args {
		hasD = hasD || a == "-d"
	}
	if !hasD {
		args = append(args, "-d", "100")
	}
	return startDs(t, "caller-"+service, "dispatcher/uac.xml", freePorts(t, 6), p.Addr, append([]string{"-s", service}, args...)...)
}

// mustSucceed waits for a caller and fails the test unless every call succeeded.
func (a *sippAgent) mustSucceed(t *testing.T, others ...*sippAgent) {
	t.Helper()
	code, ok := a.wait(dsAgentTimeout + 5*time.Second)
	if !ok || code != 0 {
		t.Errorf("sipp %s: exit %d (finished %v), want 0 (all calls successful)", a.Name, code, ok)
		t.Logf("%s", a.report())
		for _, o := range others {
			t.Logf("%s", o.report())
		}
	}
}

var successfulRe = regexp.MustCompile(`(?m)^\s*Successful call\s*\|\s*\d+\s*\|\s*(\d+)`)

// stopAndCount ends a callee gracefully (SIGUSR1: no new calls, exit when idle)
// and returns its number of successful calls from the final statistics.
func (a *sippAgent) stopAndCount(t *testing.T) int {
	t.Helper()
	select {
	case <-a.done:
	default:
		_ = a.cmd.Process.Signal(syscall.SIGUSR1)
	}
	if _, ok := a.wait(15 * time.Second); !ok {
		t.Fatalf("sipp %s did not stop on SIGUSR1", a.Name)
	}
	a.mu.Lock()
	out := a.out.String()
	a.mu.Unlock()
	m := successfulRe.FindAllStringSubmatch(out, -1)
	if m == nil {
		t.Fatalf("sipp %s: no statistics in its output:\n%s", a.Name, tail(out, 2000))
	}
	n, _ := strconv.Atoi(m[len(m)-1][1])
	return n
}

// dsList renders list file lines "set uri flags priority attrs".
func dsList(lines ...string) string { return strings.Join(lines, "\n") + "\n" }

// Weight: 25/75 over 2 000 calls, within ±5 %.
func TestDispatcherWeight(t *testing.T) {
	callsEnabled(t)
	t.Parallel()
	a, b := dsCallee(t, "a", "dispatcher/uas.xml"), dsCallee(t, "b", "dispatcher/uas.xml")
	p := startDsProxy(t, dsList("1 "+a.uri()+" 0 0 weight=25", "1 "+b.uri()+" 0 0 weight=75"), "")
	c := dsCall(t, p, "s1a9", "-m", "2000", "-r", "300", "-l", "400", "-recv_timeout", "10000")
	c.mustSucceed(t, a, b)
	na, nb := a.stopAndCount(t), b.stopAndCount(t)
	t.Logf("weight 25/75 over %d calls: %d / %d", na+nb, na, nb)
	if na+nb != 2000 || na < 400 || na > 600 {
		t.Errorf("weight 25/75: a %d, b %d of %d calls, want a within 500±100", na, nb, na+nb)
	}
}

// Round robin: each of three callees gets the same share.
func TestDispatcherRoundRobin(t *testing.T) {
	callsEnabled(t)
	t.Parallel()
	cs := []*sippAgent{dsCallee(t, "a", "dispatcher/uas.xml"), dsCallee(t, "b", "dispatcher/uas.xml"), dsCallee(t, "c", "dispatcher/uas.xml")}
	p := startDsProxy(t, dsList("1 "+cs[0].uri(), "1 "+cs[1].uri(), "1 "+cs[2].uri()), "")
	dsCall(t, p, "s1a4", "-m", "30", "-r", "30").mustSucceed(t, cs...)
	for _, c := range cs {
		if n := c.stopAndCount(t); n != 10 {
			t.Errorf("round robin over 3, 30 calls: %s took %d, want 10", c.Name, n)
		}
	}
}

// Priority (algorithm 8): the highest priority first; when it refuses (503), the
// next priority; the lowest is never reached.
func TestDispatcherPriority(t *testing.T) {
	callsEnabled(t)
	t.Parallel()
	hi := dsCallee(t, "hi", "dispatcher/uas_503.xml")
	mid := dsCallee(t, "mid", "dispatcher/uas.xml")
	lo := dsCallee(t, "lo", "dispatcher/uas.xml")
	p := startDsProxy(t, dsList("1 "+lo.uri()+" 0 1", "1 "+hi.uri()+" 0 10", "1 "+mid.uri()+" 0 5"), "")
	dsCall(t, p, "s1a8", "-m", "4", "-r", "10").mustSucceed(t, hi, mid, lo)
	if nh, nm, nl := hi.stopAndCount(t), mid.stopAndCount(t), lo.stopAndCount(t); nh != 4 || nm != 4 || nl != 0 {
		t.Errorf("priority 10 (503), 5, 1: %d, %d, %d calls, want 4, 4, 0", nh, nm, nl)
	}
}

// Call load (algorithm 10): calls go to the least loaded destination up to its
// maxload; with every destination full the script answers 503; BYE releases.
func TestDispatcherCallLoad(t *testing.T) {
	callsEnabled(t)
	t.Parallel()
	a, b := dsCallee(t, "a", "dispatcher/uas.xml"), dsCallee(t, "b", "dispatcher/uas.xml")
	p := startDsProxy(t, dsList("1 "+a.uri()+" 0 0 duid=gwa;maxload=2", "1 "+b.uri()+" 0 0 duid=gwb;maxload=2"),
		"ds_hash_size: 8")
	held := dsCall(t, p, "s1a10", "-m", "4", "-r", "50", "-d", "3000")
	loads := func() string {
		var l struct {
			RECORDS []struct {
				SET struct {
					TARGETS []struct {
						DEST struct{ RUNTIME struct{ DLGLOAD int } }
					}
				}
			}
		}
		p.MustRPC(&l, "dispatcher.list")
		var out []string
		for _, d := range l.RECORDS[0].SET.TARGETS {
			out = append(out, strconv.Itoa(d.DEST.RUNTIME.DLGLOAD))
		}
		return strings.Join(out, ",")
	}
	deadline := time.Now().Add(5 * time.Second)
	for loads() != "2,2" && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if l := loads(); l != "2,2" {
		t.Fatalf("4 held calls over maxload 2+2: loads %s, want 2,2", l)
	}
	refused := startDs(t, "refused", "dispatcher/uac_503.xml", freePorts(t, 6), p.Addr, "-s", "s1a10", "-m", "1")
	refused.mustSucceed(t)
	held.mustSucceed(t, a, b)
	deadline = time.Now().Add(3 * time.Second)
	for loads() != "0,0" && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if l := loads(); l != "0,0" {
		t.Errorf("after the BYEs: loads %s, want 0,0", l)
	}
	dsCall(t, p, "s1a10", "-m", "2", "-r", "10").mustSucceed(t, a, b)
	if na, nb := a.stopAndCount(t), b.stopAndCount(t); na != 3 || nb != 3 {
		t.Errorf("calls per destination: %d, %d, want 3, 3", na, nb)
	}
}

// Failover on 503: half the calls start at the refusing destination and end at
// the other; the caller never sees the 503.
func TestDispatcherFailover503(t *testing.T) {
	callsEnabled(t)
	t.Parallel()
	bad, good := dsCallee(t, "bad", "dispatcher/uas_503.xml"), dsCallee(t, "good", "dispatcher/uas.xml")
	p := startDsProxy(t, dsList("1 "+bad.uri(), "1 "+good.uri()), "")
	dsCall(t, p, "s1a4", "-m", "10", "-r", "20").mustSucceed(t, bad, good)
	if nb, ng := bad.stopAndCount(t), good.stopAndCount(t); nb != 5 || ng != 10 {
		t.Errorf("503 destination took %d, the other %d, want 5 and 10", nb, ng)
	}
}

// Failover on timeout: a destination that never answers is left after fr_timer.
func TestDispatcherFailoverTimeout(t *testing.T) {
	callsEnabled(t)
	t.Parallel()
	dead := NewUDP(t)
	good := dsCallee(t, "good", "dispatcher/uas.xml")
	p := startDsProxy(t, dsList("1 sip:"+dead.Addr, "1 "+good.uri()), "")
	start := time.Now()
	dsCall(t, p, "s1a4", "-m", "4", "-r", "20", "-l", "1").mustSucceed(t, good)
	if d := time.Since(start); d < 1800*time.Millisecond {
		t.Errorf("4 calls, 2 of them through a silent destination, took %v: fr_timer (1 s) was not waited", d)
	}
	if n := good.stopAndCount(t); n != 4 {
		t.Errorf("the answering destination took %d calls, want 4", n)
	}
	calls := map[string]bool{}
	for {
		m, err := dead.Recv(100 * time.Millisecond)
		if err != nil {
			break
		}
		if m.Method == "INVITE" {
			calls[m.Get("call-id")] = true
		}
	}
	if len(calls) != 2 {
		t.Errorf("the silent destination saw %d calls, want 2", len(calls))
	}
}

// deadSocket listens on a port after its callee was killed and records when
// each call's first INVITE arrived.
type deadSocket struct {
	conn  *net.UDPConn
	mu    sync.Mutex
	first map[string]time.Time
	done  chan struct{}
}

func listenDead(t *testing.T, port int) *deadSocket {
	t.Helper()
	var c *net.UDPConn
	var err error
	for i := 0; i < 50; i++ { // the killed process may still hold it for a moment
		if c, err = net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("listen on the dead callee's port: %v", err)
	}
	d := &deadSocket{conn: c, first: map[string]time.Time{}, done: make(chan struct{})}
	go func() {
		defer close(d.done)
		buf := make([]byte, 65536)
		for {
			n, _, err := c.ReadFromUDP(buf)
			if err != nil {
				return
			}
			m, err := ParseMsg(string(buf[:n]))
			if err != nil || m.Method != "INVITE" {
				continue
			}
			d.mu.Lock()
			if _, seen := d.first[m.Get("call-id")]; !seen {
				d.first[m.Get("call-id")] = time.Now()
			}
			d.mu.Unlock()
		}
	}()
	return d
}

func (d *deadSocket) close() {
	_ = d.conn.Close()
	<-d.done
}

// newCallsAfter counts calls whose first INVITE came after t0.
func (d *deadSocket) newCallsAfter(t0 time.Time) (after, total int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, at := range d.first {
		if at.After(t0) {
			after++
		}
	}
	return after, len(d.first)
}

// A callee killed mid-test is marked IP within the probing threshold, calls stop
// going to it (those sent before fail over), and it is AP again once it is back.
func TestDispatcherProbingKilledCallee(t *testing.T) {
	callsEnabled(t)
	t.Parallel()
	a := dsCallee(t, "a", "dispatcher/uas_probe.xml")
	b := dsCallee(t, "b", "dispatcher/uas_probe.xml")
	const interval, threshold = 1, 2
	p := startDsProxy(t, dsList("1 "+a.uri()+" 8", "1 "+b.uri()+" 8"),
		fmt.Sprintf("ds_ping_interval: %d, ds_probing_mode: 1, ds_probing_threshold: %d, ds_inactive_threshold: 1", interval, threshold))
	keyA := "1 " + a.uri()
	p.waitFlags(t, keyA, "AP", 5*time.Second)

	// Calls keep coming for the whole test; those that meet the dead callee fail
	// over after fr_timer, so every one succeeds.
	traffic := dsCall(t, p, "s1a4", "-m", "60", "-r", "8", "-l", "30")
	time.Sleep(time.Second)
	_ = a.cmd.Process.Kill()
	<-a.done
	killed := time.Now()
	dead := listenDead(t, a.Port)
	p.waitFlags(t, keyA, "IP", 8*time.Second)
	marked := time.Now()
	// The threshold: 2 failed keepalives of one round (1 s) each, plus a round of
	// slack for the keepalive in flight at the kill and the timer phase.
	if after, limit := marked.Sub(killed), time.Duration((threshold+1)*interval)*time.Second+500*time.Millisecond; after > limit {
		t.Errorf("marked IP %v after the kill, want within %v", after, limit)
	}
	time.Sleep(2 * time.Second)
	if n, total := dead.newCallsAfter(marked.Add(300 * time.Millisecond)); n != 0 {
		t.Errorf("%d new calls (of %d) reached the dead callee after it was marked IP", n, total)
	}
	dead.close()

	// Back: pings succeed again and calls reach it.
	a2msg := filepath.Join(t.TempDir(), "a2.msg")
	a2 := startDs(t, "a-again", "dispatcher/uas_probe.xml", a.Port, "", "-recv_timeout", "10000", "-trace_msg", "-message_file", a2msg)
	a2.waitBound(t)
	p.waitFlags(t, keyA, "AP", 5*time.Second)
	traffic.mustSucceed(t, b)
	dsCall(t, p, "s1a4", "-m", "6", "-r", "20").mustSucceed(t, a2, b)
	a2.stopAndCount(t)
	msgs, _ := os.ReadFile(a2msg)
	if n := strings.Count(string(msgs), "\nINVITE "); n < 2 {
		t.Errorf("the restarted callee received %d INVITEs, want its share (3)", n)
	}
}

// set_state dx (sbcctl) drains a destination: calls in progress on it end
// normally, new calls go elsewhere, none fails.
func TestDispatcherDrain(t *testing.T) {
	callsEnabled(t)
	t.Parallel()
	a, b := dsCallee(t, "a", "dispatcher/uas.xml"), dsCallee(t, "b", "dispatcher/uas.xml")
	p := startDsProxy(t, dsList("1 "+a.uri(), "1 "+b.uri()), "")
	held := dsCall(t, p, "s1a4", "-m", "6", "-r", "20", "-d", "2500")
	time.Sleep(800 * time.Millisecond) // all six established
	sbcctl(t, p.Server, "dispatcher", "set_state", "dx", "1", a.uri())
	if out := sbcctl(t, p.Server, "dispatcher", "show"); !regexp.MustCompile(regexp.QuoteMeta(a.uri()) + `\s+DX \(disabled\)`).MatchString(out) {
		t.Errorf("sbcctl dispatcher show:\n%s", out)
	}
	dsCall(t, p, "s1a4", "-m", "6", "-r", "20").mustSucceed(t, a, b)
	held.mustSucceed(t, a, b)
	if na, nb := a.stopAndCount(t), b.stopAndCount(t); na != 3 || nb != 9 {
		t.Errorf("drained a took %d calls, b %d, want 3 (before dx) and 9", na, nb)
	}
}

// A reload adds a destination while calls are in flight; the unchanged one keeps
// its state; the calls in flight end normally.
func TestDispatcherReloadInFlight(t *testing.T) {
	callsEnabled(t)
	t.Parallel()
	a, b := dsCallee(t, "a", "dispatcher/uas.xml"), dsCallee(t, "b", "dispatcher/uas.xml")
	p := startDsProxy(t, dsList("1 "+a.uri()), "")
	p.MustRPC(nil, "dispatcher.set_state", "ap", 1, a.uri())
	held := dsCall(t, p, "s1a4", "-m", "4", "-r", "20", "-d", "2000")
	time.Sleep(500 * time.Millisecond)
	if err := os.WriteFile(p.List, []byte(dsList("1 "+a.uri(), "1 "+b.uri(), "1 sip:bad uri")), 0o644); err != nil {
		t.Fatal(err)
	}
	out := sbcctl(t, p.Server, "dispatcher", "reload")
	if !strings.Contains(out, "Ok. Dispatcher successfully reloaded.") || !strings.Contains(out, "dispatcher.list:3") {
		t.Errorf("sbcctl dispatcher reload: %s", out)
	}
	if f := p.flags(t); f["1 "+a.uri()] != "AP" || f["1 "+b.uri()] != "AX" {
		t.Errorf("after reload: %v (a keeps AP, b is new)", f)
	}
	dsCall(t, p, "s1a4", "-m", "10", "-r", "20").mustSucceed(t, a, b)
	held.mustSucceed(t, a, b)
	if na, nb := a.stopAndCount(t), b.stopAndCount(t); na != 9 || nb != 5 {
		t.Errorf("a took %d calls, b %d, want 9 (4 before the reload) and 5", na, nb)
	}
}

// Algorithm 12 rings every destination at once: the first to answer wins, the
// others are cancelled.
func TestDispatcherParallel(t *testing.T) {
	callsEnabled(t)
	t.Parallel()
	msgFile := func(name string) string { return filepath.Join(t.TempDir(), name+".msg") }
	fa, fb, fc := msgFile("a"), msgFile("b"), msgFile("c")
	a := dsCallee(t, "a", "calls/uas_answer.xml", "-d", "500", "-trace_msg", "-message_file", fa)
	b := dsCallee(t, "b", "calls/uas_ring_cancel.xml", "-trace_msg", "-message_file", fb)
	c := dsCallee(t, "c", "calls/uas_ring_cancel.xml", "-trace_msg", "-message_file", fc)
	p := startDsProxy(t, dsList("1 "+a.uri(), "1 "+b.uri(), "1 "+c.uri()), "")
	dsCall(t, p, "s1a12", "-m", "1").mustSucceed(t, a, b, c)
	for _, x := range []*sippAgent{a, b, c} {
		x.stopAndCount(t)
	}
	count := func(f, prefix string) int {
		data, _ := os.ReadFile(f)
		return strings.Count(string(data), "\n"+prefix)
	}
	if count(fa, "INVITE ") != 1 || count(fb, "INVITE ") != 1 || count(fc, "INVITE ") != 1 {
		t.Errorf("INVITEs: a %d, b %d, c %d, want 1 each", count(fa, "INVITE "), count(fb, "INVITE "), count(fc, "INVITE "))
	}
	if count(fb, "CANCEL ") != 1 || count(fc, "CANCEL ") != 1 {
		t.Errorf("CANCELs: b %d, c %d, want 1 each", count(fb, "CANCEL "), count(fc, "CANCEL "))
	}
}

// The media-gateway example passes sbc --check.
func TestDispatcherExampleChecks(t *testing.T) {
	cfg := filepath.Join(repoRoot, "lua", "examples", "media-gateway", "sbc.yaml")
	out, err := exec.Command(sbcBin, "-c", cfg, "--check").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "OK") {
		t.Errorf("sbc --check %s: %v\n%s", cfg, err, out)
	}
}

var (
	sbcctlOnce sync.Once
	sbcctlBin  string
	sbcctlErr  error
)

// sbcctl runs bin/sbcctl (built once) against s and returns its output; a
// non-zero exit fails the test.
func sbcctl(t *testing.T, s *Server, args ...string) string {
	t.Helper()
	sbcctlOnce.Do(func() {
		sbcctlBin = filepath.Join(filepath.Dir(sbcBin), "sbcctl")
		cmd := exec.Command("go", "build", "-o", sbcctlBin, "./cmd/sbcctl")
		cmd.Dir = repoRoot
		if out, err := cmd.CombinedOutput(); err != nil {
			sbcctlErr = fmt.Errorf("build sbcctl: %v\n%s", err, out)
		}
	})
	if sbcctlErr != nil {
		t.Fatal(sbcctlErr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	argv := append([]string{"--url", fmt.Sprintf("http://127.0.0.1:%d/rpc", s.RPCPort)}, args...)
	out, err := exec.CommandContext(ctx, sbcctlBin, argv...).CombinedOutput()
	if err != nil {
		t.Fatalf("sbcctl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}
