package e2e

// The Kamailio RPC commands an operator types, against bin/sbc: stream
// connections in core.tcp_list and tls.list, a pending INVITE in tm.list
// cancelled with tm.cancel, the DNS cache in dns.view, and tls.reload.
//
//	go test ./test/e2e -run TestRPC -v

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/luasbc/luasbc/core/dns/dnstest"
)

type rpcConn struct {
	Type    string `json:"type"`
	State   string `json:"state"`
	SrcPort int    `json:"src_port"`
	DstPort int    `json:"dst_port"`
	SNI     string `json:"sni"`
	Version string `json:"version"`
}

// connsByPort lists method's connections by the client's port.
func connsByPort(x *xport, method string) map[string]rpcConn {
	var list []rpcConn
	x.MustRPC(&list, method)
	out := map[string]rpcConn{}
	for _, c := range list {
		out[strconv.Itoa(c.SrcPort)] = c
	}
	return out
}

func TestRPCOperatorCommands(t *testing.T) {
	t.Parallel()
	dead := NewUDP(t) // the callee: bound, never answers
	stub := dnstest.Start(t, "callee.rpc.test. 300 IN A 127.0.0.1")
	x := startXport(t, xportOpts{Script: "bridge.lua", TLS: true,
		Replace: routes("bob", "sip:callee.rpc.test:"+portOf(dead.Addr)),
		Core:    []string{"dns_servers: [\"" + stub.Addr + "\"]"}})

	// Connections: a TCP and a TLS client, each proven by an OPTIONS.
	tc := DialTCP(t, x.Addr)
	if r, err := tc.Exchange(NewReq(optionsTmpl, tc.Addr, x.Addr, "TCP"), 3*time.Second); err != nil || r.Code != 200 {
		t.Fatalf("OPTIONS over TCP: %v %v", r, err)
	}
	sc := x.DialTLS(t, "sbc.test")
	if r, err := sc.Exchange(NewReq(optionsTmpl, sc.Addr, x.TLSAddr, "TLS"), 3*time.Second); err != nil || r.Code != 200 {
		t.Fatalf("OPTIONS over TLS: %v %v", r, err)
	}
	conns := connsByPort(x, "core.tcp_list")
	if c := conns[portOf(tc.Addr)]; c.Type != "TCP" || c.State != "established" || strconv.Itoa(c.DstPort) != portOf(x.Addr) {
		t.Errorf("TCP client in core.tcp_list: %+v (all %+v)", c, conns)
	}
	if c := conns[portOf(sc.Addr)]; c.Type != "TLS" || strconv.Itoa(c.DstPort) != portOf(x.TLSAddr) {
		t.Errorf("TLS client in core.tcp_list: %+v (all %+v)", c, conns)
	}
	secure := connsByPort(x, "tls.list")
	if c := secure[portOf(sc.Addr)]; len(secure) != 1 || c.SNI != "sbc.test" || !strings.HasPrefix(c.Version, "TLS 1.") {
		t.Errorf("tls.list %+v", secure)
	}

	// A pending INVITE: listed, then cancelled by the operator.
	caller := NewUDP(t)
	r := NewReq(strings.ReplaceAll(dnsInvite, "{host}", "rpc.test"), caller.Addr, x.Addr, "UDP")
	caller.Send(x.Addr, []byte(r.Text))
	if in, err := dead.RecvFor(r.CallID, 3*time.Second); err != nil || in.Method != "INVITE" {
		t.Fatalf("callee: %v %v\n%s", in, err, tail(x.Logs(), 2000))
	}
	var trans []struct {
		CallID string `json:"callid"`
		Method string `json:"method"`
		State  string `json:"state"`
	}
	x.MustRPC(&trans, "tm.list")
	found := false
	for _, e := range trans {
		found = found || e.CallID == r.CallID && e.Method == "INVITE" && e.State == "proceeding"
	}
	if !found {
		t.Errorf("pending INVITE %s not in tm.list: %+v", r.CallID, trans)
	}
	x.MustRPC(nil, "tm.cancel", r.CallID, "1")
	if m, seen, err := recvUntil(caller, r.CallID, 3*time.Second, func(m *Msg) bool { return m.Code >= 200 }); err != nil || m.Code != 487 {
		t.Errorf("caller after tm.cancel: %v %v (seen %q)", m, err, seen)
	}

	// The callee's name was resolved through the stub: it is in the cache.
	var view []struct {
		Name    string   `json:"name"`
		Type    string   `json:"type"`
		TTL     int      `json:"ttl"`
		Records []string `json:"records"`
	}
	x.MustRPC(&view, "dns.view")
	found = false
	for _, v := range view {
		found = found || v.Name == "callee.rpc.test." && v.Type == "A" && v.TTL > 0 && v.TTL <= 300 && len(v.Records) == 1
	}
	if !found {
		t.Errorf("callee.rpc.test not in dns.view: %+v", view)
	}

	// tls.reload: a new pair is served to new handshakes; a broken pair is
	// refused and the previous one kept.
	dial := func() (*TCPClient, string) {
		c := x.DialTLS(t, "sbc.test")
		return c, c.Conn.(*tls.Conn).ConnectionState().PeerCertificates[0].Subject.CommonName
	}
	x.CA.Issue(t, x.Dir, "sbc", "reloaded.sbc.test", "127.0.0.1", "sbc.test")
	x.MustRPC(nil, "tls.reload")
	if _, got := dial(); got != "reloaded.sbc.test" {
		t.Errorf("certificate after tls.reload: %s", got)
	}
	if err := os.WriteFile(filepath.Join(x.Dir, "sbc.key"), []byte("-----BEGIN EC PRIVATE KEY-----\nbroken\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, rerr := x.RPC("tls.reload"); rerr == nil || rerr.Code != 500 {
		t.Errorf("tls.reload with a broken key: %v", rerr)
	}
	again, got := dial()
	if got != "reloaded.sbc.test" {
		t.Errorf("certificate after a failed reload: %s", got)
	}
	if r, err := again.Exchange(NewReq(optionsTmpl, again.Addr, x.TLSAddr, "TLS"), 3*time.Second); err != nil || r.Code != 200 {
		t.Errorf("OPTIONS after a failed reload: %v %v", r, err)
	}
}
