package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

var (
	// sbcBin is the server binary built by TestMain.
	sbcBin string
	// repoRoot is the module root (two levels up from this package).
	repoRoot string
)

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	repoRoot = root
	tmp, err := os.MkdirTemp("", "luasbc-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(tmp)
	sbcBin = filepath.Join(tmp, "sbc")
	cmd := exec.Command("go", "build", "-o", sbcBin, "./cmd/sbc")
	cmd.Dir = repoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: building cmd/sbc failed: %v\n%s\n", err, out)
		return 1
	}
	// Spread the start port by pid so two runs on one machine rarely collide;
	// every port is still probed before use.
	portNext.Store(int32(portMin + (os.Getpid()*40)%(portMax-portMin-100)))
	return m.Run()
}

// Ports: every server takes two consecutive ports (SIP on UDP and TCP, then RPC).
const (
	portMin = 25000
	portMax = 29000 // exclusive
)

var portNext atomic.Int32

// freePorts returns the first of n consecutive loopback ports in 25000–28999
// that are free for both UDP and TCP right now. Ports are handed out in
// order and the range wraps only as a whole, so two callers never get the
// same port before 4000 have been used (a port handed out may not be bound
// yet, so "free right now" alone would not do).
func freePorts(t testing.TB, n int) int {
	t.Helper()
	for attempt := 0; attempt < 500; attempt++ {
		raw := int(portNext.Add(int32(n))) - n
		p := portMin + (raw-portMin)%(portMax-portMin)
		if p+n > portMax {
			continue // a block never straddles the wrap
		}
		ok := true
		for i := 0; i < n && ok; i++ {
			ok = portFree(p + i)
		}
		if ok {
			return p
		}
	}
	t.Fatalf("no %d free consecutive ports in %d-%d", n, portMin, portMax-1)
	return 0
}

func portFree(p int) bool {
	addr := "127.0.0.1:" + strconv.Itoa(p)
	u, err := net.ListenPacket("udp", addr)
	if err != nil {
		return false
	}
	defer u.Close()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// defaultModules is the module set of core/config/default.yaml, in its order.
var defaultModules = []string{"sl: {}", "maxfwd: {max_limit: 70}", "sanity: {}", "siputils: {}", "textops: {}",
	"kx: {}", "xlog: {}", "corex: {}", "tm: {fr_timer: 30000, fr_inv_timer: 120000}", "tmx: {}", "rr: {}",
	`htable: {htable: ["ipban=>size=8;autoexpire=300;", "authfail=>size=8;autoexpire=600;initval=0;"]}`,
	"pike: {sampling_time_unit: 2, reqs_density_per_unit: 16, remove_latency: 4}", "permissions: {}"}

// Opts describe one server instance.
type Opts struct {
	// Script is a Lua file: an absolute path, or a path relative to testdata/lua.
	// It is copied into the server's directory (as script.lua) after Replace.
	Script string
	// Replace maps placeholders in the script to their values.
	Replace map[string]string
	// Modules are YAML entries under modules:, in order; nil means just sl.
	Modules []string
	// LuaWorkers and TimeoutMS set lua.workers and lua.timeout_ms when non-zero.
	LuaWorkers int
	TimeoutMS  int
	// Core holds YAML entries under core: ("queue_size: 256").
	Core []string
	// NoTCP leaves out the TCP listener.
	NoTCP bool
}

// Server is one running bin/sbc process.
type Server struct {
	t       testing.TB
	Port    int
	RPCPort int
	Addr    string // 127.0.0.1:Port
	Dir     string
	Script  string // path of the running script (rewrite it to test reloads)
	Config  string
	cmd     *exec.Cmd
	logs    *logBuf
	exited  chan struct{}
	waitErr error
	stopped atomic.Bool
	ready   bool
}

// logBuf collects the server's output (bounded).
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

const logCap = 16 << 20

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() < logCap {
		l.b.Write(p)
	}
	return len(p), nil
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func testdata(parts ...string) string {
	return filepath.Join(append([]string{repoRoot, "test", "e2e", "testdata"}, parts...)...)
}

// StartServer writes a config and script into a temporary directory, starts
// the server and waits until it is ready; the server is stopped in Cleanup.
func StartServer(t testing.TB, o Opts) *Server {
	t.Helper()
	dir := t.TempDir()
	port := freePorts(t, 2)
	s := &Server{t: t, Port: port, RPCPort: port + 1, Addr: "127.0.0.1:" + strconv.Itoa(port), Dir: dir,
		logs: &logBuf{}, exited: make(chan struct{})}

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

	var cfg strings.Builder
	listen := fmt.Sprintf(`"udp:%s"`, s.Addr)
	if !o.NoTCP {
		listen += fmt.Sprintf(`, "tcp:%s"`, s.Addr)
	}
	fmt.Fprintf(&cfg, "listen: [%s]\n", listen)
	cfg.WriteString("log: {level: info, format: console}\n")
	fmt.Fprintf(&cfg, "rpc: {listen: \"127.0.0.1:%d\"}\n", s.RPCPort)
	cfg.WriteString("lua:\n  load: script.lua\n")
	if o.LuaWorkers > 0 {
		fmt.Fprintf(&cfg, "  workers: %d\n", o.LuaWorkers)
	}
	if o.TimeoutMS > 0 {
		fmt.Fprintf(&cfg, "  timeout_ms: %d\n", o.TimeoutMS)
	}
	if len(o.Core) > 0 {
		cfg.WriteString("core:\n")
		for _, c := range o.Core {
			cfg.WriteString("  " + c + "\n")
		}
	}
	mods := o.Modules
	if mods == nil {
		mods = []string{"sl: {}"}
	}
	cfg.WriteString("modules:\n")
	for _, m := range mods {
		cfg.WriteString("  " + m + "\n")
	}
	s.Config = filepath.Join(dir, "sbc.yaml")
	if err := os.WriteFile(s.Config, []byte(cfg.String()), 0o644); err != nil {
		t.Fatal(err)
	}

	s.launch()
	return s
}

// launch starts bin/sbc on s.Config in s.Dir and waits until it is ready;
// it is stopped in Cleanup.
func (s *Server) launch() {
	s.t.Helper()
	s.cmd = exec.Command(sbcBin, "-c", s.Config)
	s.cmd.Dir = s.Dir
	s.cmd.Stdout = s.logs
	s.cmd.Stderr = s.logs
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("start sbc: %v", err)
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.exited)
	}()
	s.t.Cleanup(s.stop)
	s.waitReady()
}

