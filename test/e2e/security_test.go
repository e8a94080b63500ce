package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/luasbc/luasbc/core/backend/backendtest"
)

// Attackers and peers come from other loopback addresses: 127.0.0.1 is the
// server's own address, which the default script never bans.

// newUDPFrom opens a UDP socket on an ephemeral port of ip.
func newUDPFrom(t testing.TB, ip string) *UDPClient {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(ip)})
	if err != nil {
		t.Fatalf("bind %s (needs the 127.0.0.0/8 loopback): %v", ip, err)
	}
	t.Cleanup(func() { c.Close() })
	return &UDPClient{t: t, Conn: c, Addr: c.LocalAddr().String()}
}

// keepalive sends an OPTIONS keepalive from c and returns the reply, or nil.
func keepalive(t testing.TB, s *Server, c *UDPClient, ua string, d time.Duration) *Msg {
	t.Helper()
	req := NewReq(strings.Replace(optionsTmpl, "User-Agent: luasbc-e2e", "User-Agent: "+ua, 1), c.Addr, s.Addr, "UDP")
	r, err := c.Exchange(s.Addr, req, d)
	if err != nil {
		return nil
	}
	return r
}

// bans reads the ipban table through RPC: IP -> value (the reason).
func (s *Server) bans(t testing.TB) map[string]string {
	t.Helper()
	var slots []struct {
		Slot []struct {
			Name  string `json:"name"`
			Value any    `json:"value"`
			TTL   int64  `json:"ttl"`
		} `json:"slot"`
	}
	s.MustRPC(&slots, "htable.dump", "ipban")
	out := map[string]string{}
	for _, sl := range slots {
		for _, it := range sl.Slot {
			out[it.Name] = fmt.Sprint(it.Value)
		}
	}
	return out
}

