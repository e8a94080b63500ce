package tm_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/luasbc/luasbc/core/rpc"
	"github.com/luasbc/luasbc/kemi/kemitest"
	_ "github.com/luasbc/luasbc/modules/corex"
	_ "github.com/luasbc/luasbc/modules/sl"
	_ "github.com/luasbc/luasbc/modules/tm"
)

// peer is a UDP endpoint playing caller or callee.
type peer struct {
	t    *testing.T
	conn *net.UDPConn
}

func newPeer(t *testing.T) *peer {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &peer{t: t, conn: c}
}

func (p *peer) port() int { return p.conn.LocalAddr().(*net.UDPAddr).Port }

func (p *peer) send(to *net.UDPAddr, raw string) {
	p.t.Helper()
	raw = strings.ReplaceAll(strings.ReplaceAll(raw, "\r\n", "\n"), "\n", "\r\n")
	if _, err := p.conn.WriteToUDP([]byte(raw), to); err != nil {
		p.t.Fatal(err)
	}
}

// recv returns the next message and its source, skipping those for which
// skip is true; "" on timeout.
func (p *peer) recv(d time.Duration, skip func(string) bool) (string, *net.UDPAddr) {
	deadline := time.Now().Add(d)
	buf := make([]byte, 65536)
	for {
		_ = p.conn.SetReadDeadline(deadline)
		n, from, err := p.conn.ReadFromUDP(buf)
		if err != nil {
			return "", nil
		}
		s := string(buf[:n])
		if skip != nil && skip(s) {
			continue
		}
		return s, from
	}
}

// expect waits for a message starting with prefix (e.g. "SIP/2.0 180",
// "INVITE ") and fails the test otherwise; retransmissions and other
// messages before it are skipped.
func (p *peer) expect(prefix string, d time.Duration) (string, *net.UDPAddr) {
	p.t.Helper()
	deadline := time.Now().Add(d)
	for {
		m, from := p.recv(time.Until(deadline), nil)
		if m == "" {
			p.t.Fatalf("peer %d: no %q within %v", p.port(), prefix, d)
		}
		if strings.HasPrefix(m, prefix) {
			return m, from
		}
	}
}

// nothing fails if a message starting with prefix arrives within d.
func (p *peer) nothing(prefix string, d time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(d)
	for {
		m, _ := p.recv(time.Until(deadline), nil)
		if m == "" {
			return
		}
		if strings.HasPrefix(m, prefix) {
			p.t.Fatalf("peer %d: unexpected %q", p.port(), firstLine(m))
		}
	}
}

func firstLine(m string) string {
	l, _, _ := strings.Cut(m, "\r\n")
	return l
}