func expand(s string, repl map[string]string) string {
	for k, v := range repl {
		s = strings.ReplaceAll(s, k, v)
	}
	return s
}

var unknownModule = regexp.MustCompile(`unknown module "[^"]+"`)

func (s *Server) waitReady() {
	s.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case <-s.exited:
			out := s.logs.String()
			if m := unknownModule.FindString(out); m != "" {
				s.t.Fatalf("sbc refused to start: %s — a module this test needs is not in the binary yet "+
					"(modules/all imports: see `ls %s/modules`).\nconfig:\n%s\noutput:\n%s",
					m, repoRoot, readFile(s.Config), tail(out, 4000))
			}
			s.t.Fatalf("sbc exited before it was ready: %v\nconfig:\n%s\noutput:\n%s", s.waitErr, readFile(s.Config), tail(out, 4000))
		default:
		}
		if strings.Contains(s.logs.String(), "luasbc started") {
			break
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("sbc not ready after 15s\noutput:\n%s", tail(s.logs.String(), 4000))
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The SIP port answers: TCP accepts (UDP is bound before TCP in Listen).
	c, err := net.DialTimeout("tcp", s.Addr, 2*time.Second)
	if err == nil {
		c.Close()
	}
	s.ready = true
}

func readFile(p string) string {
	b, _ := os.ReadFile(p)
	return string(b)
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// Alive reports whether the process is still running.
func (s *Server) Alive() bool {
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

// Pid is the server's process id.
func (s *Server) Pid() int { return s.cmd.Process.Pid }

// Logs returns everything the server wrote so far.
func (s *Server) Logs() string { return s.logs.String() }

// WaitLog waits until the server's output contains sub.
func (s *Server) WaitLog(sub string, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if strings.Contains(s.logs.String(), sub) {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return strings.Contains(s.logs.String(), sub)
}

// WriteScript replaces the script file (for reload tests).
func (s *Server) WriteScript(text string) {
	s.t.Helper()
	tmp := s.Script + ".tmp"
	if err := os.WriteFile(tmp, []byte(text), 0o644); err != nil {
		s.t.Fatal(err)
	}
	if err := os.Rename(tmp, s.Script); err != nil {
		s.t.Fatal(err)
	}
}

// Signal sends a signal to the server.
func (s *Server) Signal(sig os.Signal) {
	s.t.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Fatalf("signal %v: %v", sig, err)
	}
}

func (s *Server) stop() {
	t := s.t
	if s.stopped.Swap(true) {
		return
	}
	if !s.Alive() {
		if !s.ready {
			return // waitReady already reported why
		}
		t.Errorf("sbc exited during the test: %v\noutput:\n%s", s.waitErr, tail(s.logs.String(), 6000))
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(8 * time.Second):
		t.Errorf("sbc did not stop within 8s of SIGTERM")
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	out := s.logs.String()
	if strings.Contains(out, "panic") {
		t.Errorf("sbc logged a panic:\n%s", excerpt(out, "panic", 3000))
	}
	if t.Failed() {
		t.Logf("sbc output (tail):\n%s", tail(out, 6000))
	}
}

func excerpt(s, sub string, n int) string {
	i := strings.Index(s, sub)
	if i < 0 {
		return ""
	}
	a := i - 200
	if a < 0 {
		a = 0
	}
	b := a + n
	if b > len(s) {
		b = len(s)
	}
	return s[a:b]
}

// RPCError is a JSON-RPC error object.
type RPCError struct {
	Code    int             `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`
}

func (e *RPCError) Error() string {
	return fmt.Sprintf("rpc error %d %s %s", e.Code, e.Message, e.Data)
}

var rpcClient = &http.Client{Timeout: 5 * time.Second}

// RPC calls a JSON-RPC method; a transport failure fails the test.
func (s *Server) RPC(method string, params ...any) (json.RawMessage, *RPCError) {
	s.t.Helper()
	res, rerr, err := s.TryRPC(method, params...)
	if err != nil {
		s.t.Fatalf("rpc %s: %v", method, err)
	}
	return res, rerr
}

// TryRPC calls a JSON-RPC method and returns transport failures (e.g. a
// timeout) as err.
func (s *Server) TryRPC(method string, params ...any) (json.RawMessage, *RPCError, error) {
	if params == nil {
		params = []any{}
	}
	body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "method": method, "params": params, "id": 1})
	resp, err := rpcClient.Post(fmt.Sprintf("http://127.0.0.1:%d/rpc", s.RPCPort), "application/json", bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var r struct {
		Result json.RawMessage `json:"result"`
		Error  *RPCError       `json:"error"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, nil, fmt.Errorf("bad JSON %q: %v", raw, err)
	}
	return r.Result, r.Error, nil
}

// MustRPC calls a method that must succeed and decodes its result into out (if not nil).
func (s *Server) MustRPC(out any, method string, params ...any) json.RawMessage {
	s.t.Helper()
	res, rerr := s.RPC(method, params...)
	if rerr != nil {
		s.t.Fatalf("rpc %s: %v", method, rerr)
	}
	if out != nil {
		if err := json.Unmarshal(res, out); err != nil {
			s.t.Fatalf("rpc %s: decode %s: %v", method, res, err)
		}
	}
	return res
}

// Stat reads one counter ("core:bad_msg") through stats.get_statistics.
func (s *Server) Stat(name string) int64 {
	s.t.Helper()
	var lines []string
	s.MustRPC(&lines, "stats.get_statistics", name)
	for _, l := range lines {
		k, v, ok := strings.Cut(l, " = ")
		if ok && k == name {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				s.t.Fatalf("stat %s: %q", name, l)
			}
			return n
		}
	}
	s.t.Fatalf("stat %s not found in %q", name, lines)
	return 0
}

// Stats reads several counters at once through stats.get_statistics.
// WaitStat polls a counter until it reaches want or d passes, and returns it.
func (s *Server) WaitStat(name string, want int64, d time.Duration) int64 {
	deadline := time.Now().Add(d)
	for {
		n := s.Stat(name)
		if n >= want || time.Now().After(deadline) {
			return n
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *Server) Stats(names ...string) map[string]int64 {
	s.t.Helper()
	var lines []string
	params := make([]any, len(names))
	for i, n := range names {
		params[i] = n
	}
	s.MustRPC(&lines, "stats.get_statistics", params...)
	out := map[string]int64{}
	for _, l := range lines {
		k, v, ok := strings.Cut(l, " = ")
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err == nil {
			out[k] = n
		}
	}
	for _, n := range names {
		if _, ok := out[n]; !ok {
			s.t.Fatalf("stat %s not found in %q", n, lines)
		}
	}
	return out
}

// Info returns core.info.
func (s *Server) Info() map[string]any {
	s.t.Helper()
	var m map[string]any
	s.MustRPC(&m, "core.info")
	return m
}

// RSS returns the resident set size of the server in kB (VmRSS).
func (s *Server) RSS() int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.Pid()))
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			f := strings.Fields(l)
			if len(f) >= 2 {
				n, _ := strconv.ParseInt(f[1], 10, 64)
				return n
			}
		}
	}
	return -1
}

// KeepaliveOK sends an OPTIONS over UDP and requires a reply with code within d.
func (s *Server) KeepaliveOK(t testing.TB, code int, d time.Duration) *Msg {
	t.Helper()
	c := NewUDP(t)
	req := NewReq(optionsTmpl, c.Addr, s.Addr, "UDP")
	r, err := c.Exchange(s.Addr, req, d)
	if err != nil {
		t.Fatalf("OPTIONS after the test: %v (server alive: %v)", err, s.Alive())
	}
	if r.Code != code {
		t.Fatalf("OPTIONS after the test: got %q, want %d", r.First, code)
	}
	return r
}

var errTimeout = errors.New("timeout")
