package rr_test

import (
	"bufio"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/luasbc/luasbc/core"
	"github.com/luasbc/luasbc/core/config"
	"github.com/luasbc/luasbc/core/msg"
	"github.com/luasbc/luasbc/kemi"
	"github.com/luasbc/luasbc/kemi/kemitest"
	_ "github.com/luasbc/luasbc/modules/rr"
	_ "github.com/luasbc/luasbc/modules/sl"
)

// server is a luasbc instance whose request route evaluates exprs (Lua
// expressions) in order, collects their results, then:
//   - with X-NoFwd: replies 200 carrying the results in X-R;
//   - else: adds X-R to the request, sets $du from X-Dst when present and
//     forwards statelessly (KSR.forward) to $du or the R-URI.
type server struct {
	h     *kemitest.Harness
	tcp   *msg.Socket // our TCP listening socket, when listening on TCP
	nh    *net.UDPConn
	nhTCP *net.TCPListener
}

func start(t *testing.T, exprs []string, params map[string]any, withTCP bool) *server {
	t.Helper()
	var lua strings.Builder
	lua.WriteString("function ksr_request_route()\n  local r = {}\n")
	for _, e := range exprs {
		lua.WriteString("  r[#r+1] = tostring(" + e + ")\n")
	}
	lua.WriteString(`  local x = "X-R: " .. table.concat(r, "|") .. "\r\n"
  if KSR.hdr.is_present("X-NoFwd") > 0 then
    KSR.hdr.append_to_reply(x)
    KSR.sl.sl_send_reply(200, "OK")
    return
  end
  KSR.hdr.append(x)
  local d = KSR.hdr.get("X-Dst")
  if d then KSR.setdsturi(d) end
  if KSR.forward() < 0 then KSR.info("FORWARD FAILED") end
end
`)
	return startScript(t, lua.String(), map[string]map[string]any{"sl": nil, "rr": params}, withTCP)
}

// startScript starts a server running script with the given modules.
func startScript(t *testing.T, script string, mods map[string]map[string]any, withTCP bool) *server {
	t.Helper()
	o := kemitest.Options{Modules: mods}
	if withTCP {
		o.Extra = `listen: ["udp:127.0.0.1:0", "tcp:127.0.0.1:0"]`
	}
	s := &server{h: kemitest.New(t, script, o)}
	for _, sock := range s.h.Core.TP.Sockets {
		if sock.Proto == msg.TCP {
			s.tcp = sock
		}
	}
	if withTCP && s.tcp == nil {
		t.Fatal("no TCP socket")
	}
	var err error
	if s.nh, err = net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.nh.Close() })
	if s.nhTCP, err = net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.nhTCP.Close() })
	return s
}

func (s *server) nhPort() string    { return strconv.Itoa(s.nh.LocalAddr().(*net.UDPAddr).Port) }
func (s *server) nhTCPPort() string { return strconv.Itoa(s.nhTCP.Addr().(*net.TCPAddr).Port) }
func (s *server) sport() string     { return strconv.Itoa(s.h.ServerPort()) }
func (s *server) tport() string     { return strconv.Itoa(int(s.tcp.Addr.Port())) }

// expand fills {nh} (next hop UDP port), {nht} (next hop TCP port) and
// {tport} (our TCP port); the harness fills {sport} and {cport}.
func (s *server) expand(raw string) string {
	raw = strings.ReplaceAll(raw, "{nh}", s.nhPort())
	raw = strings.ReplaceAll(raw, "{nht}", s.nhTCPPort())
	if s.tcp != nil {
		raw = strings.ReplaceAll(raw, "{tport}", s.tport())
	}
	return raw
}

// results sends req with X-NoFwd and returns the X-R values of the reply.
func (s *server) results(t *testing.T, req string) []string {
	t.Helper()
	req = strings.Replace(s.expand(req), "Content-Length: 0\n", "X-NoFwd: 1\nContent-Length: 0\n", 1)
	rep := s.h.Exchange(req)
	if rep == "" {
		t.Fatalf("no reply to\n%s", req)
	}
	return xr(t, rep)
}

// forwardUDP sends req and returns what reached the UDP next hop.
func (s *server) forwardUDP(t *testing.T, req string) string {
	t.Helper()
	s.h.Send(s.expand(req))
	_ = s.nh.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 65536)
	n, _, err := s.nh.ReadFromUDP(buf)
	if err != nil {
		t.Fatalf("nothing forwarded to the UDP next hop (%v); logs: %v", err, s.h.Logs.All())
	}
	return string(buf[:n])
}

