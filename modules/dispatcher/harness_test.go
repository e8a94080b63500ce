package dispatcher_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/luasbc/luasbc/core/rpc"
	"github.com/luasbc/luasbc/kemi/kemitest"
	_ "github.com/luasbc/luasbc/modules/corex"
	_ "github.com/luasbc/luasbc/modules/dispatcher"
	_ "github.com/luasbc/luasbc/modules/kx"
	_ "github.com/luasbc/luasbc/modules/sl"
	_ "github.com/luasbc/luasbc/modules/tm"
)

// server runs a script whose request route evaluates the Lua expressions
// of list i (header X-Eval: i) and answers 200 with the results in X-R,
// separated by '|'.
type server struct {
	t *testing.T
	h *kemitest.Harness
}

func start(t *testing.T, params map[string]any, exprs ...[]string) *server {
	t.Helper()
	return startScript(t, params, "", exprs...)
}

// startScript is start with more Lua (functions the expressions call).
func startScript(t *testing.T, params map[string]any, extra string, exprs ...[]string) *server {
	t.Helper()
	var lua strings.Builder
	lua.WriteString(extra + "\nlocal lists = {}\n")
	for i, list := range exprs {
		fmt.Fprintf(&lua, "lists[%d] = function()\n  local r = {}\n", i)
		for _, e := range list {
			lua.WriteString("  r[#r+1] = tostring(" + e + ")\n")
		}
		lua.WriteString("  return r\nend\n")
	}
	lua.WriteString(`function ksr_request_route()
  local i = tonumber(KSR.hdr.get("X-Eval") or "0")
  local r = lists[i]()
  KSR.hdr.append_to_reply("X-R: " .. table.concat(r, "|") .. "\r\n")
  KSR.sl.sl_send_reply(200, "OK")
end
`)
	mods := map[string]map[string]any{"sl": nil, "corex": nil, "kx": nil, "dispatcher": params}
	return &server{t: t, h: kemitest.New(t, lua.String(), kemitest.Options{Modules: mods})}
}

// eval sends a request selecting list i and returns the results.
func (s *server) eval(i int, method, ruri string, hdrs ...string) []string {
	s.t.Helper()
	rep := s.h.Exchange(kemitest.Request(method, ruri, append(hdrs, fmt.Sprintf("X-Eval: %d", i))...))
	if kemitest.StatusCode(rep) != 200 {
		s.t.Fatalf("no 200 reply: %q", rep)
	}
	for _, line := range strings.Split(rep, "\r\n") {
		if v, ok := strings.CutPrefix(line, "X-R: "); ok {
			return strings.Split(v, "|")
		}
	}
	s.t.Fatalf("no X-R in %q", rep)
	return nil
}

// evalCID is eval with a given Call-ID.
func (s *server) evalCID(i int, method, cid string) []string {
	s.t.Helper()
	req := kemitest.Request(method, "sip:bob@example.com", fmt.Sprintf("X-Eval: %d", i))
	req = callIDRe.ReplaceAllString(req, "Call-ID: "+cid+"\n")
	rep := s.h.Exchange(req)
	for _, line := range strings.Split(rep, "\r\n") {
		if v, ok := strings.CutPrefix(line, "X-R: "); ok {
			return strings.Split(v, "|")
		}
	}
	s.t.Fatalf("no X-R in %q", rep)
	return nil
}

var callIDRe = regexp.MustCompile(`Call-ID: [^\n]*\n`)

func (s *server) want(got []string, want ...string) {
	s.t.Helper()
	if strings.Join(got, "|") != strings.Join(want, "|") {
		s.t.Errorf("got  %v\nwant %v", got, want)
	}
}

