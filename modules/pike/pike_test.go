package pike_test

import (
	"context"
	"encoding/json"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"

	"github.com/luasbc/luasbc/core/rpc"
	"github.com/luasbc/luasbc/core/stats"
	"github.com/luasbc/luasbc/kemi"
	"github.com/luasbc/luasbc/kemi/kemitest"
	_ "github.com/luasbc/luasbc/modules/pike"
	_ "github.com/luasbc/luasbc/modules/sl"
)

// The script answers every request with the return code of the check in
// the reason phrase: pike_check_ip on the X-IP header when there is one,
// pike_check_req otherwise.
const script = `
function ksr_request_route()
	local ip = KSR.hdr.get("X-IP")
	local rc
	if ip then
		rc = KSR.pike.pike_check_ip(ip)
	else
		rc = KSR.pike.pike_check_req()
	end
	KSR.sl.sl_send_reply(200, "rc=" .. rc)
end
`

// Timing: units of 1 s, 5 requests allowed per unit. Every flood below
// sends 16 requests within a few milliseconds: even when a unit boundary
// falls inside it, one of the two units gets more than 5.
const (
	density = 5
	flood   = 3*density + 1
)

func start(t *testing.T, extra map[string]any) *kemitest.Harness {
	t.Helper()
	cfg := map[string]any{"sampling_time_unit": 1, "reqs_density_per_unit": density, "remove_latency": 2}
	for k, v := range extra {
		cfg[k] = v
	}
	return kemitest.New(t, script, kemitest.Options{Modules: map[string]map[string]any{"sl": nil, "pike": cfg}})
}

// client is a UDP socket on a chosen loopback address, so that requests
// come from a source that is not one of the server's addresses.
type client struct {
	t    *testing.T
	h    *kemitest.Harness
	conn *net.UDPConn
}

func newClient(t *testing.T, h *kemitest.Harness, addr string) *client {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(addr)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return &client{t: t, h: h, conn: conn}
}

// check sends one OPTIONS (with X-IP when ip is set) and returns the code
// the script put in the reply.
func (c *client) check(ip string) int {
	c.t.Helper()
	var extra []string
	if ip != "" {
		extra = append(extra, "X-IP: "+ip)
	}
	raw := kemitest.Request("OPTIONS", "sip:127.0.0.1:{sport}", extra...)
	port := strconv.Itoa(c.conn.LocalAddr().(*net.UDPAddr).Port)
	raw = strings.ReplaceAll(raw, "127.0.0.1:{cport}", c.conn.LocalAddr().(*net.UDPAddr).IP.String()+":"+port)
	if _, err := c.conn.WriteToUDP([]byte(c.h.Expand(raw)), c.h.Addr); err != nil {
		c.t.Fatal(err)
	}
	_ = c.conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 65536)
	n, _, err := c.conn.ReadFromUDP(buf)
	if err != nil {
		c.t.Fatalf("no reply: %v", err)
	}
	return replyCode(c.t, string(buf[:n]))
}

func replyCode(t *testing.T, reply string) int {
	t.Helper()
	line, _, _ := strings.Cut(reply, "\r\n")
	_, rc, ok := strings.Cut(line, " 200 rc=")
	n, err := strconv.Atoi(rc)
	if !ok || err != nil {
		t.Fatalf("unexpected reply %q", line)
	}
	return n
}

// floodCodes sends a flood and checks the sequence of codes: 1 until the
// source passes the limit, one -2, then -1.
func floodCodes(t *testing.T, c *client, ip string) {
	t.Helper()
	floodFrom(t, c, ip, func(int) string { return ip })
}

// floodFrom is floodCodes with the address of request i given by addr.
func floodFrom(t *testing.T, c *client, ip string, addr func(i int) string) {
	t.Helper()
	var codes []int
	for i := 0; i < flood; i++ {
		codes = append(codes, c.check(addr(i)))
	}
	phase := 1
	for _, rc := range codes {
		switch {
		case rc == phase:
		case phase == 1 && rc == -2:
			phase = -1
		default:
			t.Fatalf("codes for %s: %v", ip, codes)
		}
	}
	if phase != -1 {
		t.Fatalf("%s never blocked: %v", ip, codes)
	}
}

func countLogs(h *kemitest.Harness, prefix, ip string) int {
	n := 0
	for _, e := range h.Logs.All() {
		if !strings.HasPrefix(e.Message, prefix) {
			continue
		}
		for _, f := range e.Context {
			if f.Key == "ip" && f.String == ip {
				n++
			}
		}
	}
	return n
}