// forwardTCP sends req and returns the first message that reached the TCP
// next hop.
func (s *server) forwardTCP(t *testing.T, req string) string {
	t.Helper()
	s.h.Send(s.expand(req))
	_ = s.nhTCP.SetDeadline(time.Now().Add(2 * time.Second))
	conn, err := s.nhTCP.Accept()
	if err != nil {
		t.Fatalf("no TCP connection to the next hop (%v); logs: %v", err, s.h.Logs.All())
	}
	t.Cleanup(func() { _ = conn.Close() })
	_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	r := bufio.NewReader(conn)
	var b strings.Builder
	cl := 0
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("reading from TCP: %v (got %q)", err, b.String())
		}
		b.WriteString(line)
		if line == "\r\n" {
			break
		}
		if n, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(strings.TrimSpace(n), "Content-Length") {
			cl, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	body := make([]byte, cl)
	if _, err := r.Read(body); cl > 0 && err != nil {
		t.Fatal(err)
	}
	return b.String() + string(body)
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

// request builds a request text. totag "" makes an initial request; from
// and to tags are swapped for upstream in-dialog requests by the caller.
func request(method, ruri, fromtag, totag string, extra ...string) string {
	n := strconv.FormatInt(seq.Add(1), 10)
	var b strings.Builder
	b.WriteString(method + " " + ruri + " SIP/2.0\n")
	b.WriteString("Via: SIP/2.0/UDP 127.0.0.1:{cport};branch=z9hG4bK-rr" + n + ";rport\n")
	b.WriteString("From: <sip:alice@example.com>;tag=" + fromtag + "\n")
	if totag != "" {
		b.WriteString("To: <sip:bob@example.com>;tag=" + totag + "\n")
	} else {
		b.WriteString("To: <sip:bob@example.com>\n")
	}
	b.WriteString("Call-ID: rr-" + n + "@test\n")
	b.WriteString("CSeq: 1 " + method + "\n")
	b.WriteString("Max-Forwards: 70\n")
	for _, e := range extra {
		b.WriteString(e + "\n")
	}
	b.WriteString("Content-Length: 0\n\n")
	return b.String()
}

func invite(extra ...string) string {
	return request("INVITE", "sip:bob@127.0.0.1:{nh}", "ft1", "", extra...)
}

// --- record_route ---------------------------------------------------------

func TestRecordRouteUDP(t *testing.T) {
	s := start(t, []string{`KSR.rr.record_route()`, `KSR.rr.record_route()`}, nil, false)
	out := s.forwardUDP(t, invite("Record-Route: <sip:10.0.0.9;lr>"))
	eq(t, "results", xr(t, out), []string{"1", "-1"})
	eq(t, "Record-Route", headers(out, "Record-Route"), []string{
		"<sip:127.0.0.1:" + s.sport() + ";lr;ftag=ft1>", // ours, first; the second call added nothing
		"<sip:10.0.0.9;lr>",
	})
}

func TestRecordRouteOnlyWhenSent(t *testing.T) {
	// The local reply does not carry it: record_route writes nothing itself.
	s := start(t, []string{`KSR.rr.record_route()`}, nil, false)
	rep := s.h.Exchange(strings.Replace(s.expand(invite()), "Content-Length: 0\n", "X-NoFwd: 1\nContent-Length: 0\n", 1))
	if v := headers(rep, "Record-Route"); len(v) != 0 {
		t.Errorf("local reply carries Record-Route %q", v)
	}
}

func TestRecordRouteParamsAndOptions(t *testing.T) {
	s := start(t, []string{`KSR.rr.add_rr_param(";b=0")`, `KSR.rr.record_route_params(";p=1")`, `KSR.rr.add_rr_param(";a=1")`},
		map[string]any{"enable_full_lr": 1, "append_fromtag": 0}, false)
	out := s.forwardUDP(t, invite())
	eq(t, "results", xr(t, out), []string{"1", "1", "1"})
	eq(t, "Record-Route", headers(out, "Record-Route"), []string{"<sip:127.0.0.1:" + s.sport() + ";lr=on;p=1;b=0;a=1>"})
}

func TestRecordRouteBadText(t *testing.T) {
	s := start(t, []string{`KSR.rr.record_route_params(";a=<x>")`, `KSR.rr.add_rr_param(";x=\r\nEvil: 1")`, `KSR.rr.record_route()`}, nil, false)
	out := s.forwardUDP(t, invite())
	eq(t, "results", xr(t, out), []string{"-1", "-1", "1"})
	eq(t, "Record-Route", headers(out, "Record-Route"), []string{"<sip:127.0.0.1:" + s.sport() + ";lr;ftag=ft1>"})
}

func TestAddRRParamLimit(t *testing.T) {
	s := start(t, []string{`KSR.rr.add_rr_param(";x=" .. string.rep("a", 500))`, `KSR.rr.add_rr_param(";y=" .. string.rep("b", 20))`,
		`KSR.rr.record_route()`}, map[string]any{"append_fromtag": 0}, false)
	out := s.forwardUDP(t, invite())
	eq(t, "results", xr(t, out), []string{"1", "-1", "1"})
	if rr := headers(out, "Record-Route"); len(rr) != 1 || !strings.HasSuffix(rr[0], ";lr;x="+strings.Repeat("a", 500)+">") {
		t.Errorf("Record-Route %q", rr)
	}
}

func TestDoubleRecordRouteUDPToTCP(t *testing.T) {
	s := start(t, []string{`KSR.rr.record_route()`, `KSR.rr.add_rr_param(";nat=yes")`}, nil, true)
	out := s.forwardTCP(t, invite("X-Dst: sip:127.0.0.1:{nht};transport=tcp", "Record-Route: <sip:10.0.0.9;lr>"))
	eq(t, "results", xr(t, out), []string{"1", "1"})
	eq(t, "Record-Route", headers(out, "Record-Route"), []string{
		"<sip:127.0.0.1:" + s.tport() + ";transport=tcp;r2=on;lr;ftag=ft1;nat=yes>", // outgoing side first
		"<sip:127.0.0.1:" + s.sport() + ";r2=on;lr;ftag=ft1;nat=yes>",               // then the side it came in on
		"<sip:10.0.0.9;lr>",
	})
}

func TestDoubleRecordRouteModes(t *testing.T) {
	t.Run("0: one, incoming side", func(t *testing.T) {
		s := start(t, []string{`KSR.rr.record_route()`}, map[string]any{"enable_double_rr": 0}, true)
		out := s.forwardTCP(t, invite("X-Dst: sip:127.0.0.1:{nht};transport=tcp"))
		eq(t, "Record-Route", headers(out, "Record-Route"), []string{"<sip:127.0.0.1:" + s.sport() + ";lr;ftag=ft1>"})
	})
	t.Run("2: always two", func(t *testing.T) {
		s := start(t, []string{`KSR.rr.record_route()`}, map[string]any{"enable_double_rr": 2}, false)
		out := s.forwardUDP(t, invite())
		one := "<sip:127.0.0.1:" + s.sport() + ";r2=on;lr;ftag=ft1>"
		eq(t, "Record-Route", headers(out, "Record-Route"), []string{one, one})
	})
	t.Run("1, same socket: one", func(t *testing.T) {
		s := start(t, []string{`KSR.rr.record_route()`}, nil, true)
		out := s.forwardUDP(t, invite())
		eq(t, "Record-Route", headers(out, "Record-Route"), []string{"<sip:127.0.0.1:" + s.sport() + ";lr;ftag=ft1>"})
	})
}

func TestRecordRouteAdvertisedAddress(t *testing.T) {
	exprs := []string{`KSR.rr.record_route_advertised_address("sbc.example.com:5080")`, `KSR.rr.add_rr_param(";k=v")`}
	t.Run("same transport", func(t *testing.T) {
		s := start(t, exprs, nil, true)
		out := s.forwardUDP(t, invite())
		eq(t, "results", xr(t, out), []string{"1", "1"})
		eq(t, "Record-Route", headers(out, "Record-Route"), []string{"<sip:sbc.example.com:5080;ftag=ft1;lr;k=v>"})
	})
	t.Run("transport change", func(t *testing.T) {
		s := start(t, exprs, nil, true)
		out := s.forwardTCP(t, invite("X-Dst: sip:127.0.0.1:{nht};transport=tcp"))
		eq(t, "Record-Route", headers(out, "Record-Route"), []string{
			"<sip:sbc.example.com:5080;transport=tcp;r2=on;ftag=ft1;lr;k=v>",
			"<sip:sbc.example.com:5080;transport=udp;r2=on;ftag=ft1;lr;k=v>",
		})
	})
}

func TestRecordRoutePreset(t *testing.T) {
	for _, c := range []struct {
		name   string
		exprs  []string
		params map[string]any
		want   []string
		rr     []string
	}{
		{"two", []string{`KSR.rr.add_rr_param(";lost=1")`, `KSR.rr.record_route_preset("1.2.3.4:5090;r2=on", "5.6.7.8;r2=on")`}, nil,
			[]string{"1", "1"}, []string{"<sip:1.2.3.4:5090;r2=on;ftag=ft1;lr>", "<sip:5.6.7.8;r2=on;ftag=ft1;lr>"}},
		{"two, second empty", []string{`KSR.rr.record_route_preset("1.2.3.4", "")`}, nil,
			[]string{"1"}, []string{"<sip:1.2.3.4;ftag=ft1;lr>"}},
		{"one", []string{`KSR.rr.record_route_preset_one("1.2.3.4:5070")`, `KSR.rr.record_route_preset_one("1.2.3.4")`},
			map[string]any{"enable_full_lr": 1}, []string{"1", "-1"}, []string{"<sip:1.2.3.4:5070;ftag=ft1;lr=on>"}},
		{"two without double rr", []string{`KSR.rr.record_route_preset("1.2.3.4", "5.6.7.8")`, `KSR.rr.record_route_preset_one("9.9.9.9")`},
			map[string]any{"enable_double_rr": 0}, []string{"-1", "1"}, []string{"<sip:9.9.9.9;ftag=ft1;lr>"}},
		{"after record_route", []string{`KSR.rr.record_route()`, `KSR.rr.record_route_preset("1.2.3.4", "")`}, map[string]any{"append_fromtag": 0},
			[]string{"1", "-1"}, []string{"<sip:127.0.0.1:{sport};lr>"}},
		{"empty address", []string{`KSR.rr.record_route_preset_one("")`}, nil, []string{"-1"}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := start(t, c.exprs, c.params, false)
			out := s.forwardUDP(t, invite())
			eq(t, "results", xr(t, out), c.want)
			var want []string
			for _, w := range c.rr {
				want = append(want, strings.ReplaceAll(w, "{sport}", s.sport()))
			}
			eq(t, "Record-Route", headers(out, "Record-Route"), want)
		})
	}
}

