package maxfwd_test

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/luasbc/luasbc/core"
	"github.com/luasbc/luasbc/core/config"
	"github.com/luasbc/luasbc/kemi"
	"github.com/luasbc/luasbc/kemi/kemitest"
	_ "github.com/luasbc/luasbc/modules/maxfwd"
	_ "github.com/luasbc/luasbc/modules/sl"
)

// withMF returns a request whose Max-Forwards header is replaced by line
// ("" removes it).
func withMF(method, line string) string {
	req := kemitest.Request(method, "sip:bob@127.0.0.1:{sport}")
	if line != "" {
		line += "\n"
	}
	return strings.Replace(req, "Max-Forwards: 70\n", line, 1)
}

// server starts a server whose request route evaluates exprs (a Lua list),
// puts the results into an X-R header and then forwards the request to a
// local socket when X-Fwd is present, or replies 200 otherwise.
type server struct {
	h  *kemitest.Harness
	nh *net.UDPConn
}

func start(t *testing.T, exprs string, params map[string]any) *server {
	t.Helper()
	nh, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nh.Close() })
	port := nh.LocalAddr().(*net.UDPAddr).Port
	h := kemitest.New(t, `
function ksr_request_route()
  local r = {`+exprs+`}
  for i = 1, #r do r[i] = tostring(r[i]) end
  local x = "X-R: " .. table.concat(r, ",") .. "\r\n"
  if KSR.hdr.is_present("X-Fwd") > 0 then
    KSR.hdr.append(x)
    KSR.setdsturi("sip:127.0.0.1:`+strconv.Itoa(port)+`")
    if KSR.forward() < 0 then KSR.info("FORWARD FAILED") end
    return
  end
  KSR.hdr.append_to_reply(x)
  KSR.sl.sl_send_reply(200, "OK")
end`, kemitest.Options{Modules: map[string]map[string]any{"sl": nil, "maxfwd": params}})
	return &server{h: h, nh: nh}
}

// reply sends req and returns the X-R value of the local reply.
func (s *server) reply(t *testing.T, req string) string {
	t.Helper()
	rep := s.h.Exchange(req)
	return xr(t, rep)
}

// forward sends req (marked to be forwarded) and returns what arrived at the
// next hop ("" if nothing did).
func (s *server) forward(t *testing.T, req string) string {
	t.Helper()
	s.h.Send(strings.Replace(req, "Content-Length: 0\n", "X-Fwd: 1\nContent-Length: 0\n", 1))
	_ = s.nh.SetReadDeadline(time.Now().Add(time.Second))
	buf := make([]byte, 65536)
	n, _, err := s.nh.ReadFromUDP(buf)
	if err != nil {
		return ""
	}
	return string(buf[:n])
}

func xr(t *testing.T, msg string) string {
	t.Helper()
	i := strings.Index(msg, "X-R: ")
	if i < 0 {
		t.Fatalf("no X-R header in %q", msg)
	}
	return msg[i+5 : i+strings.Index(msg[i:], "\r\n")]
}

func mfHeaders(out string) []string {
	var v []string
	for _, l := range strings.Split(out, "\r\n") {
		if strings.HasPrefix(strings.ToLower(l), "max-forwards:") {
			v = append(v, strings.TrimSpace(l[len("max-forwards:"):]))
		}
	}
	return v
}

func TestProcessMaxfwdReturnCodes(t *testing.T) {
	s := start(t, `KSR.maxfwd.process_maxfwd(10)`, nil)
	for _, c := range []struct {
		mf   string
		want string
	}{
		{"", "2"},                      // absent: added
		{"Max-Forwards: 70", "1"},      // decremented
		{"Max-Forwards: 1", "1"},       // last hop
		{"Max-Forwards: 0", "-1"},      // exhausted: the script replies 483
		{"Max-Forwards: 300", "1"},     // above 255: a number to Kamailio, capped
		{"Max-Forwards: 99999", "1"},   // five digits still parse
		{"Max-Forwards: 123456", "-2"}, // six digits do not
		{"Max-Forwards: 65536", "-1"},  // unsigned 16-bit, as Kamailio's str2s: 0
	} {
		if got := s.reply(t, withMF("INVITE", c.mf)); got != c.want {
			t.Errorf("%q: process_maxfwd = %s, want %s", c.mf, got, c.want)
		}
	}
}