// waitBan polls until ip is banned (with reason) on s or d passes.
func (s *Server) waitBan(t testing.TB, ip, reason string, d time.Duration) bool {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if s.bans(t)[ip] == reason {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

// sipvicious runs one sipvicious tool bound to ip against the server.
func sipvicious(t *testing.T, s *Server, ip, tool string, args ...string) string {
	t.Helper()
	bin, err := exec.LookPath(tool)
	if err != nil {
		bin, err = exec.LookPath("sipvicious_" + tool)
	}
	if err != nil {
		t.Fatalf("%s (sipvicious) not installed: run `make deps`", tool)
	}
	home := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	all := append([]string{"-b", ip, "-P", strconv.Itoa(freePorts(t, 1)), "-p", strconv.Itoa(s.Port)}, args...)
	all = append(all, "127.0.0.1")
	cmd := exec.CommandContext(ctx, bin, all...)
	cmd.Env = append(os.Environ(), "HOME="+home)
	cmd.Dir = home
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("%s did not finish in 60s:\n%s", tool, clip(string(out), 2000))
	}
	t.Logf("%s %v (%v):\n%s", tool, args, err, clip(string(out), 1500))
	return string(out)
}

// TestSipviciousIsBanned: svmap finds a device and gets the scanner's bland
// 200; its source is banned at once, so svwar and svcrack that follow learn
// nothing. The ban is listed with its reason and time left, written to the
// log in the format the shipped fail2ban filter matches, and can be lifted.
func TestSipviciousIsBanned(t *testing.T) {
	s := startDefault(t)
	const attacker = "127.0.0.2"

	// svmap's OPTIONS gets the bland 200 a scanner gets: it lists a device.
	svmap := sipvicious(t, s, attacker, "svmap")
	if !strings.Contains(svmap, s.Addr) {
		t.Errorf("svmap did not get the scanner's 200")
	}
	if !s.waitBan(t, attacker, "scanner", 2*time.Second) {
		t.Fatalf("scanner source not banned; bans %v", s.bans(t))
	}
	svwar := sipvicious(t, s, attacker, "svwar", "-e", "100-120", "-m", "INVITE")
	if strings.Contains(svwar, "| reqauth") || strings.Contains(svwar, "| noauth") {
		t.Errorf("svwar found extensions through a ban:\n%s", svwar)
	}
	// svcrack hears nothing at all; it then claims "[no password]" (no
	// challenge seen), never a cracked one.
	svcrack := sipvicious(t, s, attacker, "svcrack", "-u", "100", "-r", "1000-1010")
	for _, l := range strings.Split(svcrack, "\n") {
		if strings.HasPrefix(l, "| 100 ") && !strings.Contains(l, "[no password]") {
			t.Errorf("svcrack reported a password: %s", l)
		}
	}
	// The banned source gets nothing, not even a keepalive reply.
	if r := keepalive(t, s, newUDPFrom(t, attacker), "Linphone/5.0", 500*time.Millisecond); r != nil {
		t.Errorf("banned source got %q", r.First)
	}
	// Another source is served.
	if r := keepalive(t, s, newUDPFrom(t, "127.0.0.9"), "Linphone/5.0", replyWait); r == nil || r.Code != 200 {
		t.Errorf("innocent source not answered: %v", r)
	}

	// sbcctl lists the ban with reason and time left, and lifts it.
	ctl := filepath.Join(repoRoot, "bin", "sbcctl")
	url := fmt.Sprintf("http://127.0.0.1:%d/rpc", s.RPCPort)
	out, err := exec.Command(ctl, "--url", url, "ban", "list").CombinedOutput()
	if err != nil || !strings.Contains(string(out), attacker) || !strings.Contains(string(out), "scanner") ||
		!strings.Contains(string(out), "m") {
		t.Errorf("sbcctl ban list (%v):\n%s", err, out)
	}
	checkFail2ban(t, s.Logs(), attacker)
	if out, err := exec.Command(ctl, "--url", url, "ban", "rm", attacker).CombinedOutput(); err != nil {
		t.Fatalf("sbcctl ban rm: %v\n%s", err, out)
	}
	if r := keepalive(t, s, newUDPFrom(t, attacker), "Linphone/5.0", replyWait); r == nil || r.Code != 200 {
		t.Errorf("after ban rm the source is still ignored: %v", r)
	}
}

// checkFail2ban runs fail2ban-regex with the shipped filter over the server
// log and requires a match for ip.
func checkFail2ban(t *testing.T, logs, ip string) {
	t.Helper()
	bin, err := exec.LookPath("fail2ban-regex")
	if err != nil {
		t.Fatalf("fail2ban-regex not installed: run `make deps`")
	}
	f := filepath.Join(t.TempDir(), "sbc.log")
	if err := os.WriteFile(f, []byte(logs), 0o644); err != nil {
		t.Fatal(err)
	}
	filter := filepath.Join(repoRoot, "deploy", "fail2ban", "filter.d", "luasbc.conf")
	out, err := exec.Command(bin, "--print-all-matched", f, filter).CombinedOutput()
	if err != nil || !strings.Contains(string(out), ip) {
		t.Errorf("fail2ban-regex finds no ban of %s (%v):\n%s", ip, err, clip(string(out), 3000))
	}
}

// runSIPpFrom runs the keepalive SIPp scenario from source ip; it returns
// SIPp's exit code and the successful and failed call counts.
func runSIPpFrom(t *testing.T, s *Server, ip string, args ...string) (int, int, int) {
	t.Helper()
	dir := t.TempDir()
	base := []string{s.Addr, "-sf", testdata("sipp", "options_keepalive.xml"), "-i", ip,
		"-p", strconv.Itoa(freePorts(t, 1)), "-nostdin", "-trace_stat", "-stf", filepath.Join(dir, "stat.csv")}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sipp", append(base, args...)...)
	cmd.Dir = dir
	out, _ := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("sipp from %s did not finish:\n%s", ip, tail(string(out), 2000))
	}
	ok, failed := sippCounts(filepath.Join(dir, "stat.csv"))
	return cmd.ProcessState.ExitCode(), ok, failed
}

// sippCounts reads the cumulative successful and failed calls of a SIPp stat file.
func sippCounts(path string) (int, int) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, 0
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) < 2 {
		return 0, 0
	}
	head := strings.Split(lines[0], ";")
	last := strings.Split(lines[len(lines)-1], ";")
	get := func(name string) int {
		for i, h := range head {
			if h == name && i < len(last) {
				n, _ := strconv.Atoi(last[i])
				return n
			}
		}
		return 0
	}
	return get("SuccessfulCall(C)"), get("FailedCall(C)")
}