func TestRemoveRecordRoute(t *testing.T) {
	s := start(t, []string{`KSR.rr.record_route()`, `KSR.rr.remove_record_route()`, `KSR.rr.record_route()`}, nil, false)
	out := s.forwardUDP(t, invite("Record-Route: <sip:10.0.0.9;lr>"))
	// As in Kamailio the message stays marked as record-routed.
	eq(t, "results", xr(t, out), []string{"1", "1", "-1"})
	eq(t, "Record-Route", headers(out, "Record-Route"), []string{"<sip:10.0.0.9;lr>"})
}

func TestRecordRouteUsername(t *testing.T) {
	s := start(t, []string{`KSR.rr.record_route()`}, map[string]any{"add_username": 1}, false)
	out := s.forwardUDP(t, invite())
	eq(t, "Record-Route", headers(out, "Record-Route"), []string{"<sip:bob@127.0.0.1:" + s.sport() + ";lr;ftag=ft1>"})

	s = start(t, []string{`KSR.pv.sets("$avp(rruser)", "mo")`, `KSR.rr.record_route()`},
		map[string]any{"add_username": 1, "custom_user_avp": "$avp(rruser)"}, false)
	out = s.forwardUDP(t, invite())
	eq(t, "Record-Route", headers(out, "Record-Route"), []string{"<sip:mo@127.0.0.1:" + s.sport() + ";lr;ftag=ft1>"})
}

