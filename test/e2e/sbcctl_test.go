package e2e

// bin/sbcctl's kamctl-style verbs against a running bin/sbc: each verb's
// table, its --json output, the server's behaviour after the change (a
// REGISTER authenticates, an address is allowed), and the exit codes of
// bad usage (2) and of a failing call or an unreachable server (1).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/luasbc/luasbc/core/backend/backendtest"
	"github.com/luasbc/luasbc/modules/auth/authtest"
)

// ctlScript authenticates REGISTERs against auth_db (realm example.com,
// table __TABLE__) and answers other requests with the result of the
// permissions check their X-Op names in X-RC.
const ctlScript = `
function ksr_request_route()
  if KSR.is_ACK() then return end
  if KSR.is_REGISTER() then
    if KSR.auth_db.auth_check("example.com", "__TABLE__", 1) < 0 then
      KSR.auth.auth_challenge("example.com", 1)
      return
    end
    KSR.sl.sl_send_reply(200, "OK")
    return
  end
  local op = KSR.hdr.get("X-Op") or ""
  local rc = 0
  if op == "address" then
    rc = KSR.permissions.allow_address(1, KSR.hdr.get("X-IP"), 5060)
  elseif op == "trusted" then
    rc = KSR.permissions.allow_trusted()
  end
  KSR.hdr.append_to_reply("X-RC: " .. rc .. "\r\n")
  KSR.sl.sl_send_reply(200, "OK")
end
`

// startCtlServer runs ctlScript with the given modules.
func startCtlServer(t *testing.T, table string, modules ...string) *Server {
	t.Helper()
	script := filepath.Join(t.TempDir(), "ctl.lua")
	if err := os.WriteFile(script, []byte(ctlScript), 0o644); err != nil {
		t.Fatal(err)
	}
	return StartServer(t, Opts{Script: script, Replace: map[string]string{"__TABLE__": table},
		Modules: append([]string{"sl: {}"}, modules...)})
}

// ctlResult is one run of bin/sbcctl.
type ctlResult struct {
	out, err string
	code     int
}

