package nathelper_test

import (
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/luasbc/luasbc/kemi/kemitest"
	_ "github.com/luasbc/luasbc/modules/nathelper"
	_ "github.com/luasbc/luasbc/modules/sl"
)

// server is a luasbc instance whose request route evaluates exprs (Lua
// expressions) in order and collects their results, then:
//   - with X-NoFwd: replies 200 carrying the results in X-R;
//   - else: adds X-R to the request and forwards it statelessly
//     (KSR.forward) to $du or the R-URI — the next hop is nh, a UDP socket
//     of the test.
//
// Its reply route evaluates replyExprs the same way and adds X-R to the
// reply the core then relays.
type server struct {
	h  *kemitest.Harness
	nh *net.UDPConn
}

func luaList(exprs []string) string {
	var b strings.Builder
	b.WriteString("  local r = {}\n")
	for _, e := range exprs {
		b.WriteString("  r[#r+1] = tostring(" + e + ")\n")
	}
	b.WriteString("  local x = \"X-R: \" .. table.concat(r, \"|\") .. \"\\r\\n\"\n")
	return b.String()
}

func start(t *testing.T, exprs, replyExprs []string, params map[string]any) *server {
	t.Helper()
	script := "function ksr_request_route()\n" + luaList(exprs) + `  if KSR.hdr.is_present("X-NoFwd") > 0 then
    KSR.hdr.append_to_reply(x)
    KSR.sl.sl_send_reply(200, "OK")
    return
  end
  KSR.hdr.append(x)
  if KSR.forward() < 0 then KSR.info("FORWARD FAILED") end
end
`
	if replyExprs != nil {
		script += "function ksr_reply_route()\n" + luaList(replyExprs) + "  KSR.hdr.append(x)\nend\n"
	}
	return startScript(t, script, map[string]map[string]any{"sl": nil, "nathelper": params})
}

func startScript(t *testing.T, script string, mods map[string]map[string]any) *server {
	t.Helper()
	s := &server{h: kemitest.New(t, script, kemitest.Options{Modules: mods})}
	var err error
	if s.nh, err = net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.nh.Close() })
	return s
}

func (s *server) nhPort() string { return strconv.Itoa(s.nh.LocalAddr().(*net.UDPAddr).Port) }
func (s *server) cport() string  { return strconv.Itoa(s.h.ClientPort()) }

// expand fills {nh}; the harness fills {sport} and {cport}.
func (s *server) expand(raw string) string { return strings.ReplaceAll(raw, "{nh}", s.nhPort()) }

// results sends req with X-NoFwd and returns the X-R values of the reply.
func (s *server) results(t *testing.T, req string) []string {
	t.Helper()
	req = strings.Replace(s.expand(req), "\nContent-Length:", "\nX-NoFwd: 1\nContent-Length:", 1)
	// Longer than Exchange's second: a loaded machine running -race is slow.
	s.h.Send(req)
	rep := s.h.Recv(5 * time.Second)
	if rep == "" {
		t.Fatalf("no reply to\n%s", req)
	}
	return xr(t, rep)
}

// forward sends req (a request, or a reply to relay) and returns what
// reached the next hop.
func (s *server) forward(t *testing.T, req string) string {
	t.Helper()
	s.h.Send(s.expand(req))
	got := s.recvNH(2 * time.Second)
	if got == "" {
		t.Fatalf("nothing reached the next hop; logs: %v", s.h.Logs.All())
	}
	return got
}

func (s *server) recvNH(d time.Duration) string {
	_ = s.nh.SetReadDeadline(time.Now().Add(d))
	buf := make([]byte, 65536)
	n, _, err := s.nh.ReadFromUDP(buf)
	if err != nil {
		return ""
	}
	return string(buf[:n])
}

func xr(t *testing.T, m string) []string {
	t.Helper()
	v := headers(m, "X-R")
	if len(v) != 1 {
		t.Fatalf("no X-R header in %q", m)
	}
	return strings.Split(v[0], "|")
}

// headers returns the values of every header line named name, in order.
func headers(m, name string) []string {
	var out []string
	for _, l := range strings.Split(m, "\r\n") {
		if l == "" {
			break
		}
		if n, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(strings.TrimSpace(n), name) {
			out = append(out, strings.TrimSpace(v))
		}
	}
	return out
}

func body(m string) string {
	_, b, _ := strings.Cut(m, "\r\n\r\n")
	return b
}

func requestLine(m string) string {
	l, _, _ := strings.Cut(m, "\r\n")
	return l
}

func eq(t *testing.T, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s:\n got  %q\n want %q", what, got, want)
	}
}

var seq atomic.Int64

// request builds a request from the test client. via is the sent-by of
// the top Via ("" for the client's own 127.0.0.1:{cport}).
func request(method, ruri, via string, extra ...string) string {
	return requestBody(method, ruri, via, "", extra...)
}

// requestBody is request with a body (sent as application/sdp unless
// extra has a Content-Type).
func requestBody(method, ruri, via, b string, extra ...string) string {
	n := strconv.FormatInt(seq.Add(1), 10)
	if via == "" {
		via = "127.0.0.1:{cport}"
	}
	var sb strings.Builder
	sb.WriteString(method + " " + ruri + " SIP/2.0\n")
	sb.WriteString("Via: SIP/2.0/UDP " + via + ";branch=z9hG4bK-nh" + n + ";rport\n")
	sb.WriteString("From: <sip:alice@example.com>;tag=f" + n + "\n")
	sb.WriteString("To: <sip:bob@example.com>\n")
	sb.WriteString("Call-ID: nh-" + n + "@test\n")
	sb.WriteString("CSeq: 1 " + method + "\n")
	sb.WriteString("Max-Forwards: 70\n")
	hasCT := false
	for _, e := range extra {
		sb.WriteString(e + "\n")
		hasCT = hasCT || strings.HasPrefix(strings.ToLower(e), "content-type:")
	}
	if b != "" && !hasCT {
		sb.WriteString("Content-Type: application/sdp\n")
	}
	b = strings.ReplaceAll(b, "\n", "\r\n")
	sb.WriteString("Content-Length: " + strconv.Itoa(len(b)) + "\n\n")
	// The harness turns LF into CRLF: write the body with LF only.
	sb.WriteString(strings.ReplaceAll(b, "\r\n", "\n"))
	return sb.String()
}

// sdp is an offer from a user agent behind a NAT.
const sdp = `v=0
o=alice 2890844526 2890844526 IN IP4 192.168.1.20
s=-
c=IN IP4 192.168.1.20
t=0 0
m=audio 49170 RTP/AVP 0
a=rtcp:49171 IN IP4 192.168.1.20
a=sendrecv
`