// rpc calls a method; a method error comes back as the error.
func rpcCall(t *testing.T, h *kemitest.Harness, method string, params ...any) (any, *rpc.Error) {
	t.Helper()
	var ps rpc.Params
	for _, p := range params {
		b, _ := json.Marshal(p)
		ps = append(ps, b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return h.RPC.Call(ctx, method, ps)
}

func (s *server) rpc(method string, params ...any) (any, *rpc.Error) {
	s.t.Helper()
	return rpcCall(s.t, s.h, method, params...)
}

// flags returns the FLAGS of every destination from dispatcher.list, by
// "set uri".
func flagsOf(t *testing.T, h *kemitest.Harness) map[string]string {
	t.Helper()
	res, err := rpcCall(t, h, "dispatcher.list")
	if err != nil {
		t.Fatalf("dispatcher.list: %v", err)
	}
	var l struct {
		RECORDS []struct {
			SET struct {
				ID      int
				TARGETS []struct {
					DEST struct {
						URI   string
						FLAGS string
					}
				}
			}
		}
	}
	b, _ := json.Marshal(res)
	if err := json.Unmarshal(b, &l); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, r := range l.RECORDS {
		for _, d := range r.SET.TARGETS {
			out[fmt.Sprintf("%d %s", r.SET.ID, d.DEST.URI)] = d.DEST.FLAGS
		}
	}
	return out
}

// waitFlags waits up to d until destination key has flags want.
func waitFlags(t *testing.T, h *kemitest.Harness, key, want string, d time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		got := flagsOf(t, h)[key]
		if got == want {
			return time.Since(start)
		}
		if time.Since(start) > d {
			t.Fatalf("%s: flags %s after %v, want %s", key, got, d, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func asJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// peer is a UDP endpoint the test controls: it records what it receives
// and answers requests with code (0: silence).
type peer struct {
	t     *testing.T
	conn  *net.UDPConn
	Port  int
	mu    sync.Mutex
	code  map[string]int // by method; missing: 0
	delay time.Duration  // before each reply
	got   []string
	wg    sync.WaitGroup
}

func newPeer(t *testing.T) *peer {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	p := &peer{t: t, conn: c, Port: c.LocalAddr().(*net.UDPAddr).Port, code: map[string]int{}}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(func() { _ = c.Close(); p.wg.Wait() })
	return p
}

func (p *peer) URI() string { return fmt.Sprintf("sip:127.0.0.1:%d", p.Port) }

// slow delays every reply by d.
func (p *peer) slow(d time.Duration) {
	p.mu.Lock()
	p.delay = d
	p.mu.Unlock()
}

// answer sets the reply code for method (0: no reply).
func (p *peer) answer(method string, code int) {
	p.mu.Lock()
	p.code[method] = code
	p.mu.Unlock()
}

func (p *peer) serve() {
	defer p.wg.Done()
	buf := make([]byte, 65536)
	for {
		n, from, err := p.conn.ReadFromUDP(buf)
		if err != nil {
			return
		}
		text := string(buf[:n])
		first, _, _ := strings.Cut(text, "\r\n")
		method, _, _ := strings.Cut(first, " ")
		p.mu.Lock()
		p.got = append(p.got, text)
		code, delay := p.code[method], p.delay
		p.mu.Unlock()
		if code == 0 || strings.HasPrefix(first, "SIP/2.0") || method == "ACK" {
			continue
		}
		rep := []byte(replyTo(text, code))
		if delay > 0 {
			time.AfterFunc(delay, func() { _, _ = p.conn.WriteToUDP(rep, from) })
			continue
		}
		_, _ = p.conn.WriteToUDP(rep, from)
	}
}

// received returns the messages received whose first line starts with prefix.
func (p *peer) received(prefix string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, m := range p.got {
		if strings.HasPrefix(m, prefix) {
			out = append(out, m)
		}
	}
	return out
}

// waitLog waits up to d for a log entry containing sub.
func waitLog(h *kemitest.Harness, sub string, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for !h.LogContains(sub) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// waitReceived waits up to d until n messages starting with prefix came.
func (p *peer) waitReceived(prefix string, n int, d time.Duration) []string {
	deadline := time.Now().Add(d)
	for {
		got := p.received(prefix)
		if len(got) >= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// replyTo builds a reply to request text as a UAS would.
func replyTo(req string, code int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "SIP/2.0 %d Reason\r\n", code)
	for _, line := range strings.Split(req, "\r\n") {
		name, _, _ := strings.Cut(line, ":")
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "via", "from", "call-id", "cseq":
			b.WriteString(line + "\r\n")
		case "to":
			if !strings.Contains(line, "tag=") {
				line += ";tag=peer1"
			}
			b.WriteString(line + "\r\n")
		}
	}
	b.WriteString("Content-Length: 0\r\n\r\n")
	return b.String()
}

// header returns the value of the first header name in message text.
func header(text, name string) string {
	for _, line := range strings.Split(text, "\r\n") {
		n, v, ok := strings.Cut(line, ":")
		if ok && strings.EqualFold(strings.TrimSpace(n), name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// newErr starts a server expecting the module to refuse its configuration
// and returns why.
func newErr(t *testing.T, params map[string]any) (err error) {
	t.Helper()
	ft := &fatalCatcher{TB: t}
	func() {
		defer func() {
			if r := recover(); r != nil && r != errFatal {
				panic(r)
			}
		}()
		kemitest.New(ft, "function ksr_request_route() end", kemitest.Options{Modules: map[string]map[string]any{"dispatcher": params}})
	}()
	return ft.err
}

var errFatal = fmt.Errorf("fatal")

// fatalCatcher turns Fatal into a recorded error.
type fatalCatcher struct {
	testing.TB
	err error
}

func (f *fatalCatcher) Fatal(args ...any) {
	f.err = fmt.Errorf("%s", fmt.Sprint(args...))
	panic(errFatal)
}

func (f *fatalCatcher) Fatalf(format string, args ...any) {
	f.err = fmt.Errorf(format, args...)
	panic(errFatal)
}