// ctlURL runs bin/sbcctl against url (built once, by the dispatcher
// tests' helper).
func ctlURL(t *testing.T, url string, args ...string) ctlResult {
	t.Helper()
	if sbcctlBin == "" {
		t.Fatal("sbcctl not built: call ctl with a running server first")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, sbcctlBin, append([]string{"--url", url}, args...)...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := ctlResult{out: out.String(), err: errb.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("sbcctl %s: %v", strings.Join(args, " "), err)
	}
	return r
}

// ctl runs bin/sbcctl against s.
func ctl(t *testing.T, s *Server, args ...string) ctlResult {
	t.Helper()
	if sbcctlBin == "" {
		sbcctl(t, s, "version")
	}
	return ctlURL(t, fmt.Sprintf("http://127.0.0.1:%d/rpc", s.RPCPort), args...)
}

// ok runs a verb that must succeed and returns its output.
func ctlOK(t *testing.T, s *Server, args ...string) string {
	t.Helper()
	r := ctl(t, s, args...)
	if r.code != 0 {
		t.Fatalf("sbcctl %s: exit %d\n%s%s", strings.Join(args, " "), r.code, r.out, r.err)
	}
	return r.out
}

// ctlJSON runs a verb with --json and decodes its output into v.
func ctlJSON(t *testing.T, s *Server, v any, args ...string) {
	t.Helper()
	out := ctlOK(t, s, append([]string{"--json"}, args...)...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("sbcctl --json %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// ctlFails runs a verb that must exit with code and a one-line error
// containing want (and, for code 2, the usage).
func ctlFails(t *testing.T, s *Server, code int, want string, args ...string) {
	t.Helper()
	r := ctl(t, s, args...)
	checkFailure(t, r, code, want, args)
}

func checkFailure(t *testing.T, r ctlResult, code int, want string, args []string) {
	t.Helper()
	first, _, _ := strings.Cut(r.err, "\n")
	switch {
	case r.code != code:
		t.Errorf("sbcctl %s: exit %d, want %d\n%s%s", strings.Join(args, " "), r.code, code, r.out, r.err)
	case !strings.Contains(first, want):
		t.Errorf("sbcctl %s: first line %q, want %q", strings.Join(args, " "), first, want)
	case code == 1 && strings.Count(r.err, "\n") != 1:
		t.Errorf("sbcctl %s: error of several lines:\n%s", strings.Join(args, " "), r.err)
	case code == 2 && !strings.Contains(r.err, "usage: sbcctl"):
		t.Errorf("sbcctl %s: no usage:\n%s", strings.Join(args, " "), r.err)
	}
}

// hasRow reports a table line with these cells, in order, separated by
// blanks.
func hasRow(out string, cells ...string) bool {
	for i, c := range cells {
		cells[i] = regexp.QuoteMeta(c)
	}
	return regexp.MustCompile(`(?m)^` + strings.Join(cells, `\s+`) + `(\s|$)`).MatchString(out)
}

const registerTmpl = `REGISTER sip:example.com SIP/2.0
Via: SIP/2.0/UDP {me};branch={branch}
From: <sip:USER@example.com>;tag={tag}
To: <sip:USER@example.com>
Call-ID: {callid}
CSeq: CSEQ REGISTER
Contact: <sip:USER@{me}>
Max-Forwards: 70
Expires: 60
AUTH
Content-Length: 0

`

// register sends a REGISTER as user, answers the challenge with password
// and returns the final status code.
func register(t *testing.T, s *Server, user, password string) int {
	t.Helper()
	c := NewUDP(t)
	build := func(cseq, auth string) Req {
		text := strings.NewReplacer("USER", user, "CSEQ", cseq, "AUTH\n", auth).Replace(registerTmpl)
		return NewReq(text, c.Addr, s.Addr, "UDP")
	}
	rep, err := c.Exchange(s.Addr, build("1", ""), 5*time.Second)
	if err != nil {
		t.Fatalf("REGISTER %s: %v", user, err)
	}
	chs := authtest.Challenges(rep.Raw)
	if rep.Code != 401 || len(chs) == 0 {
		t.Fatalf("REGISTER %s without credentials: %d\n%s", user, rep.Code, rep.Raw)
	}
	qop := ""
	if len(chs[0].QOP) > 0 {
		qop = "auth"
	}
	cl := &authtest.Client{Username: user, Password: password}
	hdr := cl.Header(chs[0], authtest.Options{Method: "REGISTER", URI: "sip:example.com", QOP: qop})
	rep, err = c.Exchange(s.Addr, build("2", hdr+"\n"), 5*time.Second)
	if err != nil {
		t.Fatalf("REGISTER %s with credentials: %v", user, err)
	}
	return rep.Code
}

// checkRC sends an OPTIONS (From alice) with the X-Op headers and returns
// the script's X-RC.
func checkRC(t *testing.T, s *Server, hdrs ...string) string {
	t.Helper()
	c := NewUDP(t)
	tmpl := strings.Replace(optionsTmpl, "<sip:tester@{me}>", "<sip:alice@example.com>", 1)
	r := NewReq(strings.Replace(tmpl, "Content-Length:", strings.Join(hdrs, "\n")+"\nContent-Length:", 1), c.Addr, s.Addr, "UDP")
	rep, err := c.Exchange(s.Addr, r, 5*time.Second)
	if err != nil {
		t.Fatalf("OPTIONS: %v", err)
	}
	return rep.Get("x-rc")
}

func addressRC(t *testing.T, s *Server, ip string) string {
	return checkRC(t, s, "X-Op: address", "X-IP: "+ip)
}

func TestSbcctlSubscribersFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "subscribers.txt")
	if err := os.WriteFile(file, []byte("# the test's subscribers\nbob example.com bobpw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startCtlServer(t, "subscriber", "auth: {}", fmt.Sprintf("auth_db: {subscriber_file: %q}", file))
	subscriberVerbs(t, s)
	data, _ := os.ReadFile(file)
	if !strings.HasPrefix(string(data), "# the test's subscribers\nbob example.com bobpw\n") || strings.Contains(string(data), "alice") {
		t.Errorf("subscriber file after the verbs:\n%s", data)
	}
}

// subscriberVerbs runs add, passwd, show and rm, checking REGISTERs.
func subscriberVerbs(t *testing.T, s *Server) {
	t.Helper()
	if code := register(t, s, "alice", "pw1"); code != 401 {
		t.Fatalf("alice before add: %d", code)
	}
	if out := ctlOK(t, s, "add", "alice@example.com", "pw1"); out != "subscriber alice@example.com added\n" {
		t.Errorf("add: %q", out)
	}
	if code := register(t, s, "alice", "pw1"); code != 200 {
		t.Fatalf("alice after add: %d", code)
	}
	// A bare USER takes --domain, also written after the verb.
	ctlOK(t, s, "subscriber", "add", "carol", "pw3", "--domain", "example.com")
	if code := register(t, s, "carol", "pw3"); code != 200 {
		t.Errorf("carol after add: %d", code)
	}
	out := ctlOK(t, s, "show")
	// calculate_ha1 0: the plain password is not kept
	if !hasRow(out, "USERNAME", "DOMAIN", "PASSWORD", "HA1") || !hasRow(out, "alice", "example.com", "-", "set") ||
		!hasRow(out, "carol", "example.com") || strings.Contains(out, "pw1") {
		t.Errorf("show:\n%s", out)
	}
	var rows []struct{ Username, Domain string }
	ctlJSON(t, s, &rows, "show", "alice")
	if len(rows) != 1 || rows[0].Username != "alice" || rows[0].Domain != "example.com" {
		t.Errorf("show --json alice: %+v", rows)
	}

	ctlOK(t, s, "passwd", "alice", "pw2")
	if code := register(t, s, "alice", "pw1"); code != 401 {
		t.Errorf("old password after passwd: %d", code)
	}
	if code := register(t, s, "alice", "pw2"); code != 200 {
		t.Errorf("new password after passwd: %d", code)
	}
	ctlFails(t, s, 1, "already exists", "add", "alice@example.com", "x")
	ctlFails(t, s, 1, "not found", "rm", "nobody@example.com")
	ctlFails(t, s, 2, "PASSWORD", "add", "alice")
	ctlFails(t, s, 2, "unknown verb", "subscriber", "frob")

	for _, u := range []string{"alice", "carol@example.com"} {
		ctlOK(t, s, "rm", u)
	}
	if code := register(t, s, "alice", "pw2"); code != 401 {
		t.Errorf("alice after rm: %d", code)
	}
}

// ctlSchema creates every module's tables with sbcctl db create.
func ctlSchema(t *testing.T) string {
	t.Helper()
	url, _ := backendtest.Schema(t)
	// db talks to the database only; the server URL is not used.
	if sbcctlBin == "" {
		ctlBuild(t)
	}
	if r := ctlURL(t, "http://127.0.0.1:1/rpc", "--db-url", url, "db", "create"); r.code != 0 || !strings.Contains(r.out, "subscriber") {
		t.Fatalf("db create: exit %d\n%s%s", r.code, r.out, r.err)
	}
	return url
}

// ctlBuild builds bin/sbcctl through the dispatcher tests' helper, which
// wants a server to run it against.
func ctlBuild(t *testing.T) {
	t.Helper()
	s := StartServer(t, Opts{Script: "ok200.lua"})
	sbcctl(t, s, "version")
}

func TestSbcctlPostgres(t *testing.T) {
	url := ctlSchema(t)
	s := startCtlServer(t, "subscriber", "auth: {}", fmt.Sprintf("auth_db: {db_url: %q}", url),
		fmt.Sprintf("permissions: {db_url: %q, db_mode: 1, reload_delta: 0}", url))
	subscriberVerbs(t, s)
	permissionVerbs(t, s)
}

func TestSbcctlPermissionsFile(t *testing.T) {
	dir := t.TempDir()
	addr, trusted := filepath.Join(dir, "address.list"), filepath.Join(dir, "trusted.list")
	for _, f := range []string{addr, trusted} {
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s := startCtlServer(t, "subscriber",
		fmt.Sprintf("permissions: {address_file: %q, trusted_file: %q, reload_delta: 0}", addr, trusted))
	permissionVerbs(t, s)
	if data, _ := os.ReadFile(addr); string(data) != "1 10.0.0.0 8 5060 gw\n" {
		t.Errorf("address file: %q", data)
	}
}

// permissionVerbs runs the address and trusted verbs, checking allow_address
// and allow_trusted.
func permissionVerbs(t *testing.T, s *Server) {
	t.Helper()
	if rc := addressRC(t, s, "127.0.0.9"); rc != "-1" {
		t.Fatalf("127.0.0.9 before address add: %s", rc)
	}
	if out := ctlOK(t, s, "address", "add", "1", "127.0.0.9"); !strings.Contains(out, "added") {
		t.Errorf("address add: %q", out)
	}
	if rc := addressRC(t, s, "127.0.0.9"); rc != "1" {
		t.Errorf("127.0.0.9 after address add: %s", rc)
	}
	ctlOK(t, s, "address", "add", "1", "10.0.0.0/8", "5060", "gw")
	if rc := addressRC(t, s, "10.1.2.3"); rc != "1" {
		t.Errorf("10.1.2.3 after adding 10.0.0.0/8: %s", rc)
	}
	out := ctlOK(t, s, "address", "show")
	if !hasRow(out, "GROUP", "ADDRESS", "PORT", "TAG") || !hasRow(out, "1", "127.0.0.9/32", "any", "-") ||
		!hasRow(out, "1", "10.0.0.0/8", "5060", "gw") {
		t.Errorf("address show:\n%s", out)
	}
	var addrs []struct {
		Group int
		IP    string
		Mask  int
	}
	ctlJSON(t, s, &addrs, "address", "show")
	if len(addrs) != 2 || addrs[0].IP != "127.0.0.9" || addrs[1].Mask != 8 {
		t.Errorf("address show --json: %+v", addrs)
	}
	if out := ctlOK(t, s, "address", "rm", "1", "127.0.0.9"); out != "1 address records removed\n" {
		t.Errorf("address rm: %q", out)
	}
	if rc := addressRC(t, s, "127.0.0.9"); rc != "-1" {
		t.Errorf("127.0.0.9 after address rm: %s", rc)
	}
	if out := ctlOK(t, s, "address", "reload"); !strings.Contains(out, "Reload OK") {
		t.Errorf("address reload: %q", out)
	}
	ctlFails(t, s, 1, "not a valid IPv4 address", "address", "add", "1", "10.0.0.300")
	ctlFails(t, s, 1, "no matching address record", "address", "rm", "1", "127.0.0.9")
	ctlFails(t, s, 2, "group", "address", "add", "one", "10.0.0.1")

	// The test client sends from 127.0.0.1 over UDP, From alice.
	if rc := checkRC(t, s, "X-Op: trusted"); rc != "-1" {
		t.Fatalf("allow_trusted before trusted add: %s", rc)
	}
	ctlOK(t, s, "trusted", "add", "127.0.0.1", "udp", "^sip:alice@", "peer")
	if rc := checkRC(t, s, "X-Op: trusted"); rc != "1" {
		t.Errorf("allow_trusted after trusted add: %s", rc)
	}
	out = ctlOK(t, s, "trusted", "show")
	if !hasRow(out, "SOURCE", "PROTO", "FROM PATTERN") || !hasRow(out, "127.0.0.1", "udp", "^sip:alice@", "-", "peer", "0") {
		t.Errorf("trusted show:\n%s", out)
	}
	if out := ctlOK(t, s, "trusted", "reload"); !strings.Contains(out, "Reload OK") {
		t.Errorf("trusted reload: %q", out)
	}
	ctlOK(t, s, "trusted", "rm", "127.0.0.1")
	if rc := checkRC(t, s, "X-Op: trusted"); rc != "-1" {
		t.Errorf("allow_trusted after trusted rm: %s", rc)
	}
	ctlFails(t, s, 1, "protocol", "trusted", "add", "127.0.0.1", "pigeon", "-")
	ctlFails(t, s, 2, "trusted add", "trusted", "add", "127.0.0.1")
}

func TestSbcctlLocation(t *testing.T) {
	s := StartServer(t, Opts{Script: "ok200.lua", Modules: []string{"sl: {}", "usrloc: {}"}})
	const c1, c2 = "sip:alice@127.0.0.1:5070", "sip:alice@127.0.0.1:5071"
	ctlOK(t, s, "ul", "add", "alice", c1, "3600")
	ctlOK(t, s, "ul", "add", "alice", c2)
	out := ctlOK(t, s, "ul", "show")
	if !hasRow(out, "TABLE", "AOR", "CONTACT", "EXPIRES") || !hasRow(out, "location", "alice", c1) ||
		!hasRow(out, "location", "alice", c2, "permanent") || !strings.Contains(out, "2 contacts of 1 AoRs") {
		t.Errorf("ul show:\n%s", out)
	}
	if out := ctlOK(t, s, "ul", "show", "alice"); !hasRow(out, "location", "alice", c1) {
		t.Errorf("ul show alice:\n%s", out)
	}
	var dump struct {
		Domains []struct{ Domain struct{ AoRs []any } }
	}
	ctlJSON(t, s, &dump, "ul", "show")
	if len(dump.Domains) != 1 || len(dump.Domains[0].Domain.AoRs) != 1 {
		t.Errorf("ul show --json: %+v", dump)
	}

	// --table picks another location table, where alice is not.
	ctlFails(t, s, 1, "AOR not found", "ul", "show", "alice", "--table", "other")
	ctlOK(t, s, "ul", "rm", "alice", c1)
	res, rerr := s.RPC("ul.lookup", "location", "alice")
	if rerr != nil || strings.Contains(string(res), "5070") || !strings.Contains(string(res), "5071") {
		t.Errorf("ul.lookup after ul rm alice CONTACT: %s %v", res, rerr)
	}
	ctlOK(t, s, "ul", "rm", "alice")
	if _, rerr := s.RPC("ul.lookup", "location", "alice"); rerr == nil {
		t.Error("alice still registered after ul rm alice")
	}
	ctlFails(t, s, 1, "AOR not found", "ul", "show", "alice")
	ctlFails(t, s, 2, "ul add", "ul", "add", "alice")
	ctlFails(t, s, 2, "expires", "ul", "add", "alice", c1, "soon")
}

func TestSbcctlHtable(t *testing.T) {
	s := StartServer(t, Opts{Script: "ok200.lua", Modules: []string{"sl: {}", `htable: {htable: ["t1=>size=4;autoexpire=0;", "t2=>size=2;autoexpire=60;"]}`}})
	ctlOK(t, s, "htable", "set", "t1", "k", "some value")
	ctlOK(t, s, "htable", "set", "--int", "t1", "n", "42")
	var got struct{ Item struct{ Value any } }
	if res, rerr := s.RPC("htable.get", "t1", "n"); rerr != nil || json.Unmarshal(res, &got) != nil || got.Item.Value != float64(42) {
		t.Errorf("t1[n] on the server: %s %v", res, rerr)
	}
	if out := ctlOK(t, s, "htable", "get", "t1", "k"); !hasRow(out, "k", `"some value"`, "NEVER") {
		t.Errorf("htable get:\n%s", out)
	}
	out := ctlOK(t, s, "htable", "dump", "t1")
	if !hasRow(out, "KEY", "VALUE") || !hasRow(out, "k", `"some value"`, "never") || !hasRow(out, "n", "42", "never") {
		t.Errorf("htable dump:\n%s", out)
	}
	var slots []struct{ Slot []struct{ Name string } }
	ctlJSON(t, s, &slots, "htable", "dump", "t1")
	n := 0
	for _, sl := range slots {
		n += len(sl.Slot)
	}
	if n != 2 {
		t.Errorf("htable dump --json: %d items, want 2", n)
	}
	if out := ctlOK(t, s, "htable", "list"); !hasRow(out, "NAME", "SLOTS", "AUTOEXPIRE") || !hasRow(out, "t1", "16", "0s") || !hasRow(out, "t2", "4", "60s") {
		t.Errorf("htable list:\n%s", out)
	}
	ctlOK(t, s, "htable", "rm", "t1", "k")
	if _, rerr := s.RPC("htable.get", "t1", "k"); rerr == nil {
		t.Error("t1[k] still set after htable rm")
	}
	ctlFails(t, s, 1, "doesn't exist", "htable", "get", "t1", "k")
	ctlFails(t, s, 1, "No such htable", "htable", "dump", "nope")
	ctlFails(t, s, 2, "not an integer", "htable", "set", "--int", "t1", "n", "x")
	ctlFails(t, s, 2, "htable", "htable", "set", "t1", "k")
}

func TestSbcctlStats(t *testing.T) {
	s := StartServer(t, Opts{Script: "ok200.lua"})
	out := ctlOK(t, s, "stats")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 3 || !hasRow(lines[0], "GROUP", "NAME", "VALUE") {
		t.Fatalf("stats:\n%s", out)
	}
	prev := ""
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) != 3 {
			t.Fatalf("stats row %q: want 3 cells", l)
		}
		if key := f[0] + ":" + f[1]; key < prev {
			t.Errorf("stats not sorted: %s after %s", key, prev)
		} else {
			prev = key
		}
	}
	out = ctlOK(t, s, "stats", "core")
	for _, l := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
		if !strings.HasPrefix(l, "core ") {
			t.Errorf("stats core: row %q", l)
		}
	}
	var raw []string
	ctlJSON(t, s, &raw, "stats", "core")
	if len(raw) == 0 || !strings.HasPrefix(raw[0], "core:") || !strings.Contains(raw[0], " = ") {
		t.Errorf("stats --json core: %q", raw)
	}
}

// Every verb against a server that is not there: exit 1, one line.
func TestSbcctlServerDown(t *testing.T) {
	if sbcctlBin == "" {
		ctlBuild(t)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String() + "/rpc"
	ln.Close()
	for _, args := range [][]string{{"add", "a@b", "pw"}, {"passwd", "a", "pw"}, {"rm", "a"}, {"show"},
		{"address", "show"}, {"address", "add", "1", "10.0.0.1"}, {"trusted", "show"}, {"trusted", "rm", "10.0.0.1"},
		{"ul", "show"}, {"ul", "rm", "a"}, {"htable", "list"}, {"htable", "get", "t", "k"}, {"stats"}} {
		checkFailure(t, ctlURL(t, dead, args...), 1, "cannot reach the server", args)
	}
}