func TestFloodIsBlockedOtherSourcesAreNot(t *testing.T) {
	blocksBefore := stats.Lookup("pike:blocks")
	h := start(t, nil)
	c := newClient(t, h, "127.0.0.1")
	floodCodes(t, c, "192.0.2.1")
	for i := 0; i < 3; i++ {
		if rc := c.check("192.0.2.2"); rc != 1 {
			t.Fatalf("quiet source got %d", rc)
		}
	}
	// Still blocked: the flood's unit, or the one right after it.
	if rc := c.check("192.0.2.1"); rc != -1 {
		t.Fatalf("flooding source got %d after the flood", rc)
	}
	if n := countLogs(h, "pike: blocking IP 192.0.2.1 (6 requests in 1s)", "192.0.2.1"); n != 1 {
		t.Fatalf("%d block log lines, want 1", n)
	}
	for _, e := range h.Logs.FilterMessageSnippet("pike: blocking IP").All() {
		if e.Level != zapcore.WarnLevel {
			t.Errorf("block line at %v, want warn (pike_log_level 0 = L_WARN)", e.Level)
		}
	}
	if got := stats.Lookup("pike:blocks") - blocksBefore; got != 1 {
		t.Errorf("pike:blocks grew by %d", got)
	}
	if got := stats.Lookup("pike:blocked_ips"); got != 1 {
		t.Errorf("pike:blocked_ips = %d", got)
	}
}

func TestLogLevel(t *testing.T) {
	h := start(t, map[string]any{"pike_log_level": -1})
	floodCodes(t, newClient(t, h, "127.0.0.1"), "192.0.2.3")
	lines := h.Logs.FilterMessageSnippet("pike: blocking IP 192.0.2.3").All()
	if len(lines) != 1 || lines[0].Level != zapcore.ErrorLevel {
		t.Fatalf("block lines with pike_log_level -1: %v", lines)
	}
}

func TestInvalidAddress(t *testing.T) {
	h := start(t, nil)
	c := newClient(t, h, "127.0.0.1")
	for _, bad := range []string{"not-an-ip", "192.0.2.1:5060", "192.0.2.0/24"} {
		if rc := c.check(bad); rc != -1 {
			t.Errorf("pike_check_ip(%q) = %d, want -1", bad, rc)
		}
	}
	if !h.LogContains("pike_check_ip: not an IP address") {
		t.Error("no error logged")
	}
	if rc := c.check("[2001:db8::5]"); rc != 1 {
		t.Errorf("bracketed IPv6: %d", rc)
	}
}

// pike_check_req counts the real source address, and never one of ours:
// the harness listens on 127.0.0.1, so that source is never blocked,
// neither by pike_check_req nor by pike_check_ip.
func TestOwnAddressesAreNeverBlocked(t *testing.T) {
	h := start(t, nil)
	own := newClient(t, h, "127.0.0.1")
	for i := 0; i < flood; i++ {
		if rc := own.check(""); rc != 1 {
			t.Fatalf("request %d from our own address: %d", i, rc)
		}
		if rc := own.check("127.0.0.1"); rc != 1 {
			t.Fatalf("pike_check_ip of our own address: %d", rc)
		}
	}
	floodCodes(t, newClient(t, h, "127.0.0.2"), "")
	if countLogs(h, "pike: blocking IP", "127.0.0.2") != 1 || countLogs(h, "pike: blocking IP", "127.0.0.1") != 0 {
		t.Fatal("wrong block log lines")
	}
}

// A blocked source that stops is released at the latest two units after
// its last request, and forgotten remove_latency after it.
func TestReleasedAfterItStops(t *testing.T) {
	h := start(t, nil)
	c := newClient(t, h, "127.0.0.1")
	floodCodes(t, c, "198.51.100.9")
	if rows := top(t, h, "ALL"); len(rows) != 1 {
		t.Fatalf("pike.top ALL: %v", rows)
	}
	// 2 units + remove_latency (2 s) + the 1 s sweep + margin.
	deadline := time.Now().Add(6 * time.Second)
	for len(top(t, h, "ALL")) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("still tracked: %v", top(t, h, "ALL"))
		}
		time.Sleep(200 * time.Millisecond)
	}
	if countLogs(h, "pike: unblocking IP 198.51.100.9", "198.51.100.9") != 1 {
		t.Fatal("no release log line")
	}
	if got := stats.Lookup("pike:blocked_ips"); got != 0 {
		t.Errorf("pike:blocked_ips = %d after the release", got)
	}
	if rc := c.check("198.51.100.9"); rc != 1 {
		t.Fatalf("after release: %d", rc)
	}
	// Blocking again is a new event with its own log line.
	floodCodes(t, c, "198.51.100.9")
	if n := countLogs(h, "pike: blocking IP", "198.51.100.9"); n != 2 {
		t.Fatalf("%d block lines, want 2", n)
	}
}