func TestRecordRouteSIPS(t *testing.T) {
	s := start(t, []string{`KSR.rr.record_route()`}, nil, false)
	req := request("INVITE", "sips:bob@example.com", "ft1", "", "X-Dst: sip:127.0.0.1:{nh}")
	out := s.forwardUDP(t, req)
	eq(t, "Record-Route", headers(out, "Record-Route"), []string{"<sips:127.0.0.1:" + s.sport() + ";lr;ftag=ft1>"})

	s = start(t, []string{`KSR.rr.record_route()`}, map[string]any{"ignore_sips": 1}, false)
	out = s.forwardUDP(t, req)
	eq(t, "Record-Route", headers(out, "Record-Route"), []string{"<sip:127.0.0.1:" + s.sport() + ";lr;ftag=ft1>"})
}

// --- loose_route ----------------------------------------------------------

var lrExprs = []string{`KSR.rr.loose_route()`, `KSR.pv.get("$du")`, `KSR.pv.get("$ru")`, `KSR.pv.get("$fs")`, `KSR.rr.next_hop_route()`}

func TestLooseRouteInDialog(t *testing.T) {
	exprs := append(append([]string(nil), lrExprs...),
		`KSR.rr.check_route_param("nat=yes")`, `KSR.rr.check_route_param("^;lr;ftag=ft1")`, `KSR.rr.check_route_param("nat=no")`,
		`KSR.rr.is_direction("downstream")`, `KSR.rr.is_direction("upstream")`, `KSR.pv.get("$rdir(name)")`,
		`KSR.pv.get("$fti")`, `KSR.pv.get("$tti")`)
	s := start(t, exprs, nil, false)
	req := request("BYE", "sip:bob@10.0.0.5:5099", "ft1", "tt1",
		"Route: <sip:127.0.0.1:{sport};lr;ftag=ft1;nat=yes>", "Route: <sip:127.0.0.1:{nh};lr>")
	out := s.forwardUDP(t, req)
	eq(t, "results", xr(t, out), []string{"1", "sip:127.0.0.1:" + s.nhPort() + ";lr", "sip:bob@10.0.0.5:5099", "nil", "1",
		"1", "1", "-1", "1", "-1", "downstream", "ft1", "tt1"})
	if got := requestLine(out); got != "BYE sip:bob@10.0.0.5:5099 SIP/2.0" {
		t.Errorf("request line %q", got)
	}
	eq(t, "Route", headers(out, "Route"), []string{"<sip:127.0.0.1:" + s.nhPort() + ";lr>"})
}