func TestProcessMaxfwdForwarded(t *testing.T) {
	for _, c := range []struct {
		name   string
		params map[string]any
		expr   string
		mf     string
		wantRC string
		wantMF string
	}{
		{"absent adds max", nil, `KSR.maxfwd.process_maxfwd(10)`, "", "2", "10"},
		{"absent not capped by max_limit", map[string]any{"max_limit": 5}, `KSR.maxfwd.process_maxfwd(10)`, "", "2", "10"},
		{"decrement", nil, `KSR.maxfwd.process_maxfwd(10)`, "Max-Forwards: 70", "1", "69"},
		{"decrement small", nil, `KSR.maxfwd.process_maxfwd(10)`, "Max-Forwards: 2", "1", "1"},
		{"above max_limit becomes max_limit", nil, `KSR.maxfwd.process_maxfwd(10)`, "Max-Forwards: 300", "1", "70"},
		{"max_limit 20", map[string]any{"max_limit": 20}, `KSR.maxfwd.process_maxfwd(10)`, "Max-Forwards: 70", "1", "20"},
		{"max_limit 20, value 21", map[string]any{"max_limit": 20}, `KSR.maxfwd.process_maxfwd(10)`, "Max-Forwards: 21", "1", "20"},
		{"max_limit 20, value 20", map[string]any{"max_limit": 20}, `KSR.maxfwd.process_maxfwd(10)`, "Max-Forwards: 20", "1", "19"},
		{"twice decrements twice", nil, `KSR.maxfwd.process_maxfwd(10), KSR.maxfwd.process_maxfwd(10)`, "Max-Forwards: 70", "1,1", "68"},
		{"lt sees the decremented value", nil,
			`KSR.maxfwd.process_maxfwd(10), KSR.maxfwd.is_maxfwd_lt(10), KSR.maxfwd.is_maxfwd_lt(9)`, "Max-Forwards: 10", "1,1,-1", "9"},
		{"lt after adding: no header", nil,
			`KSR.maxfwd.process_maxfwd(10), KSR.maxfwd.is_maxfwd_lt(70)`, "", "2,-2", "10"},
		{"string argument", nil, `KSR.maxfwd.process_maxfwd("16")`, "", "2", "16"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := start(t, c.expr, c.params)
			out := s.forward(t, withMF("INVITE", c.mf))
			if out == "" {
				t.Fatalf("nothing forwarded")
			}
			if got := xr(t, out); got != c.wantRC {
				t.Errorf("returned %s, want %s", got, c.wantRC)
			}
			if got := mfHeaders(out); len(got) != 1 || got[0] != c.wantMF {
				t.Errorf("forwarded Max-Forwards %q, want [%s]\n%s", got, c.wantMF, out)
			}
		})
	}
}

func TestProcessMaxfwdLimitParam(t *testing.T) {
	s := start(t, `KSR.maxfwd.process_maxfwd(-1), KSR.maxfwd.process_maxfwd(256),
    KSR.maxfwd.process_maxfwd(255), KSR.maxfwd.is_maxfwd_lt(-1), KSR.maxfwd.is_maxfwd_lt(256)`, nil)
	// The out-of-range calls must not change the value either: 70 -> 69 once.
	out := s.forward(t, withMF("OPTIONS", "Max-Forwards: 70"))
	if got := xr(t, out); got != "-1,-1,1,-1,-1" {
		t.Errorf("got %s", got)
	}
	if got := mfHeaders(out); len(got) != 1 || got[0] != "69" {
		t.Errorf("forwarded Max-Forwards %q", got)
	}
	// process_maxfwd(0) without a header adds "Max-Forwards: 0" (Kamailio
	// allows it), which the core then refuses to forward.
	s = start(t, `KSR.maxfwd.process_maxfwd(0)`, nil)
	if got := s.reply(t, withMF("OPTIONS", "")); got != "2" {
		t.Errorf("process_maxfwd(0) without header = %s", got)
	}
}

func TestIsMaxfwdLt(t *testing.T) {
	s := start(t, `KSR.maxfwd.is_maxfwd_lt(10), KSR.maxfwd.is_maxfwd_lt(5), KSR.maxfwd.is_maxfwd_lt(4), KSR.maxfwd.is_maxfwd_lt(0)`, nil)
	for _, c := range []struct{ mf, want string }{
		{"Max-Forwards: 5", "1,-1,-1,-1"},
		{"Max-Forwards: 0", "1,1,1,-1"},
		{"", "-2,-2,-2,-2"},
		{"Max-Forwards: 123456", "-3,-3,-3,-3"},
		{"Max-Forwards: 300", "-1,-1,-1,-1"},
	} {
		if got := s.reply(t, withMF("OPTIONS", c.mf)); got != c.want {
			t.Errorf("%q: got %s, want %s", c.mf, got, c.want)
		}
	}
}

func TestReplyRoute(t *testing.T) {
	h := kemitest.New(t, `
function ksr_request_route() end
function ksr_reply_route()
  KSR.info("MF " .. KSR.maxfwd.process_maxfwd(10) .. " " .. KSR.maxfwd.is_maxfwd_lt(10))
  KSR.x.drop()
end`, kemitest.Options{Modules: map[string]map[string]any{"maxfwd": nil}})
	h.Send("SIP/2.0 200 OK\nVia: SIP/2.0/UDP 127.0.0.1:{sport};branch=z9hG4bKa\nVia: SIP/2.0/UDP 127.0.0.1:{cport};branch=z9hG4bKb\n" +
		"From: <sip:a@b>;tag=1\nTo: <sip:c@d>;tag=2\nCall-ID: mf-reply\nCSeq: 1 INVITE\nContent-Length: 0\n\n")
	deadline := time.Now().Add(2 * time.Second)
	for !h.LogContains("MF -2 -2") && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if !h.LogContains("MF -2 -2") {
		t.Fatal("process_maxfwd on a reply should be -2, is_maxfwd_lt without header -2")
	}
}

func TestMaxLimitRange(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "s.lua"), []byte("function ksr_request_route() end\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, v := range []int{0, -1, 257, 1, 256} {
		cfg, err := config.Parse([]byte(`listen: ["udp:127.0.0.1:0"]
lua: {load: s.lua}
modules:
  maxfwd: {max_limit: `+strconv.Itoa(v)+`}
`), dir)
		if err != nil {
			t.Fatal(err)
		}
		log := zap.NewNop()
		_, err = kemi.NewEngine(core.New(cfg, log), cfg, log, nil)
		if valid := v >= 1 && v <= 256; valid != (err == nil) || err != nil && !strings.Contains(err.Error(), "max_limit") {
			t.Errorf("max_limit %d: err %v", v, err)
		}
	}
}