// header returns the first value of header name in m.
func header(m, name string) string {
	for _, l := range strings.Split(m, "\r\n")[1:] {
		if l == "" {
			break
		}
		n, v, ok := strings.Cut(l, ":")
		if ok && strings.EqualFold(strings.TrimSpace(n), name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func headers(m, name string) []string {
	var out []string
	for _, l := range strings.Split(m, "\r\n")[1:] {
		if l == "" {
			break
		}
		n, v, ok := strings.Cut(l, ":")
		if ok && strings.EqualFold(strings.TrimSpace(n), name) {
			out = append(out, strings.TrimSpace(v))
		}
	}
	return out
}

// reply builds a reply to request req as a UAS would: Vias, From, To (+tag),
// Call-ID and CSeq copied.
func reply(req string, code int, reason, toTag string, extra ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "SIP/2.0 %d %s\n", code, reason)
	for _, v := range headers(req, "Via") {
		b.WriteString("Via: " + v + "\n")
	}
	b.WriteString("From: " + header(req, "From") + "\n")
	to := header(req, "To")
	if toTag != "" && !strings.Contains(to, "tag=") {
		to += ";tag=" + toTag
	}
	b.WriteString("To: " + to + "\n")
	b.WriteString("Call-ID: " + header(req, "Call-ID") + "\n")
	b.WriteString("CSeq: " + header(req, "CSeq") + "\n")
	for _, e := range extra {
		b.WriteString(e + "\n")
	}
	b.WriteString("Content-Length: 0\n\n")
	return b.String()
}

// invite is an INVITE from caller c through the proxy to user.
func invite(c *peer, user string, sport int, branch, callid string) string {
	return fmt.Sprintf(`INVITE sip:%s@127.0.0.1:%d SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:%d;branch=%s;rport
From: <sip:alice@example.com>;tag=caller1
To: <sip:%s@example.com>
Call-ID: %s
CSeq: 1 INVITE
Contact: <sip:alice@127.0.0.1:%d>
Max-Forwards: 70
Content-Length: 0

`, user, sport, c.port(), branch, user, callid, c.port())
}

// proxyScript routes by R-URI user: "b1" to callee 1, "b2" to callee 2,
// "par" to both in parallel, "ser" to callee 1 with failover to callee 2,
// "dead" to a port nobody answers.
const proxyScript = `
function ksr_request_route()
	if KSR.is_CANCEL() then
		if KSR.tm.t_check_trans() > 0 then KSR.tm.t_relay() else KSR.sl.sl_send_reply(481, "Call/Transaction Does Not Exist") end
		return
	end
	if KSR.is_ACK() then
		if KSR.tm.t_check_trans() > 0 then KSR.tm.t_relay() end
		return
	end
	if KSR.tm.t_check_trans() == 0 then return end
	local user = KSR.pv.get("$rU")
	if user == "b1" then
		KSR.pv.sets("$du", "sip:127.0.0.1:CALLEE1")
	elseif user == "b2" then
		KSR.pv.sets("$du", "sip:127.0.0.1:CALLEE2")
	elseif user == "par" then
		KSR.pv.sets("$ru", "sip:par@127.0.0.1:CALLEE1")
		KSR.corex.append_branch_uri("sip:par@127.0.0.1:CALLEE2")
	elseif user == "ser" then
		KSR.pv.sets("$du", "sip:127.0.0.1:CALLEE1")
		KSR.tm.t_on_failure("failover")
	elseif user == "newtran" then
		-- state set between t_newtran and t_relay must reach the failure route
		KSR.tm.t_newtran()
		KSR.setflag(7)
		KSR.pv.sets("$avp(next)", "sip:127.0.0.1:CALLEE2")
		KSR.pv.sets("$du", "sip:127.0.0.1:CALLEE1")
		KSR.tm.t_on_failure("failover_saved")
	elseif user == "dead" then
		KSR.pv.sets("$du", "sip:127.0.0.1:DEADPORT")
	end
	if KSR.tm.t_relay() < 0 then KSR.sl.sl_reply_error() end
end

function failover()
	if KSR.tm.t_is_canceled() > 0 then return end
	if KSR.tm.t_check_status("5[0-9][0-9]") > 0 or KSR.tm.t_branch_timeout() > 0 then
		KSR.pv.sets("$du", "sip:127.0.0.1:CALLEE2")
		KSR.tm.t_relay()
	end
end

function failover_saved()
	if KSR.isflagset(7) and KSR.pv.get("$avp(next)") then
		KSR.pv.sets("$du", KSR.pv.get("$avp(next)"))
		KSR.tm.t_relay()
	end
end
`

type setup struct {
	h              *kemitest.Harness
	caller         *peer
	callee1, c2    *peer
	srv            *net.UDPAddr
	dead           int
	branch, callid string
}

func start(t *testing.T, tmParams map[string]any) *setup {
	t.Helper()
	s := &setup{caller: newPeer(t), callee1: newPeer(t), c2: newPeer(t)}
	deadPeer := newPeer(t) // bound but silent
	s.dead = deadPeer.port()
	script := strings.NewReplacer("CALLEE1", fmt.Sprint(s.callee1.port()), "CALLEE2", fmt.Sprint(s.c2.port()),
		"DEADPORT", fmt.Sprint(s.dead)).Replace(proxyScript)
	if tmParams == nil {
		tmParams = map[string]any{}
	}
	if _, ok := tmParams["wt_timer"]; !ok {
		tmParams["wt_timer"] = 300
	}
	s.h = kemitest.New(t, script, kemitest.Options{Modules: map[string]map[string]any{"sl": nil, "tm": tmParams, "corex": nil}})
	s.srv = s.h.Addr
	s.branch = fmt.Sprintf("z9hG4bK-%d", time.Now().UnixNano())
	s.callid = fmt.Sprintf("call-%d@test", time.Now().UnixNano())
	return s
}

func (s *setup) current() string {
	v, _ := s.h.RPC.Call(context.Background(), "stats.get_statistics", rpc.Params{json.RawMessage(`"tm:current"`)})
	return fmt.Sprint(v)
}

// waitEmpty waits until no transaction is left.
func (s *setup) waitEmpty(t *testing.T, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if strings.Contains(s.current(), "tm:current = 0") {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Errorf("transactions left after %v: %s", d, s.current())
}

func TestSuccessfulCall(t *testing.T) {
	s := start(t, nil)
	s.caller.send(s.srv, invite(s.caller, "b1", s.srv.Port, s.branch, s.callid))
	trying, _ := s.caller.expect("SIP/2.0 100", time.Second)
	if !strings.Contains(header(trying, "Via"), s.branch) {
		t.Errorf("100 Trying has the wrong Via: %q", header(trying, "Via"))
	}
	inv, from := s.callee1.expect("INVITE ", time.Second)
	vias := headers(inv, "Via")
	if len(vias) != 2 || !strings.Contains(vias[0], "branch=z9hG4bKtm") || !strings.Contains(vias[1], s.branch) {
		t.Fatalf("callee got Vias %q", vias)
	}
	if mf := header(inv, "Max-Forwards"); mf != "69" {
		t.Errorf("Max-Forwards %q, want 69", mf)
	}
	s.callee1.send(from, reply(inv, 180, "Ringing", "callee1"))
	ring, _ := s.caller.expect("SIP/2.0 180", time.Second)
	if v := headers(ring, "Via"); len(v) != 1 || !strings.Contains(v[0], s.branch) {
		t.Errorf("180 relayed with Vias %q", v)
	}
	s.callee1.send(from, reply(inv, 200, "OK", "callee1"))
	ok, _ := s.caller.expect("SIP/2.0 200", time.Second)
	if !strings.Contains(header(ok, "To"), "tag=callee1") {
		t.Errorf("200 To: %q", header(ok, "To"))
	}
	// A retransmitted 200 goes through as well (end to end).
	s.callee1.send(from, reply(inv, 200, "OK", "callee1"))
	s.caller.expect("SIP/2.0 200", time.Second)
	s.waitEmpty(t, 2*time.Second)
}

func TestBusyIsRelayedAndACKedHopByHop(t *testing.T) {
	s := start(t, nil)
	s.caller.send(s.srv, invite(s.caller, "b1", s.srv.Port, s.branch, s.callid))
	inv, from := s.callee1.expect("INVITE ", time.Second)
	s.callee1.send(from, reply(inv, 486, "Busy Here", "callee1"))
	ack, _ := s.callee1.expect("ACK ", time.Second)
	if header(ack, "Via") != headers(inv, "Via")[0] {
		t.Errorf("hop-by-hop ACK Via %q, INVITE Via %q", header(ack, "Via"), headers(inv, "Via")[0])
	}
	if !strings.Contains(header(ack, "To"), "tag=callee1") || !strings.HasPrefix(header(ack, "CSeq"), "1 ACK") {
		t.Errorf("ACK To %q CSeq %q", header(ack, "To"), header(ack, "CSeq"))
	}
	busy, _ := s.caller.expect("SIP/2.0 486", time.Second)
	// The caller's ACK ends the transaction at the proxy; it is not relayed.
	s.caller.send(s.srv, fmt.Sprintf(`ACK sip:b1@127.0.0.1:%d SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:%d;branch=%s;rport
From: <sip:alice@example.com>;tag=caller1
To: %s
Call-ID: %s
CSeq: 1 ACK
Max-Forwards: 70
Content-Length: 0

`, s.srv.Port, s.caller.port(), s.branch, header(busy, "To"), s.callid))
	s.callee1.nothing("ACK ", 400*time.Millisecond)
	s.caller.nothing("SIP/2.0 486", 800*time.Millisecond) // no Timer G retransmission after the ACK
	s.waitEmpty(t, 2*time.Second)
}

func TestTimeoutGives408(t *testing.T) {
	s := start(t, map[string]any{"fr_timer": 1200, "retr_timer1": 200, "retr_timer2": 800})
	s.caller.send(s.srv, invite(s.caller, "dead", s.srv.Port, s.branch, s.callid))
	s.caller.expect("SIP/2.0 100", time.Second)
	start := time.Now()
	r, _ := s.caller.expect("SIP/2.0 408", 3*time.Second)
	if el := time.Since(start); el < 900*time.Millisecond {
		t.Errorf("408 after %v, before fr_timer", el)
	}
	if !strings.Contains(header(r, "To"), "tag=lsbt.") {
		t.Errorf("local 408 To %q lacks tm's tag", header(r, "To"))
	}
}

func TestRetransmittedInviteIsAbsorbed(t *testing.T) {
	s := start(t, nil)
	req := invite(s.caller, "b1", s.srv.Port, s.branch, s.callid)
	s.caller.send(s.srv, req)
	inv, from := s.callee1.expect("INVITE ", time.Second)
	s.callee1.send(from, reply(inv, 180, "Ringing", "callee1"))
	s.caller.expect("SIP/2.0 180", time.Second)
	s.caller.send(s.srv, req) // retransmission: answered with the last reply
	s.caller.expect("SIP/2.0 180", time.Second)
	s.callee1.nothing("INVITE ", 300*time.Millisecond)
	s.callee1.send(from, reply(inv, 200, "OK", "callee1"))
	s.caller.expect("SIP/2.0 200", time.Second)
}

func TestCancelAfterRinging(t *testing.T) {
	s := start(t, nil)
	s.caller.send(s.srv, invite(s.caller, "b1", s.srv.Port, s.branch, s.callid))
	inv, from := s.callee1.expect("INVITE ", time.Second)
	s.callee1.send(from, reply(inv, 180, "Ringing", "callee1"))
	s.caller.expect("SIP/2.0 180", time.Second)
	s.caller.send(s.srv, fmt.Sprintf(`CANCEL sip:b1@127.0.0.1:%d SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:%d;branch=%s;rport
From: <sip:alice@example.com>;tag=caller1
To: <sip:b1@example.com>
Call-ID: %s
CSeq: 1 CANCEL
Reason: SIP;cause=487;text="ORIGINATOR_CANCEL"
Max-Forwards: 70
Content-Length: 0

`, s.srv.Port, s.caller.port(), s.branch, s.callid))
	s.caller.expect("SIP/2.0 200", time.Second)
	cancel, _ := s.callee1.expect("CANCEL ", time.Second)
	if header(cancel, "Via") != headers(inv, "Via")[0] || !strings.HasPrefix(header(cancel, "CSeq"), "1 CANCEL") {
		t.Errorf("CANCEL Via %q CSeq %q", header(cancel, "Via"), header(cancel, "CSeq"))
	}
	if !strings.Contains(header(cancel, "Reason"), "ORIGINATOR_CANCEL") {
		t.Errorf("CANCEL Reason %q not copied", header(cancel, "Reason"))
	}
	s.callee1.send(from, reply(cancel, 200, "OK", "callee1"))
	s.callee1.send(from, reply(inv, 487, "Request Terminated", "callee1"))
	s.callee1.expect("ACK ", time.Second)
	s.caller.expect("SIP/2.0 487", time.Second)
}

func TestUnmatchedCancelGets481(t *testing.T) {
	s := start(t, nil)
	s.caller.send(s.srv, fmt.Sprintf(`CANCEL sip:b1@127.0.0.1:%d SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKnothing;rport
From: <sip:alice@example.com>;tag=caller1
To: <sip:b1@example.com>
Call-ID: nothing@test
CSeq: 1 CANCEL
Max-Forwards: 70
Content-Length: 0

`, s.srv.Port, s.caller.port()))
	s.caller.expect("SIP/2.0 481", time.Second)
	s.callee1.nothing("CANCEL", 300*time.Millisecond)
}

func TestSerialFailover(t *testing.T) {
	s := start(t, nil)
	s.caller.send(s.srv, invite(s.caller, "ser", s.srv.Port, s.branch, s.callid))
	inv1, from1 := s.callee1.expect("INVITE ", time.Second)
	s.callee1.send(from1, reply(inv1, 503, "Service Unavailable", "c1"))
	s.callee1.expect("ACK ", time.Second)
	inv2, from2 := s.c2.expect("INVITE ", time.Second)
	if !strings.Contains(headers(inv2, "Via")[0], ".1;") && !strings.HasSuffix(strings.Split(headers(inv2, "Via")[0], ";branch=")[1], ".1") {
		t.Errorf("second branch Via %q: want branch index 1", headers(inv2, "Via")[0])
	}
	s.c2.send(from2, reply(inv2, 200, "OK", "c2"))
	ok, _ := s.caller.expect("SIP/2.0 200", time.Second)
	if !strings.Contains(header(ok, "To"), "tag=c2") {
		t.Errorf("200 from the wrong callee: To %q", header(ok, "To"))
	}
	s.caller.nothing("SIP/2.0 503", 300*time.Millisecond)
}

// Flags and AVPs set after t_newtran, before t_relay, are the
// transaction's: the failure route sees them (Kamailio saves them into its
// copy of the request at t_relay).
func TestStateSetAfterNewtranReachesFailureRoute(t *testing.T) {
	s := start(t, nil)
	s.caller.send(s.srv, invite(s.caller, "newtran", s.srv.Port, s.branch, s.callid))
	inv1, from1 := s.callee1.expect("INVITE ", time.Second)
	s.callee1.send(from1, reply(inv1, 503, "Service Unavailable", "c1"))
	inv2, from2 := s.c2.expect("INVITE ", time.Second)
	s.c2.send(from2, reply(inv2, 200, "OK", "c2"))
	s.caller.expect("SIP/2.0 200", time.Second)
}

func TestSerialFailoverAfterTimeout(t *testing.T) {
	s := start(t, map[string]any{"fr_timer": 800})
	s.caller.send(s.srv, invite(s.caller, "ser", s.srv.Port, s.branch, s.callid))
	s.callee1.expect("INVITE ", time.Second) // and stays silent
	inv2, from2 := s.c2.expect("INVITE ", 3*time.Second)
	s.c2.send(from2, reply(inv2, 486, "Busy Here", "c2"))
	s.caller.expect("SIP/2.0 486", time.Second)
}

func TestParallelForking(t *testing.T) {
	s := start(t, nil)
	s.caller.send(s.srv, invite(s.caller, "par", s.srv.Port, s.branch, s.callid))
	inv1, from1 := s.callee1.expect("INVITE ", time.Second)
	inv2, from2 := s.c2.expect("INVITE ", time.Second)
	s.callee1.send(from1, reply(inv1, 180, "Ringing", "c1"))
	s.c2.send(from2, reply(inv2, 180, "Ringing", "c2"))
	s.caller.expect("SIP/2.0 180", time.Second)
	s.c2.send(from2, reply(inv2, 200, "OK", "c2"))
	s.caller.expect("SIP/2.0 200", time.Second)
	cancel, _ := s.callee1.expect("CANCEL ", time.Second)
	if !strings.Contains(header(cancel, "Reason"), "cause=200") {
		t.Errorf("CANCEL after 200 elsewhere has Reason %q", header(cancel, "Reason"))
	}
	s.callee1.send(from1, reply(cancel, 200, "OK", "c1"))
	s.callee1.send(from1, reply(inv1, 487, "Request Terminated", "c1"))
	s.callee1.expect("ACK ", time.Second)
	s.caller.nothing("SIP/2.0 487", 400*time.Millisecond)
	s.waitEmpty(t, 2*time.Second)
}

func TestBestReplyOfParallelBranches(t *testing.T) {
	s := start(t, nil)
	s.caller.send(s.srv, invite(s.caller, "par", s.srv.Port, s.branch, s.callid))
	inv1, from1 := s.callee1.expect("INVITE ", time.Second)
	inv2, from2 := s.c2.expect("INVITE ", time.Second)
	s.callee1.send(from1, reply(inv1, 503, "Service Unavailable", "c1"))
	s.caller.nothing("SIP/2.0 5", 300*time.Millisecond) // waits for the other branch
	s.c2.send(from2, reply(inv2, 404, "Not Found", "c2"))
	s.caller.expect("SIP/2.0 404", time.Second) // 4xx beats 5xx
}

func TestRemap503(t *testing.T) {
	s := start(t, nil)
	s.caller.send(s.srv, invite(s.caller, "b1", s.srv.Port, s.branch, s.callid))
	inv, from := s.callee1.expect("INVITE ", time.Second)
	s.callee1.send(from, reply(inv, 503, "Service Unavailable", "c1"))
	s.caller.expect("SIP/2.0 500", time.Second)
}

// tcpScript relays everything to a TCP callee.
const tcpScript = `
function ksr_request_route()
	if KSR.tm.t_check_trans() == 0 then return end
	KSR.pv.sets("$du", "sip:127.0.0.1:TCPPORT;transport=tcp")
	KSR.tm.t_on_failure("failed")
	if KSR.tm.t_relay() < 0 then KSR.sl.sl_reply_error() end
end

function failed()
	if KSR.tm.t_branch_timeout() < 0 and KSR.tm.t_branch_replied() < 0 then
		KSR.tm.t_reply(502, "Next hop gone")
	end
end

-- A reply marked X-Slow keeps its worker busy for a while before tm sees it.
function ksr_reply_route()
	if KSR.hdr.is_present("X-Slow") > 0 then
		local n = 0
		for i = 1, 3000000 do n = n + i end
	end
end
`

func startTCP(t *testing.T) (*setup, net.Listener) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	s := &setup{caller: newPeer(t)}
	script := strings.ReplaceAll(tcpScript, "TCPPORT", fmt.Sprint(ln.Addr().(*net.TCPAddr).Port))
	s.h = kemitest.New(t, script, kemitest.Options{
		Modules: map[string]map[string]any{"sl": nil, "tm": map[string]any{"fr_timer": 5000, "wt_timer": 300}},
		Extra:   `listen: ["udp:127.0.0.1:0", "tcp:127.0.0.1:0"]`})
	s.srv = s.h.Addr
	s.branch = fmt.Sprintf("z9hG4bK-%d", time.Now().UnixNano())
	s.callid = fmt.Sprintf("call-%d@test", time.Now().UnixNano())
	return s, ln
}

// readSIP reads one Content-Length framed message from a stream.
func readSIP(t *testing.T, c net.Conn) string {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	var buf []byte
	tmp := make([]byte, 4096)
	for {
		n, err := c.Read(tmp)
		buf = append(buf, tmp[:n]...)
		if i := strings.Index(string(buf), "\r\n\r\n"); i >= 0 {
			return string(buf)
		}
		if err != nil {
			t.Fatalf("reading from the proxy: %v (got %q)", err, buf)
		}
	}
}

func TestUDPCallerToTCPCallee(t *testing.T) {
	s, ln := startTCP(t)
	s.caller.send(s.srv, invite(s.caller, "bob", s.srv.Port, s.branch, s.callid))
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	inv := readSIP(t, c)
	if !strings.Contains(headers(inv, "Via")[0], "SIP/2.0/TCP") {
		t.Errorf("TCP branch Via %q", headers(inv, "Via")[0])
	}
	r := strings.ReplaceAll(strings.ReplaceAll(reply(inv, 200, "OK", "tcpcallee"), "\r\n", "\n"), "\n", "\r\n")
	if _, err := c.Write([]byte(r)); err != nil {
		t.Fatal(err)
	}
	ok, _ := s.caller.expect("SIP/2.0 200", 2*time.Second)
	if v := headers(ok, "Via"); len(v) != 1 || !strings.Contains(v[0], "SIP/2.0/UDP") {
		t.Errorf("200 relayed over UDP with Vias %q", v)
	}
}

func TestBrokenTCPConnectionFailsTheBranch(t *testing.T) {
	s, ln := startTCP(t)
	s.caller.send(s.srv, invite(s.caller, "bob", s.srv.Port, s.branch, s.callid))
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	readSIP(t, c)
	start := time.Now()
	_ = c.Close() // the callee goes away without answering
	s.caller.expect("SIP/2.0 502 Next hop gone", 2*time.Second)
	if el := time.Since(start); el > 1500*time.Millisecond {
		t.Errorf("branch failed after %v: the closed connection was not noticed", el)
	}
}

// A callee that answers and closes the connection at once: the 200 read
// before the close reaches tm before the close fails the branch, even when
// the 200 waits for its worker (here: a slow reply route).
func TestReplyBeforeCloseWins(t *testing.T) {
	s, ln := startTCP(t)
	s.caller.send(s.srv, invite(s.caller, "bob", s.srv.Port, s.branch, s.callid))
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	inv := readSIP(t, c)
	if _, err := c.Write([]byte(strings.ReplaceAll(reply(inv, 200, "OK", "b1", "X-Slow: 1"), "\n", "\r\n"))); err != nil {
		t.Fatal(err)
	}
	_ = c.Close()
	rpl, _ := s.caller.recv(3*time.Second, func(m string) bool { return strings.HasPrefix(m, "SIP/2.0 100") })
	if !strings.HasPrefix(rpl, "SIP/2.0 200") {
		t.Errorf("the caller got %q, want the callee's 200", firstLine(rpl))
	}
}

func Test6xxCancelsOtherBranches(t *testing.T) {
	s := start(t, nil)
	s.caller.send(s.srv, invite(s.caller, "par", s.srv.Port, s.branch, s.callid))
	inv1, from1 := s.callee1.expect("INVITE ", time.Second)
	inv2, from2 := s.c2.expect("INVITE ", time.Second)
	s.callee1.send(from1, reply(inv1, 180, "Ringing", "c1"))
	s.c2.send(from2, reply(inv2, 603, "Decline", "c2"))
	s.c2.expect("ACK ", time.Second)
	cancel, _ := s.callee1.expect("CANCEL ", time.Second)
	s.callee1.send(from1, reply(cancel, 200, "OK", "c1"))
	s.callee1.send(from1, reply(inv1, 487, "Request Terminated", "c1"))
	s.caller.expect("SIP/2.0 603", time.Second)
}

func TestInviteRetransmittedUntilProvisional(t *testing.T) {
	s := start(t, map[string]any{"retr_timer1": 100, "fr_timer": 2000})
	s.caller.send(s.srv, invite(s.caller, "b1", s.srv.Port, s.branch, s.callid))
	inv, from := s.callee1.expect("INVITE ", time.Second)
	again, _ := s.callee1.expect("INVITE ", 500*time.Millisecond) // Timer A
	if header(again, "Via") != header(inv, "Via") {
		t.Errorf("retransmission has another Via: %q vs %q", header(again, "Via"), header(inv, "Via"))
	}
	s.callee1.send(from, reply(inv, 180, "Ringing", "c1"))
	s.caller.expect("SIP/2.0 180", time.Second)
	s.callee1.nothing("INVITE ", 500*time.Millisecond) // Timer A stopped
}