// TestPikeBansAFloodNotTheNeighbour: a SIPp flood from 127.0.0.2 at ten times
// pike's threshold (16 requests per 2 s unit) is banned within the sampling
// window, while a legitimate SIPp caller from 127.0.0.3 below the threshold
// keeps every call. A flood from a trusted peer (permissions group 1) is
// never banned.
func TestPikeBansAFloodNotTheNeighbour(t *testing.T) {
	dir := t.TempDir()
	addr := filepath.Join(dir, "address.list")
	// Kamailio's address file: grp, ip_addr, mask, port, tag
	if err := os.WriteFile(addr, []byte("1 127.0.0.4 32 0 trusted-peer\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mods := append([]string(nil), defaultModules...)
	for i, m := range mods {
		if strings.HasPrefix(m, "permissions:") {
			mods[i] = fmt.Sprintf("permissions: {address_file: %q}", addr)
		}
	}
	s := StartServer(t, Opts{Script: filepath.Join(repoRoot, "lua", "default.lua"), Modules: mods})

	var wg sync.WaitGroup
	var legitCode, legitOK, legitFailed, trustedOK, trustedFailed int
	start := time.Now()
	wg.Add(3)
	go func() { // 80/s for 5 s: ten times 16 per 2 s
		defer wg.Done()
		runSIPpFrom(t, s, "127.0.0.2", "-r", "80", "-m", "400", "-timeout", "20s", "-recv_timeout", "500")
	}()
	go func() { // 2/s for 8 s: a quarter of the threshold, so a SIPp catching up after a stall stays under it
		defer wg.Done()
		legitCode, legitOK, legitFailed = runSIPpFrom(t, s, "127.0.0.3", "-r", "2", "-m", "16", "-timeout", "30s",
			"-recv_timeout", "3000")
	}()
	go func() { // the trusted peer floods too, at five times the threshold
		defer wg.Done()
		_, trustedOK, trustedFailed = runSIPpFrom(t, s, "127.0.0.4", "-r", "40", "-m", "200", "-timeout", "20s",
			"-recv_timeout", "3000")
	}()
	banned := s.waitBan(t, "127.0.0.2", "flood", 6*time.Second)
	bannedAfter := time.Since(start)
	wg.Wait()
	if !banned {
		t.Fatalf("the flooding source was not banned; bans %v", s.bans(t))
	}
	// Pike decides within one or two 2 s units of the flood's start.
	if bannedAfter > 4500*time.Millisecond {
		t.Errorf("banned after %v, want within the sampling window", bannedAfter)
	}
	total := legitOK + legitFailed
	if legitCode != 0 || total == 0 || float64(legitOK) < 0.999*float64(total) {
		t.Errorf("legitimate caller: exit %d, %d ok of %d (want >= 99.9%%)", legitCode, legitOK, total)
	}
	if _, ok := s.bans(t)["127.0.0.3"]; ok {
		t.Errorf("the legitimate caller was banned")
	}
	if _, ok := s.bans(t)["127.0.0.4"]; ok || trustedFailed > 0 {
		t.Errorf("the trusted peer was banned or lost calls (%d ok, %d failed)", trustedOK, trustedFailed)
	}
	if !strings.Contains(s.Logs(), "pike: blocking IP 127.0.0.2") {
		t.Errorf("no pike log line for the flood")
	}
	checkFail2ban(t, s.Logs(), "127.0.0.2")
}

// TestBanHoldsOnEveryNode: two nodes share the ipban table through Redis; a
// scanner banned by node A is ignored by node B too.
func TestBanHoldsOnEveryNode(t *testing.T) {
	prefix := "luasbc-e2e-" + backendtest.Suffix() + ":"
	mods := append([]string(nil), defaultModules...)
	for i, m := range mods {
		if strings.HasPrefix(m, "htable:") {
			mods[i] = fmt.Sprintf(`htable: {redis_url: %q, redis_prefix: %q, htable: ["ipban=>size=8;autoexpire=300;redis=1;", "authfail=>size=8;autoexpire=600;initval=0;"]}`,
				backendtest.RedisURL(), prefix)
		}
	}
	rdb := backendtest.Redis(t)
	t.Cleanup(func() {
		ctx := context.Background()
		if keys, err := rdb.Keys(ctx, prefix+"*").Result(); err == nil && len(keys) > 0 {
			rdb.Del(ctx, keys...)
		}
	})
	script := filepath.Join(repoRoot, "lua", "default.lua")
	a := StartServer(t, Opts{Script: script, Modules: mods})
	b := StartServer(t, Opts{Script: script, Modules: mods})

	const attacker = "127.0.0.5"
	if r := keepalive(t, a, newUDPFrom(t, attacker), "friendly-scanner", replyWait); r == nil || r.Code != 200 {
		t.Fatalf("scanner got %v from node A", r)
	}
	if !a.waitBan(t, attacker, "scanner", 2*time.Second) {
		t.Fatalf("node A did not ban the scanner: %v", a.bans(t))
	}
	if r := keepalive(t, b, newUDPFrom(t, attacker), "Linphone/5.0", 700*time.Millisecond); r != nil {
		t.Errorf("node B answered a source banned on node A: %q", r.First)
	}
	if got := b.bans(t)[attacker]; got != "scanner" {
		t.Errorf("node B's ipban shows %q for the attacker", got)
	}
	if r := keepalive(t, b, newUDPFrom(t, "127.0.0.6"), "Linphone/5.0", replyWait); r == nil || r.Code != 200 {
		t.Errorf("node B does not serve an innocent source: %v", r)
	}
}

// TestSecfilterLists: a User-Agent on secfilter's block list is treated as a
// scanner and banned; a SQL injection in the From display name gets 403.
func TestSecfilterLists(t *testing.T) {
	dir := t.TempDir()
	// Kamailio's db_text table: id(int) action(int) type(int) data(str); action 0 = block, type 0 = UA, 3 = IP
	table := "id(int) action(int) type(int) data(str)\n1:0:0:evilcorp-dialer\n2:0:3:127.0.0.8\n"
	if err := os.WriteFile(filepath.Join(dir, "secfilter"), []byte(table), 0o644); err != nil {
		t.Fatal(err)
	}
	mods := append(append([]string(nil), defaultModules...), fmt.Sprintf("secfilter: {db_url: %q}", "text://"+dir))
	s := StartServer(t, Opts{Script: filepath.Join(repoRoot, "lua", "default.lua"), Modules: mods})

	if r := keepalive(t, s, newUDPFrom(t, "127.0.0.7"), "EvilCorp-Dialer/2.1", replyWait); r == nil || r.Code != 200 {
		t.Fatalf("blocklisted UA got %v, want the scanner's 200", r)
	}
	if !s.waitBan(t, "127.0.0.7", "scanner", 2*time.Second) {
		t.Errorf("blocklisted UA not banned: %v", s.bans(t))
	}
	if r := keepalive(t, s, newUDPFrom(t, "127.0.0.8"), "Linphone/5.0", 500*time.Millisecond); r != nil {
		t.Errorf("blocklisted IP got %q", r.First)
	}
	if !s.waitBan(t, "127.0.0.8", "blocklist", 2*time.Second) {
		t.Errorf("blocklisted IP not banned: %v", s.bans(t))
	}
	c := newUDPFrom(t, "127.0.0.9")
	req := NewReq(strings.Replace(optionsTmpl, "From: <sip:tester@{me}>", `From: "x' OR 1=1 --" <sip:tester@{me}>`, 1),
		c.Addr, s.Addr, "UDP")
	req.Text = strings.Replace(req.Text, "OPTIONS sip:"+s.Addr, "OPTIONS sip:100@"+s.Addr, 1)
	if r, err := c.Exchange(s.Addr, req, replyWait); err != nil || r.Code != 403 {
		t.Errorf("SQL injection in From: got %v %v, want 403", r, err)
	}
}