func TestLooseRouteUpstream(t *testing.T) {
	// The callee's request: From carries the callee's tag, our Route the caller's.
	s := start(t, []string{`KSR.rr.loose_route()`, `KSR.rr.is_direction("upstream")`, `KSR.rr.is_direction("DownStream")`,
		`KSR.pv.get("$rdir(id)")`, `KSR.pv.get("$fti")`, `KSR.pv.get("$tti")`, `KSR.rr.record_route()`}, nil, false)
	req := request("BYE", "sip:alice@10.0.0.5:5099", "tt1", "ft1",
		"Route: <sip:127.0.0.1:{sport};lr;ftag=ft1>, <sip:127.0.0.1:{nh};lr>")
	out := s.forwardUDP(t, req)
	eq(t, "results", xr(t, out), []string{"1", "1", "-1", "2", "ft1", "tt1", "1"})
	// record_route after loose_route names the caller's tag (the To tag here).
	eq(t, "Record-Route", headers(out, "Record-Route"), []string{"<sip:127.0.0.1:" + s.sport() + ";lr;ftag=ft1>"})
	eq(t, "Route", headers(out, "Route"), []string{"<sip:127.0.0.1:" + s.nhPort() + ";lr>"})
}

func TestRouteParamsWithoutLooseRoute(t *testing.T) {
	s := start(t, []string{`KSR.rr.check_route_param("nat=yes")`, `KSR.rr.is_direction("upstream")`}, nil, false)
	got := s.results(t, request("BYE", "sip:alice@10.0.0.5", "tt1", "ft1", "Route: <sip:127.0.0.1:{sport};lr;ftag=ft1;nat=yes>"))
	eq(t, "our top Route", got, []string{"1", "1"})
	got = s.results(t, request("BYE", "sip:alice@10.0.0.5", "tt1", "ft1", "Route: <sip:10.0.0.1;lr;ftag=ft1;nat=yes>"))
	eq(t, "foreign top Route", got, []string{"-1", "-1"})
}

func TestIsDirectionErrors(t *testing.T) {
	req := request("BYE", "sip:alice@10.0.0.5", "tt1", "ft1", "Route: <sip:127.0.0.1:{sport};lr;ftag=ft1>")
	s := start(t, []string{`KSR.rr.loose_route()`, `KSR.rr.is_direction("sideways")`, `KSR.rr.is_direction("upstream")`}, nil, false)
	eq(t, "unknown direction", s.results(t, req), []string{"1", "-6", "1"})
	s = start(t, []string{`KSR.rr.loose_route()`, `KSR.rr.is_direction("upstream")`}, map[string]any{"append_fromtag": 0}, false)
	eq(t, "append_fromtag 0", s.results(t, req), []string{"1", "-6"})
	// Without ftag the request counts as downstream.
	s = start(t, []string{`KSR.rr.loose_route()`, `KSR.rr.is_direction("downstream")`}, nil, false)
	eq(t, "no ftag", s.results(t, request("BYE", "sip:alice@10.0.0.5", "tt1", "ft1", "Route: <sip:127.0.0.1:{sport};lr>")), []string{"1", "1"})
}

