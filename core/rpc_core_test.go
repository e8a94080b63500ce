package core_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/luasbc/luasbc/core/dns/dnstest"
	"github.com/luasbc/luasbc/core/msg"
	"github.com/luasbc/luasbc/core/rpc"
	"github.com/luasbc/luasbc/core/stats"
	"github.com/luasbc/luasbc/core/transport/tlstest"
	"github.com/luasbc/luasbc/kemi/kemitest"
	_ "github.com/luasbc/luasbc/modules/sl"
)

// call runs an RPC method and decodes its result as a JSON-RPC client
// would see it.
func call(t *testing.T, h *kemitest.Harness, out any, method string, args ...any) *rpc.Error {
	t.Helper()
	var p rpc.Params
	for _, a := range args {
		b, _ := json.Marshal(a)
		p = append(p, b)
	}
	res, rerr := h.RPC.Call(context.Background(), method, p)
	if rerr == nil && out != nil {
		b, _ := json.Marshal(res)
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s: %v in %s", method, err, b)
		}
	}
	return rerr
}

const okScript = `function ksr_request_route() KSR.sl.sl_send_reply(200, "OK") end`

type rpcEnv struct {
	h        *kemitest.Harness
	tcp, tls string // listener addresses
	ca       *tlstest.CA
	leaf     *tlstest.Leaf
	dir      string
}

// startRPC runs a server with UDP, TCP and TLS listeners and the DNS stub.
func startRPC(t *testing.T, records ...string) *rpcEnv {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, dir)
	leaf := ca.Issue(t, dir, "srv", "first", "127.0.0.1")
	extra := "listen: [udp:127.0.0.1:0, tcp:127.0.0.1:0, tls:127.0.0.1:0]\n" +
		"tls: [{profile: \"server:default\", certificate: " + leaf.CertFile + ", private_key: " + leaf.KeyFile + "}]\n"
	if len(records) > 0 {
		stub := dnstest.Start(t, records...)
		extra += "core: {dns_servers: [\"" + stub.Addr + "\"], dns_try_naptr: no}\n"
	}
	h := kemitest.New(t, okScript, kemitest.Options{Modules: map[string]map[string]any{"sl": nil}, Extra: extra})
	e := &rpcEnv{h: h, ca: ca, leaf: leaf, dir: dir}
	for _, s := range h.Core.TP.Sockets {
		switch s.Proto {
		case msg.TCP:
			e.tcp = s.Addr.String()
		case msg.TLS:
			e.tls = s.Addr.String()
		}
	}
	return e
}

const options = "OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/%s %s;branch=z9hG4bK-%d\r\nFrom: <sip:a@x>;tag=1\r\n" +
	"To: <sip:b@y>\r\nCall-ID: %d@rpc\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"

// ping sends an OPTIONS over c and waits for the 200, so the connection
// counts as established.
func ping(t *testing.T, c net.Conn, proto string) {
	t.Helper()
	n := time.Now().UnixNano()
	if _, err := fmt.Fprintf(c, options, proto, c.LocalAddr(), n, n); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 4096)
	k, err := c.Read(buf)
	if err != nil || !strings.HasPrefix(string(buf[:k]), "SIP/2.0 200") {
		t.Fatalf("no 200 over %s: %q %v", proto, buf[:k], err)
	}
}

type connEntry struct {
	ID      uint64 `json:"id"`
	Type    string `json:"type"`
	State   string `json:"state"`
	Timeout int    `json:"timeout"`
	SrcIP   string `json:"src_ip"`
	SrcPort int    `json:"src_port"`
	DstPort int    `json:"dst_port"`
	Cipher  string `json:"cipher"`
	Version string `json:"version"`
	SNI     string `json:"sni"`
}

func portOf(a net.Addr) int { return a.(*net.TCPAddr).Port }