func TestIPv6SourcesAggregatedPerPrefix(t *testing.T) {
	h := start(t, map[string]any{"ipv6_prefix_len": 64})
	c := newClient(t, h, "127.0.0.1")
	floodFrom(t, c, "2001:db8:1:2::/64", func(i int) string { return "2001:db8:1:2::" + strconv.FormatInt(int64(i+1), 16) })
	if rc := c.check("2001:db8:1:3::1"); rc != 1 {
		t.Fatalf("neighbouring /64: %d", rc)
	}
	rows := top(t, h, "")
	if len(rows) != 1 || rows[0]["ip_addr"] != "2001:db8:1:2::/64" {
		t.Fatalf("pike.top: %v", rows)
	}
	if countLogs(h, "pike: blocking IP 2001:db8:1:2::/64 (", "2001:db8:1:2::/64") != 1 {
		t.Fatal("no block line for the prefix")
	}
}

func TestTopRPC(t *testing.T) {
	h := start(t, nil)
	c := newClient(t, h, "127.0.0.1")
	floodCodes(t, c, "192.0.2.66")
	c.check("192.0.2.77")
	res := topRaw(t, h, "pike.top")
	if res["max_hits"] != float64(density) || res["number_of_rows"] != float64(1) {
		t.Fatalf("pike.top: %v", res)
	}
	row := res["list"].([]any)[0].(map[string]any)
	if row["ip_addr"] != "192.0.2.66" || row["status"] != "HOT" {
		t.Fatalf("hot row: %v", row)
	}
	if hits := row["leaf_hits_prev"].(float64) + row["leaf_hits_curr"].(float64); hits != flood {
		t.Fatalf("hits %v, want %d", hits, flood)
	}
	if exp := row["expires"].(float64); exp < 1 || exp > 2 {
		t.Fatalf("expires %v", exp)
	}
	all := top(t, h, "ALL")
	if len(all) != 2 || all[0]["ip_addr"] != "192.0.2.66" || all[1]["ip_addr"] != "192.0.2.77" || all[1]["status"] != "WARM" {
		t.Fatalf("ALL: %v", all)
	}
	if list := topRaw(t, h, "pike.list", "HOT"); list["number_of_rows"] != float64(1) {
		t.Fatalf("pike.list: %v", list)
	}
	// WARM: a quarter of the limit (5/4 = 1 request) but not over it.
	if warm := top(t, h, "warm"); len(warm) != 1 || warm[0]["ip_addr"] != "192.0.2.77" {
		t.Fatalf("WARM: %v", warm)
	}
	_, err := h.RPC.Call(context.Background(), "pike.top", rpc.Params{json.RawMessage(`"COLD"`)})
	if err == nil || err.Code != 500 {
		t.Fatalf("bad filter: %v", err)
	}
}

func topRaw(t *testing.T, h *kemitest.Harness, method string, args ...string) map[string]any {
	t.Helper()
	var p rpc.Params
	for _, a := range args {
		p = append(p, json.RawMessage(strconv.Quote(a)))
	}
	res, rerr := h.RPC.Call(context.Background(), method, p)
	if rerr != nil {
		t.Fatalf("%s: %v", method, rerr)
	}
	b, _ := json.Marshal(res)
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func top(t *testing.T, h *kemitest.Harness, filter string) []map[string]any {
	t.Helper()
	var args []string
	if filter != "" {
		args = append(args, filter)
	}
	var rows []map[string]any
	for _, r := range topRaw(t, h, "pike.top", args...)["list"].([]any) {
		rows = append(rows, r.(map[string]any))
	}
	return rows
}

func TestParameters(t *testing.T) {
	def := kemi.LookupModule("pike")
	for name, bad := range map[string]any{
		"sampling_time_unit": 0, "reqs_density_per_unit": 0, "remove_latency": -1,
		"ipv6_prefix_len": 129, "max_tracked_ips": 0,
	} {
		params, _, err := kemi.ValidateParams(def, map[string]any{name: bad})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := def.New(&kemi.Env{Params: params}); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s=%v: error %v", name, bad, err)
		}
	}
	// check_route is OpenSIPS's, not Kamailio's: refused like any unknown name.
	if _, _, err := kemi.ValidateParams(def, map[string]any{"check_route": "pike"}); err == nil {
		t.Fatal("check_route accepted")
	}
	if _, _, err := kemi.ValidateParams(def, map[string]any{"reqs_density": 3}); err == nil ||
		!strings.Contains(err.Error(), "reqs_density_per_unit") {
		t.Fatalf("unknown name: %v", err)
	}
}