func TestLooseRouteSharedHeaderLine(t *testing.T) {
	s := start(t, lrExprs, nil, false)
	req := request("BYE", "sip:bob@10.0.0.5:5099", "ft1", "tt1",
		"Route: <sip:127.0.0.1:{sport};lr>,<sip:127.0.0.1:{nh};lr>, \"x\" <sip:10.0.0.7;lr>",
		"Route: <sip:10.0.0.8;lr>")
	out := s.forwardUDP(t, req)
	eq(t, "results", xr(t, out), []string{"1", "sip:127.0.0.1:" + s.nhPort() + ";lr", "sip:bob@10.0.0.5:5099", "nil", "1"})
	eq(t, "Route", headers(out, "Route"), []string{
		"<sip:127.0.0.1:" + s.nhPort() + ";lr>, \"x\" <sip:10.0.0.7;lr>",
		"<sip:10.0.0.8;lr>",
	})
}

func TestLooseRouteOnlyOurs(t *testing.T) {
	s := start(t, lrExprs, nil, false)
	// In a dialog: 1, nothing but the R-URI left to route on.
	out := s.forwardUDP(t, request("BYE", "sip:bob@127.0.0.1:{nh}", "ft1", "tt1", "Route: <sip:127.0.0.1:{sport};lr;ftag=ft1>"))
	eq(t, "in dialog", xr(t, out), []string{"1", "nil", "sip:bob@127.0.0.1:" + s.nhPort(), "nil", "-1"})
	eq(t, "Route", headers(out, "Route"), nil)
	// Initial request with a preloaded Route of ours only: removed, -3.
	out = s.forwardUDP(t, invite("Route: <sip:127.0.0.1:{sport};lr>"))
	eq(t, "preloaded", xr(t, out), []string{"-3", "nil", "sip:bob@127.0.0.1:" + s.nhPort(), "nil", "-1"})
	eq(t, "Route", headers(out, "Route"), nil)
}

func TestLooseRoutePreloaded(t *testing.T) {
	s := start(t, []string{`KSR.rr.loose_route_preloaded()`, `KSR.pv.get("$du")`}, nil, false)
	eq(t, "only ours", s.results(t, invite("Route: <sip:127.0.0.1:{sport};lr>")), []string{"1", "nil"})
	eq(t, "ours and another", s.results(t, invite("Route: <sip:127.0.0.1:{sport};lr>, <sip:10.1.1.1;lr>")),
		[]string{"-1", "sip:10.1.1.1;lr"})
	eq(t, "foreign", s.results(t, invite("Route: <sip:10.1.1.1;lr>")), []string{"-1", "sip:10.1.1.1;lr"})
	eq(t, "in dialog", s.results(t, request("BYE", "sip:bob@10.0.0.5", "ft1", "tt1", "Route: <sip:127.0.0.1:{sport};lr>")),
		[]string{"-1", "nil"})

	s = start(t, lrExprs, nil, false)
	eq(t, "no Route", s.results(t, invite()), []string{"-1", "nil", "sip:bob@127.0.0.1:" + s.nhPort(), "nil", "-1"})
	// A preloaded foreign Route is followed: 1.
	eq(t, "preloaded foreign", s.results(t, invite("Route: <sip:10.1.1.1;lr>")),
		[]string{"1", "sip:10.1.1.1;lr", "sip:bob@127.0.0.1:" + s.nhPort(), "nil", "-1"})
}

func TestLooseRouteStrictPreviousHop(t *testing.T) {
	exprs := append(append([]string(nil), lrExprs...), `KSR.rr.check_route_param("ftag=ft1")`)
	s := start(t, exprs, nil, false)
	// A strict router put our Record-Route URI into the R-URI and the remote
	// target at the end of the Route set.
	req := request("BYE", "sip:127.0.0.1:{sport};lr;ftag=ft1", "ft1", "tt1",
		"Route: <sip:127.0.0.1:{nh};lr>", "Route: <sip:10.0.0.2;lr>, <sip:bob@10.0.0.9:5099>")
	out := s.forwardUDP(t, req)
	eq(t, "results", xr(t, out), []string{"1", "sip:127.0.0.1:" + s.nhPort() + ";lr", "sip:bob@10.0.0.9:5099", "nil", "-1", "1"})
	if got := requestLine(out); got != "BYE sip:bob@10.0.0.9:5099 SIP/2.0" {
		t.Errorf("request line %q", got)
	}
	eq(t, "Route", headers(out, "Route"), []string{"<sip:127.0.0.1:" + s.nhPort() + ";lr>", "<sip:10.0.0.2;lr>"})
}