func TestRPCConnections(t *testing.T) {
	e := startRPC(t)
	tc, err := net.Dial("tcp", e.tcp)
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	ping(t, tc, "TCP")
	sc, err := tls.Dial("tcp", e.tls, &tls.Config{RootCAs: e.ca.Pool, ServerName: "sbc.test", InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	ping(t, sc, "TLS")

	var list []connEntry
	if err := call(t, e.h, &list, "core.tcp_list"); err != nil {
		t.Fatal(err)
	}
	byPort := map[int]connEntry{}
	for _, c := range list {
		byPort[c.SrcPort] = c
	}
	got := byPort[portOf(tc.LocalAddr())]
	if len(list) != 2 || got.Type != "TCP" || got.State != "established" || got.SrcIP != "127.0.0.1" ||
		got.DstPort != portOf(tc.RemoteAddr()) || got.Timeout < 100 || got.Timeout > 120 {
		t.Errorf("core.tcp_list %+v", list)
	}
	if s := byPort[portOf(sc.LocalAddr())]; s.Type != "TLS" || s.State != "established" {
		t.Errorf("TLS connection in core.tcp_list: %+v", s)
	}
	var info map[string]int
	if err := call(t, e.h, &info, "core.tcp_info"); err != nil || info["opened_connections"] != 1 ||
		info["opened_tls_connections"] != 1 || info["max_connections"] <= 0 || info["readers"] <= 0 {
		t.Errorf("core.tcp_info %v %v", info, err)
	}
	if err := call(t, e.h, &list, "tls.list"); err != nil || len(list) != 1 {
		t.Fatalf("tls.list %+v %v", list, err)
	}
	if s := list[0]; s.SrcPort != portOf(sc.LocalAddr()) || s.SNI != "sbc.test" || s.Version != "TLS 1.3" || s.Cipher == "" {
		t.Errorf("tls.list entry %+v", s)
	}
	if err := call(t, e.h, &info, "tls.info"); err != nil || info["opened_connections"] != 1 {
		t.Errorf("tls.info %v %v", info, err)
	}
}

// peerCN is the common name of the certificate a new handshake sees.
func peerCN(t *testing.T, addr string) string {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].Subject.CommonName
}

func TestRPCTLSReload(t *testing.T) {
	e := startRPC(t)
	if cn := peerCN(t, e.tls); cn != "first" {
		t.Fatalf("certificate %q before reload", cn)
	}
	e.ca.Issue(t, e.dir, "srv", "second", "127.0.0.1") // same files, new pair
	var res string
	if err := call(t, e.h, &res, "tls.reload"); err != nil {
		t.Fatalf("tls.reload: %v", err)
	}
	if cn := peerCN(t, e.tls); cn != "second" {
		t.Errorf("certificate %q after reload, want second", cn)
	}
	if err := os.WriteFile(filepath.Join(e.dir, "srv.key"), []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := call(t, e.h, nil, "tls.reload"); err == nil || err.Code != 500 {
		t.Errorf("tls.reload of a broken key: %v", err)
	}
	if cn := peerCN(t, e.tls); cn != "second" {
		t.Errorf("certificate %q after a failed reload, want second kept", cn)
	}
}

func TestRPCCoreMisc(t *testing.T) {
	e := startRPC(t)
	var ps []any
	if err := call(t, e.h, &ps, "core.ps"); err != nil || len(ps) < 4 || len(ps)%2 != 0 ||
		ps[0] != float64(os.Getpid()) || ps[1] != "main process" {
		t.Errorf("core.ps %v %v", ps, err)
	}
	var mem map[string]uint64
	if err := call(t, e.h, &mem, "core.shmmem"); err != nil || mem["used"] == 0 || mem["used"] > mem["real_used"] ||
		mem["real_used"]+mem["free"] != mem["total"] || mem["max_used"] == 0 || mem["fragments"] == 0 {
		t.Errorf("core.shmmem %v %v", mem, err)
	}
	var mods []string
	if err := call(t, e.h, &mods, "core.modules"); err != nil || len(mods) != 1 || mods[0] != "sl" {
		t.Errorf("core.modules %v %v", mods, err)
	}
	var sig []string
	if err := call(t, e.h, &sig, "system.methodSignature", "stats.reset_statistics"); err != nil || len(sig) != 2 || sig[0] != "name" {
		t.Errorf("system.methodSignature %v %v", sig, err)
	}
	if err := call(t, e.h, nil, "system.methodSignature", "no.such"); err == nil || err.Code != rpc.CodeNotFound {
		t.Errorf("signature of an unknown method: %v", err)
	}
	c := stats.New("rpctest", "cleared", "test counter")
	c.Add(5)
	if err := call(t, e.h, nil, "stats.clear_statistics", "rpctest:cleared"); err != nil || c.Value() != 0 {
		t.Errorf("stats.clear_statistics: %d %v", c.Value(), err)
	}
}

type cached struct {
	Name     string   `json:"name"`
	Type     string   `json:"type"`
	TTL      int      `json:"ttl"`
	Negative bool     `json:"negative"`
	Records  []string `json:"records"`
}

func TestRPCDNS(t *testing.T) {
	e := startRPC(t, "host.rpc.test. 300 IN A 192.0.2.7")
	var res struct{ Records []string }
	if err := call(t, e.h, &res, "dns.lookup", "A", "host.rpc.test"); err != nil || len(res.Records) != 1 ||
		!strings.HasSuffix(res.Records[0], "192.0.2.7") {
		t.Fatalf("dns.lookup %v %v", res, err)
	}
	if err := call(t, e.h, nil, "dns.lookup", "A", "missing.rpc.test"); err == nil || err.Code != 404 {
		t.Errorf("dns.lookup of a missing name: %v", err)
	}
	if err := call(t, e.h, nil, "dns.lookup", "BOGUS", "host.rpc.test"); err == nil || err.Code != 500 {
		t.Errorf("dns.lookup of an unknown type: %v", err)
	}
	var view []cached
	if err := call(t, e.h, &view, "dns.view"); err != nil || len(view) != 2 {
		t.Fatalf("dns.view %+v %v", view, err)
	}
	if v := view[0]; v.Name != "host.rpc.test." || v.Type != "A" || v.TTL < 290 || v.TTL > 300 || v.Negative || len(v.Records) != 1 {
		t.Errorf("dns.view positive entry %+v", v)
	}
	if v := view[1]; v.Name != "missing.rpc.test." || !v.Negative {
		t.Errorf("dns.view negative entry %+v", v)
	}
	if err := call(t, e.h, nil, "dns.delete_all"); err != nil {
		t.Fatal(err)
	}
	if err := call(t, e.h, &view, "dns.view"); err != nil || len(view) != 0 {
		t.Errorf("dns.view after dns.delete_all: %+v %v", view, err)
	}

	e.h.Core.DNS.Blocklist().Add(msg.UDP, netip.MustParseAddrPort("192.0.2.9:5060"))
	var bl []map[string]any
	if err := call(t, e.h, &bl, "dst_blocklist.view"); err != nil || len(bl) != 1 || bl[0]["ip"] != "192.0.2.9" ||
		bl[0]["port"] != float64(5060) || bl[0]["proto"] != "udp" || bl[0]["expires"].(float64) < 50 {
		t.Errorf("dst_blocklist.view %v %v", bl, err)
	}
	if err := call(t, e.h, nil, "dst_blocklist.delete_all"); err != nil {
		t.Fatal(err)
	}
	if err := call(t, e.h, &bl, "dst_blocklist.view"); err != nil || len(bl) != 0 {
		t.Errorf("dst_blocklist.view after delete_all: %v %v", bl, err)
	}
}
