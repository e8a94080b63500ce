package e2e

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/luasbc/luasbc/core/dns/dnstest"
)

const dnsInvite = `INVITE sip:bob@{host} SIP/2.0
Via: SIP/2.0/UDP {me};branch={branch};rport
From: <sip:alice@example.test>;tag={tag}
To: <sip:bob@{host}>
Call-ID: {callid}
CSeq: 1 INVITE
Contact: <sip:alice@{me}>
Max-Forwards: 70
Content-Length: 0

`

func portOf(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// TestSRVFailoverUDP: the SRV record with the better priority points at a
// callee that never answers; after fr_timer the INVITE goes to the next SRV
// target (RFC 3263 §4.3), and the silent one is blocklisted so the next
// call goes to the live callee at once. Answers are cached.
func TestSRVFailoverUDP(t *testing.T) {
	t.Parallel()
	silent := NewUDP(t)
	live := NewUDP(t)
	stub := dnstest.Start(t,
		"_sip._udp.udp.test. 300 IN SRV 10 0 "+portOf(silent.Addr)+" a.udp.test.",
		"_sip._udp.udp.test. 300 IN SRV 20 0 "+portOf(live.Addr)+" b.udp.test.",
		"a.udp.test. 300 IN A 127.0.0.1",
		"b.udp.test. 300 IN A 127.0.0.1",
	)
	x := startXport(t, xportOpts{Script: "bridge.lua", Replace: routes("bob", ""),
		Modules: []string{"sl: {}", "maxfwd: {}", "siputils: {}", "tm: {fr_timer: 1000, fr_inv_timer: 20000}", "tmx: {}", "rr: {}"},
		Core:    []string{"dns_servers: [\"" + stub.Addr + "\"]"}})
	caller := NewUDP(t)
	call := func() (Req, time.Duration) {
		t.Helper()
		r := NewReq(strings.ReplaceAll(dnsInvite, "{host}", "udp.test"), caller.Addr, x.Addr, "UDP")
		start := time.Now()
		caller.Send(x.Addr, []byte(r.Text))
		in, err := live.RecvFor(r.CallID, 5*time.Second)
		if err != nil || in.Method != "INVITE" {
			t.Fatalf("live callee: %v %v\n%s", in, err, tail(x.Logs(), 3000))
		}
		took := time.Since(start)
		live.Send(x.Addr, replyFor(in, 200, "OK", "live"))
		if m, _, err := recvUntil(caller, r.CallID, 3*time.Second, func(m *Msg) bool { return m.Code >= 200 }); err != nil || m.Code != 200 {
			t.Fatalf("caller: %v %v", m, err)
		}
		return r, took
	}
	first, took := call()
	if got, err := silent.RecvFor(first.CallID, time.Second); err != nil || got.Method != "INVITE" {
		t.Fatalf("first SRV target not tried: %v %v", got, err)
	}
	if took < 900*time.Millisecond || took > 3*time.Second {
		t.Errorf("failover after %v, want about fr_timer (1s)", took)
	}
	second, took := call()
	if took > 500*time.Millisecond {
		t.Errorf("second call took %v: the silent target was not blocklisted", took)
	}
	if m, err := silent.RecvFor(second.CallID, 300*time.Millisecond); err == nil {
		t.Errorf("blocklisted target got %v", m)
	}
	if n := stub.Queries("_sip._udp.udp.test", "SRV"); n != 1 {
		t.Errorf("SRV asked %d times, want 1 (cached)", n)
	}
	if n := stub.Queries("udp.test", "NAPTR"); n != 1 {
		t.Errorf("NAPTR asked %d times, want 1 (negative answer cached)", n)
	}
	if x.Stat("dst_blocklist:blocklisted") < 1 {
		t.Error("blocklist not counted")
	}
}

// TestNAPTRFailoverTCP: NAPTR picks TCP, SRV gives a refusing server first
// and a live one second; the refusal fails over at once.
func TestNAPTRFailoverTCP(t *testing.T) {
	t.Parallel()
	refusing, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadPort := portOf(refusing.Addr().String())
	refusing.Close() // nothing listens: connections are refused
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	stub := dnstest.Start(t,
		`tcp.test. 300 IN NAPTR 10 10 "s" "SIP+D2T" "" _sip._tcp.tcp.test.`,
		`tcp.test. 300 IN NAPTR 20 10 "s" "SIP+D2U" "" _sip._udp.tcp.test.`,
		"_sip._tcp.tcp.test. 300 IN SRV 10 0 "+deadPort+" dead.tcp.test.",
		"_sip._tcp.tcp.test. 300 IN SRV 20 0 "+portOf(ln.Addr().String())+" live.tcp.test.",
		"dead.tcp.test. 300 IN A 127.0.0.1",
		"live.tcp.test. 300 IN A 127.0.0.1",
	)
	x := startXport(t, xportOpts{Script: "bridge.lua", Replace: routes("bob", ""),
		Core: []string{"dns_servers: [\"" + stub.Addr + "\"]"}})
	caller := NewUDP(t)
	r := NewReq(strings.ReplaceAll(dnsInvite, "{host}", "tcp.test"), caller.Addr, x.Addr, "UDP")
	start := time.Now()
	caller.Send(x.Addr, []byte(r.Text))
	_ = ln.(*net.TCPListener).SetDeadline(time.Now().Add(5 * time.Second))
	c, err := ln.Accept()
	if err != nil {
		t.Fatalf("live TCP callee not reached: %v\n%s", err, tail(x.Logs(), 3000))
	}
	defer c.Close()
	peer := &TCPClient{t: t, Conn: c, r: bufio.NewReader(c)}
	in, err := peer.Recv(3 * time.Second)
	if err != nil || in.Method != "INVITE" || !strings.HasPrefix(in.All("via")[0], "SIP/2.0/TCP ") {
		t.Fatalf("TCP callee: %v %v", in, err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("refusal failover took %v", d)
	}
	_ = peer.Send(replyFor(in, 200, "OK", "tcp"))
	if m, _, err := recvUntil(caller, r.CallID, 3*time.Second, func(m *Msg) bool { return m.Code >= 200 }); err != nil || m.Code != 200 {
		t.Fatalf("caller: %v %v", m, err)
	}
	if n := stub.Queries("_sip._udp.tcp.test", "SRV"); n != 0 {
		t.Errorf("UDP SRV asked %d times: the first NAPTR had targets", n)
	}
}