func TestLooseRouteStrictNextHop(t *testing.T) {
	s := start(t, lrExprs, nil, false)
	req := request("BYE", "sip:bob@10.0.0.9:5099", "ft1", "tt1",
		"Route: <sip:127.0.0.1:{sport};lr>, <sip:127.0.0.1:{nh}>, <sip:10.0.0.3;lr>")
	out := s.forwardUDP(t, req)
	eq(t, "results", xr(t, out), []string{"1", "nil", "sip:127.0.0.1:" + s.nhPort(), "nil", "1"})
	if got := requestLine(out); got != "BYE sip:127.0.0.1:"+s.nhPort()+" SIP/2.0" {
		t.Errorf("request line %q", got)
	}
	// RFC 3261 §16.6 step 6: the old R-URI becomes the last Route value.
	eq(t, "Route", headers(out, "Route"), []string{"<sip:10.0.0.3;lr>", "<sip:bob@10.0.0.9:5099>"})
}

func TestLooseRouteMode(t *testing.T) {
	req := request("BYE", "sip:127.0.0.1:{sport}", "ft1", "tt1", "Route: <sip:10.0.0.3;lr>, <sip:10.0.0.4;lr>")
	// Mode 0: R-URI is ours, so the previous hop was a strict router.
	s := start(t, []string{`KSR.rr.loose_route_mode(0)`, `KSR.pv.get("$du")`, `KSR.pv.get("$ru")`}, nil, false)
	eq(t, "mode 0", s.results(t, req), []string{"1", "sip:10.0.0.3;lr", "sip:10.0.0.4;lr"})
	// Mode 1: loose routing only; the R-URI stays.
	s = start(t, []string{`KSR.rr.loose_route_mode(1)`, `KSR.pv.get("$du")`, `KSR.pv.get("$ru")`}, nil, false)
	eq(t, "mode 1", s.results(t, req), []string{"1", "sip:10.0.0.3;lr", "sip:127.0.0.1:" + s.sport()})
	// The loose_route_mode parameter applies to loose_route().
	s = start(t, []string{`KSR.rr.loose_route()`, `KSR.pv.get("$du")`, `KSR.pv.get("$ru")`}, map[string]any{"loose_route_mode": 1}, false)
	eq(t, "param", s.results(t, req), []string{"1", "sip:10.0.0.3;lr", "sip:127.0.0.1:" + s.sport()})
}

func TestLooseRouteMaddr(t *testing.T) {
	s := start(t, lrExprs, nil, false)
	got := s.results(t, request("BYE", "sip:bob@10.0.0.9", "ft1", "tt1",
		"Route: <sip:127.0.0.1:{sport};lr>, <sip:proxy.example.com:5070;maddr=10.2.2.2;lr>"))
	eq(t, "results", got, []string{"1", "sip:10.2.2.2:5070", "sip:bob@10.0.0.9", "nil", "1"})
}

func TestLooseRouteTwice(t *testing.T) {
	s := start(t, []string{`KSR.rr.loose_route()`, `KSR.rr.loose_route()`}, nil, false)
	out := s.forwardUDP(t, request("BYE", "sip:bob@10.0.0.5", "ft1", "tt1",
		"Route: <sip:127.0.0.1:{sport};lr>, <sip:127.0.0.1:{nh};lr>, <sip:10.0.0.7;lr>"))
	eq(t, "results", xr(t, out), []string{"1", "1"})
	eq(t, "Route", headers(out, "Route"), []string{"<sip:127.0.0.1:" + s.nhPort() + ";lr>, <sip:10.0.0.7;lr>"})
}

func TestDoubleRouteRemovalSocket(t *testing.T) {
	s := start(t, lrExprs, nil, true)
	// From the UDP side: ours (UDP) then ours (TCP); the dialog goes on over TCP.
	req := request("BYE", "sip:bob@127.0.0.1:{nht};transport=tcp", "ft1", "tt1",
		"Route: <sip:127.0.0.1:{sport};r2=on;lr;ftag=ft1>",
		"Route: <sip:127.0.0.1:{tport};transport=tcp;r2=on;lr;ftag=ft1>")
	out := s.forwardTCP(t, req)
	eq(t, "results", xr(t, out), []string{"1", "nil", "sip:bob@127.0.0.1:" + s.nhTCPPort() + ";transport=tcp",
		"tcp:127.0.0.1:" + s.tport(), "-1"})
	eq(t, "Route", headers(out, "Route"), nil)
	if via := headers(out, "Via"); len(via) == 0 || !strings.HasPrefix(via[0], "SIP/2.0/TCP 127.0.0.1:"+s.tport()+";") {
		t.Errorf("top Via %q", via)
	}
}

func TestDoubleRouteRemovalOneLine(t *testing.T) {
	s := start(t, lrExprs, nil, true)
	req := request("BYE", "sip:bob@10.9.9.9", "ft1", "tt1",
		"Route: <sip:127.0.0.1:{tport};transport=tcp;r2=on;lr>, <sip:127.0.0.1:{sport};r2=on;lr>, <sip:127.0.0.1:{nh};lr>")
	out := s.forwardUDP(t, req)
	eq(t, "results", xr(t, out), []string{"1", "sip:127.0.0.1:" + s.nhPort() + ";lr", "sip:bob@10.9.9.9",
		"udp:127.0.0.1:" + s.sport(), "1"})
	eq(t, "Route", headers(out, "Route"), []string{"<sip:127.0.0.1:" + s.nhPort() + ";lr>"})
}

func TestDoubleRouteDisabled(t *testing.T) {
	// enable_double_rr 0: r2 means nothing, only the top entry is ours to remove.
	s := start(t, lrExprs, map[string]any{"enable_double_rr": 0}, true)
	got := s.results(t, request("BYE", "sip:bob@10.9.9.9", "ft1", "tt1",
		"Route: <sip:127.0.0.1:{sport};r2=on;lr>, <sip:127.0.0.1:{tport};transport=tcp;r2=on;lr>"))
	eq(t, "results", got, []string{"1", "sip:127.0.0.1:" + s.tport() + ";transport=tcp;r2=on;lr", "sip:bob@10.9.9.9", "nil", "1"})
}

func TestForceSendSocket(t *testing.T) {
	req := request("BYE", "sip:bob@10.9.9.9", "ft1", "tt1", "Route: <sip:127.0.0.1:{tport};transport=tcp;lr>, <sip:10.1.1.1;lr>")
	s := start(t, []string{`KSR.rr.loose_route()`, `KSR.pv.get("$fs")`}, map[string]any{"force_send_socket": 1}, true)
	eq(t, "forced", s.results(t, req), []string{"1", "tcp:127.0.0.1:" + s.tport()})
	s = start(t, []string{`KSR.rr.loose_route()`, `KSR.pv.get("$fs")`}, nil, true)
	eq(t, "not forced", s.results(t, req), []string{"1", "nil"})
}

func TestRouteURIPV(t *testing.T) {
	s := start(t, []string{`KSR.pv.get("$route_uri")`}, nil, false)
	eq(t, "first", s.results(t, request("BYE", "sip:b@10.0.0.1", "a", "b", "Route: \"n\" <sip:10.0.0.3;lr>;hp=1, <sip:10.0.0.4;lr>")),
		[]string{"sip:10.0.0.3;lr"})
	eq(t, "none", s.results(t, request("BYE", "sip:b@10.0.0.1", "a", "b")), []string{"nil"})
}

// --- parameters -----------------------------------------------------------

func TestParams(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "s.lua"), []byte("function ksr_request_route() end\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		yaml string
		err  string // "" = accepted
	}{
		{`{enable_full_lr: 1, append_fromtag: 0, enable_double_rr: 2, add_username: 1, enable_socket_mismatch_warning: 0, ` +
			`custom_user_avp: "$avp(u)", force_send_socket: 1, ignore_sips: 1, sockname_mode: 1, loose_route_mode: 1}`, ""},
		{`{enable_double_rr: 3}`, "enable_double_rr"},
		{`{custom_user_avp: "$var(u)"}`, "not an AVP"},
		{`{append_from_tag: 1}`, "append_fromtag"},
	} {
		cfg, err := config.Parse([]byte("listen: [\"udp:127.0.0.1:0\"]\nlua: {load: s.lua}\nmodules:\n  rr: "+c.yaml+"\n"), dir)
		if err != nil {
			t.Fatal(err)
		}
		_, err = kemi.NewEngine(core.New(cfg, zap.NewNop()), cfg, zap.NewNop(), nil)
		if c.err == "" && err != nil || c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
			t.Errorf("%s: err %v, want %q", c.yaml, err, c.err)
		}
	}
}
