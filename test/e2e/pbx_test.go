package e2e

// The registrar flow of lua/default.lua on the module set of the embedded
// default config (core/config/default.yaml): digest-authenticated REGISTER
// and INVITE (SIPp's [authentication], and modules/auth/authtest for what
// SIPp cannot do: SHA-256, nonce-count replays, stale nonces), calls between
// registered users, carriers by address group, numbers to the carrier, and
// the location service on PostgreSQL (restart) and Redis (two nodes).

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/luasbc/luasbc/core/backend/backendtest"
	"github.com/luasbc/luasbc/modules/auth/authtest"
	"github.com/luasbc/luasbc/modules/usrloc"
)

// pbxUsers are the subscribers of the PBX tests (file store, plain passwords).
var pbxUsers = map[string]string{"alice": "alice-pw", "bob": "bob-pw", "carol": "carol-pw"}

// configModules returns the entries under modules: of a config file as
// Opts.Modules, so a test runs the shipped module set; repl rewrites paths
// and parameters in them (a whole entry line, e.g. "permissions: {}", or a
// part of one).
func configModules(t *testing.T, path string, repl map[string]string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(b), "\nmodules:\n")
	if !ok {
		t.Fatalf("%s: no modules: section", path)
	}
	var mods []string
	for _, l := range strings.Split(block, "\n") {
		if !strings.HasPrefix(l, "  ") {
			if strings.TrimSpace(l) == "" || strings.HasPrefix(l, "#") {
				continue
			}
			break // the next top-level key
		}
		mods = append(mods, expand(strings.TrimPrefix(l, "  "), repl))
	}
	return mods
}

// pbxOpts describe a server running lua/default.lua on the default module set.
type pbxOpts struct {
	carrierPort int               // the carrier's source port (address group 200); 0: none
	carrierHost string            // CARRIER_HOST of the script
	repl        map[string]string // further rewrites of the module entries
	extra       []string          // module entries added at the end
}

// startPBX runs lua/default.lua with core/config/default.yaml's modules, a
// subscriber file with pbxUsers and, with carrierPort, an address file
// putting 127.0.0.1:carrierPort into group 200.
func startPBX(t *testing.T, o pbxOpts) *Server {
	t.Helper()
	dir := t.TempDir()
	var subs strings.Builder
	for u, p := range pbxUsers {
		fmt.Fprintf(&subs, "%s 127.0.0.1 %s\n", u, p)
	}
	subFile := filepath.Join(dir, "subscribers.txt")
	addrFile := filepath.Join(dir, "address.list")
	addr := "# group address mask port tag\n"
	if o.carrierPort != 0 {
		addr += fmt.Sprintf("200 127.0.0.1 32 %d carrier\n", o.carrierPort)
	}
	for f, text := range map[string]string{subFile: subs.String(), addrFile: addr} {
		if err := os.WriteFile(f, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	repl := map[string]string{
		"subscriber_file: subscribers.txt": "subscriber_file: " + subFile,
		"permissions: {}":                  fmt.Sprintf("permissions: {address_file: %q}", addrFile),
	}
	for k, v := range o.repl {
		repl[k] = v
	}
	mods := append(configModules(t, filepath.Join(repoRoot, "core", "config", "default.yaml"), repl), o.extra...)
	s := StartServer(t, Opts{Script: filepath.Join(repoRoot, "lua", "default.lua"), Modules: mods,
		Replace: map[string]string{`local CARRIER_HOST = ""`: fmt.Sprintf("local CARRIER_HOST = %q", o.carrierHost)}})
	t.Cleanup(func() { noScriptErrors(t, s) })
	return s
}

// noScriptErrors fails the test when the script raised a Lua error (a
// function or module it calls that is missing, a nil compared).
func noScriptErrors(t *testing.T, s *Server) {
	t.Helper()
	if out := s.Logs(); strings.Contains(out, "attempt to ") {
		t.Errorf("the script raised a Lua error:\n%s", excerpt(out, "attempt to ", 2000))
	}
}

// sippDone waits for a SIPp agent and fails the test unless it exited 0.
func sippDone(t *testing.T, a *sippAgent) {
	t.Helper()
	code, ok := a.wait(sippTimeout + 5*time.Second)
	if !ok || code != 0 {
		t.Fatalf("sipp %s: exit %d (finished %v), want 0\n%s", a.Name, code, ok, a.report())
	}
}

// sippRegister runs a register scenario for user (password pw) with its
// Contact on 127.0.0.1:contactPort; SIPp must succeed. SIPp binds SIP,
// control and media ports: six, as startSIPp's other callers take.
func sippRegister(t *testing.T, s *Server, scenario, user, pw string, contactPort int) *sippAgent {
	t.Helper()
	a := startSIPp(t, "reg-"+user, "../pbx/"+scenario, freePorts(t, 6), s.Addr,
		"-s", user, "-au", user, "-ap", pw, "-key", "cport", strconv.Itoa(contactPort))
	sippDone(t, a)
	return a
}

// registered returns the contacts usrloc holds for aor (none: nil).
func registered(t *testing.T, s *Server, aor string) []string {
	t.Helper()
	res, rerr := s.RPC("ul.lookup", "location", aor)
	if rerr != nil {
		return nil
	}
	var r struct {
		Contacts []struct {
			Contact struct {
				Address string
			}
		}
	}
	if err := json.Unmarshal(res, &r); err != nil {
		t.Fatalf("ul.lookup %s: %s: %v", aor, res, err)
	}
	var out []string
	for _, c := range r.Contacts {
		out = append(out, c.Contact.Address)
	}
	return out
}

// REGISTER with MD5 through SIPp: challenged, then saved; a wrong password
// gets a new challenge and saves nothing, and counts as a failed
// authentication.
func TestPBXRegister(t *testing.T) {
	callsEnabled(t)
	t.Parallel()
	s := startPBX(t, pbxOpts{})
	sippRegister(t, s, "register.xml", "alice", pbxUsers["alice"], 5999)
	if c := registered(t, s, "alice"); len(c) != 1 || c[0] != "sip:alice@127.0.0.1:5999" {
		t.Errorf("alice's contacts %q, want sip:alice@127.0.0.1:5999", c)
	}
	a := sippRegister(t, s, "register_wrong.xml", "bob", "not-bobs", 5998)
	if n := a.count("SIP/2.0 200"); n != 0 {
		t.Errorf("bob with a wrong password got %d 200s", n)
	}
	if c := registered(t, s, "bob"); c != nil {
		t.Errorf("bob registered with a wrong password: %q", c)
	}
	var fails []map[string]any
	s.MustRPC(&fails, "auth.failures")
	if len(fails) != 1 || fails[0]["user"] != "bob" || fails[0]["last_code"] != float64(-2) {
		t.Errorf("auth.failures %v, want bob with -2", fails)
	}
}

// Two users register and call each other: the INVITE is challenged (407),
// authenticated, routed by the location service to the callee, answered,
// and hung up; a call to a user nobody registered as is 404, one to a
// subscriber who is not registered 480.
func TestPBXCallBetweenUsers(t *testing.T) {
	callsEnabled(t)
	t.Parallel()
	s := startPBX(t, pbxOpts{})
	bobPort, alicePort := freePorts(t, 6), freePorts(t, 6)
	bob := startSIPp(t, "bob", "uas_answer.xml", bobPort, "")
	bob.waitBound(t)
	sippRegister(t, s, "register.xml", "bob", pbxUsers["bob"], bobPort)
	sippRegister(t, s, "register.xml", "alice", pbxUsers["alice"], alicePort)

	alice := startSIPp(t, "alice", "../pbx/uac_call_auth.xml", alicePort, s.Addr,
		"-s", "bob", "-key", "caller", "alice", "-au", "alice", "-ap", pbxUsers["alice"])
	sippDone(t, alice)
	sippDone(t, bob)
	if n := bob.count("INVITE sip:bob@127.0.0.1:" + strconv.Itoa(bobPort)); n != 1 {
		t.Errorf("bob got %d INVITEs to his registered contact, want 1\n%s", n, bob.report())
	}
	if n := bob.count("Proxy-Authorization"); n != 0 {
		t.Errorf("the credentials reached the callee (%d headers): consume_credentials", n)
	}

	nobody := startSIPp(t, "nobody", "../pbx/uac_call_auth_404.xml", freePorts(t, 6), s.Addr,
		"-s", "nobody", "-key", "caller", "alice", "-au", "alice", "-ap", pbxUsers["alice"])
	sippDone(t, nobody)

	// carol is a subscriber but has no contact: 480.
	c := NewUDP(t)
	r, err := c.Exchange(s.Addr, NewReq(inviteTo("sip:carol@"+s.Addr, "70", "e2e"), c.Addr, s.Addr, "UDP"), 3*time.Second)
	if err != nil || r.Code != 480 {
		t.Errorf("INVITE to carol (not registered) from another domain: %v %v, want 480", r, err)
	}
}

// A carrier (source in address group 200) calls a registered user without
// credentials; a local user's call to a number that is no user goes to the
// carrier host; the same number from an address outside group 200 without
// credentials is challenged, and a request from nobody of ours to another
// domain is refused.
func TestPBXCarrier(t *testing.T) {
	callsEnabled(t)
	t.Parallel()
	carrierIn := freePorts(t, 6)
	carrierOut := freePorts(t, 6)
	s := startPBX(t, pbxOpts{carrierPort: carrierIn, carrierHost: fmt.Sprintf("127.0.0.1:%d", carrierOut)})
	bobPort := freePorts(t, 6)
	bob := startSIPp(t, "bob", "uas_answer.xml", bobPort, "")
	bob.waitBound(t)
	sippRegister(t, s, "register.xml", "bob", pbxUsers["bob"], bobPort)

	// The carrier's caller ID is a number in our domain: anyone else sending
	// that From would have to authenticate (uac_call.xml with another From).
	in := startSIPp(t, "carrier-in", ownDomainCaller(t, "+4930999"), carrierIn, s.Addr, "-s", "bob")
	sippDone(t, in)
	sippDone(t, bob)
	if n := in.count("SIP/2.0 407"); n != 0 {
		t.Errorf("the carrier was challenged")
	}

	carrierCall(t, s, carrierOut, "alice", pbxUsers["alice"], "+4930123456")

	ch := startSIPp(t, "not-carrier", "../pbx/uac_challenged.xml", freePorts(t, 6), s.Addr,
		"-s", "+4930123456", "-key", "caller", "alice")
	sippDone(t, ch)

	c := NewUDP(t)
	if r, err := c.Exchange(s.Addr, NewReq(inviteTo("sip:someone@example.net", "70", "e2e"), c.Addr, s.Addr, "UDP"), 3*time.Second); err != nil || r.Code != 403 {
		t.Errorf("INVITE from example.com to example.net: %v %v, want 403 (no open relay)", r, err)
	}
}

// pbxRegisterTmpl is a REGISTER of USER with its Contact at the sender; AUTH is
// replaced by a credentials header line or removed.
const pbxRegisterTmpl = `REGISTER sip:{srv} SIP/2.0
Via: SIP/2.0/{proto} {me};branch={branch};rport
From: <sip:USER@{srv}>;tag={tag}
To: <sip:USER@{srv}>
Call-ID: {callid}
CSeq: 1 REGISTER
Contact: <sip:USER@{me}>
Expires: 600
Max-Forwards: 70
AUTH
Content-Length: 0

`

// digestRegister sends a REGISTER of user answering ch with cl (no ch: no
// credentials) and returns the reply.
func digestRegister(t *testing.T, s *Server, c *UDPClient, user string, cl *authtest.Client, ch *authtest.Challenge) *Msg {
	t.Helper()
	auth := ""
	if ch != nil {
		auth = cl.Header(*ch, authtest.Options{Method: "REGISTER", URI: "sip:" + s.Addr, QOP: "auth"})
	}
	r, err := c.Exchange(s.Addr, NewReq(pbxRegister(user, auth), c.Addr, s.Addr, "UDP"), 3*time.Second)
	if err != nil {
		t.Fatalf("REGISTER %s: %v", user, err)
	}
	return r
}

// pbxRegister is pbxRegisterTmpl for user with the credentials header line
// auth ("" for none).
func pbxRegister(user, auth string) string {
	if auth != "" {
		auth += "\n"
	}
	return strings.NewReplacer("USER", user, "AUTH\n", auth).Replace(pbxRegisterTmpl)
}

// challenge requires a 401 and returns its (only) digest challenge.
func challenge(t *testing.T, r *Msg) authtest.Challenge {
	t.Helper()
	chs := authtest.Challenges(r.Raw)
	if r.Code != 401 || len(chs) != 1 {
		t.Fatalf("want 401 with one challenge, got %q:\n%s", r.First, r.Raw)
	}
	return chs[0]
}

// SHA-256 digest (RFC 8760), which SIPp cannot do; with nonce_count a
// replayed nonce count is refused and a higher one accepted; an expired
// nonce is answered with stale=true.
func TestPBXDigestSHA256(t *testing.T) {
	t.Parallel()
	s := startPBX(t, pbxOpts{repl: map[string]string{
		"auth: {}": `auth: {algorithm: "SHA-256", qop: auth, nonce_count: 1, nonce_expire: 3}`}})
	c := NewUDP(t)
	alice := &authtest.Client{Username: "alice", Password: pbxUsers["alice"]}

	ch := challenge(t, digestRegister(t, s, c, "alice", nil, nil))
	if ch.Algorithm != "SHA-256" || ch.Stale {
		t.Fatalf("challenge %q: want algorithm=SHA-256, not stale", ch.Raw)
	}
	if r := digestRegister(t, s, c, "alice", alice, &ch); r.Code != 200 {
		t.Fatalf("SHA-256 REGISTER: %q, want 200", r.First)
	}
	if got := registered(t, s, "alice"); len(got) != 1 || got[0] != "sip:alice@"+c.Addr {
		t.Errorf("alice's contacts %q, want sip:alice@%s", got, c.Addr)
	}

	// The same nonce count again (a captured request replayed): refused.
	replay := &authtest.Client{Username: "alice", Password: pbxUsers["alice"], NC: 1}
	if r := digestRegister(t, s, c, "alice", replay, &ch); r.Code != 401 {
		t.Errorf("replayed nc=1: %q, want 401", r.First)
	}
	// The client counting up with the same nonce is fine.
	if r := digestRegister(t, s, c, "alice", alice, &ch); r.Code != 200 {
		t.Errorf("nc=2: %q, want 200", r.First)
	}
	// A wrong password with SHA-256 is refused.
	wrong := &authtest.Client{Username: "alice", Password: "guess"}
	if r := digestRegister(t, s, c, "alice", wrong, &ch); r.Code != 401 {
		t.Errorf("wrong password: %q, want 401", r.First)
	}

	// After nonce_expire the nonce is stale: a new challenge with stale=true.
	time.Sleep(4 * time.Second)
	r := digestRegister(t, s, c, "alice", alice, &ch)
	if st := challenge(t, r); !st.Stale || st.Nonce == ch.Nonce {
		t.Errorf("expired nonce: %q, want stale=true and a new nonce", st.Raw)
	}
	if n := s.Stat("auth:stale"); n < 1 {
		t.Errorf("auth:stale = %d, want at least 1", n)
	}
}

// Guessing passwords (-2) or user names (-3) feeds ksr_auth_failed(): the
// fifth failure from one source bans it, and the banned source then gets
// no answer at all, while another source still gets its challenge.
func TestPBXAuthFailuresBan(t *testing.T) {
	t.Parallel()
	s := startPBX(t, pbxOpts{})
	const attacker = "127.0.0.2"
	c := newUDPFrom(t, attacker)
	for i, user := range []string{"alice", "alice", "mallory", "alice", "mallory"} {
		ch := challenge(t, digestRegister(t, s, c, user, nil, nil))
		guess := &authtest.Client{Username: user, Password: fmt.Sprintf("guess-%d", i)}
		if r := digestRegister(t, s, c, user, guess, &ch); r.Code != 401 {
			t.Fatalf("guess %d for %s: %q, want 401", i, user, r.First)
		}
	}
	if !s.waitBan(t, attacker, "authfail", 2*time.Second) {
		t.Fatalf("%s not banned after 5 failed authentications; bans %v", attacker, s.bans(t))
	}
	c.Send(s.Addr, []byte(NewReq(pbxRegister("alice", ""), c.Addr, s.Addr, "UDP").Text))
	c.ExpectNothing(t, 500*time.Millisecond, "a REGISTER from the banned source")
	challenge(t, digestRegister(t, s, NewUDP(t), "alice", nil, nil))
}

// With usrloc on PostgreSQL (db_mode 1, write-through) a registration
// survives a restart: the second server loads it and routes to it.
func TestPBXLocationPostgresRestart(t *testing.T) {
	t.Parallel()
	url, sp := backendtest.Schema(t)
	if _, err := sp.Exec(context.Background(), usrloc.SchemaSQL); err != nil {
		t.Fatal(err)
	}
	repl := map[string]string{"usrloc: {nat_bflag: 6}": fmt.Sprintf("usrloc: {nat_bflag: 6, db_mode: 1, db_url: %q}", url)}
	s1 := startPBX(t, pbxOpts{repl: repl})
	c := NewUDP(t)
	registerContact(t, s1, c, "bob")
	var rows int
	if err := sp.QueryRow(context.Background(), "SELECT count(*) FROM location WHERE username = 'bob'").Scan(&rows); err != nil || rows != 1 {
		t.Fatalf("location rows for bob: %d %v, want 1", rows, err)
	}
	s1.stop()

	s2 := startPBX(t, pbxOpts{repl: repl})
	if got := registered(t, s2, "bob"); len(got) != 1 || got[0] != "sip:bob@"+c.Addr {
		t.Fatalf("after the restart bob's contacts are %q, want sip:bob@%s", got, c.Addr)
	}
	// A call to bob reaches his contact.
	caller := NewUDP(t)
	caller.Send(s2.Addr, []byte(NewReq(inviteTo("sip:bob@"+s2.Addr, "70", "e2e"), caller.Addr, s2.Addr, "UDP").Text))
	m, err := c.Recv(5 * time.Second)
	if err != nil || m.Method != "INVITE" || !strings.HasPrefix(m.RURI, "sip:bob@"+c.Addr) {
		t.Fatalf("bob's contact after the restart got %v %v, want the INVITE", m, err)
	}
}

// usrloc on Redis: a user registers through node A and is called through
// node B, which has never seen the REGISTER.
func TestPBXLocationRedisTwoNodes(t *testing.T) {
	t.Parallel()
	rc := backendtest.Redis(t)
	prefix := "luasbc:e2e:" + backendtest.Suffix() + ":"
	repl := map[string]string{"usrloc: {nat_bflag: 6}": fmt.Sprintf("usrloc: {nat_bflag: 6, redis: 1, redis_url: %q, redis_prefix: %q}",
		backendtest.RedisURL(), prefix)}
	a := startPBX(t, pbxOpts{repl: repl})
	b := startPBX(t, pbxOpts{repl: repl})
	t.Cleanup(func() {
		keys, _ := rc.Keys(context.Background(), prefix+"*").Result()
		if len(keys) > 0 {
			rc.Del(context.Background(), keys...)
		}
	})

	c := NewUDP(t)
	registerContact(t, a, c, "carol")
	caller := NewUDP(t)
	caller.Send(b.Addr, []byte(NewReq(inviteTo("sip:carol@"+b.Addr, "70", "e2e"), caller.Addr, b.Addr, "UDP").Text))
	m, err := c.Recv(5 * time.Second)
	if err != nil || m.Method != "INVITE" || !strings.HasPrefix(m.RURI, "sip:carol@"+c.Addr) {
		t.Fatalf("carol's contact got %v %v from node B, want the INVITE", m, err)
	}
	if got := registered(t, b, "carol"); len(got) != 1 {
		t.Errorf("node B's ul.lookup carol: %q", got)
	}
}

// carrierCall: caller (authenticated with pw) calls number, which the
// proxy must send to the SIPp carrier on carrierOut, R-URI host rewritten.
func carrierCall(t *testing.T, s *Server, carrierOut int, caller, pw, number string) {
	t.Helper()
	gw := startSIPp(t, "carrier-out", "uas_answer.xml", carrierOut, "")
	gw.waitBound(t)
	out := startSIPp(t, caller+"-out", "../pbx/uac_call_auth.xml", freePorts(t, 6), s.Addr,
		"-s", number, "-key", "caller", caller, "-au", caller, "-ap", pw)
	sippDone(t, out)
	sippDone(t, gw)
	if n := gw.count(fmt.Sprintf("INVITE sip:%s@127.0.0.1:%d", number, carrierOut)); n != 1 {
		t.Errorf("the carrier got %d INVITEs for %s, want 1\n%s", n, number, gw.report())
	}
}

// ownDomainCaller writes calls/uac_call.xml with the From user in the
// proxy's domain and returns its path relative to testdata/sipp/calls (as
// startSIPp takes it).
func ownDomainCaller(t *testing.T, user string) string {
	t.Helper()
	calls := testdata("sipp", "calls")
	b, err := os.ReadFile(filepath.Join(calls, "uac_call.xml"))
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(b), `"Caller" <sip:caller@[local_ip]:[local_port]>`, "<sip:"+user+"@[remote_ip]:[remote_port]>")
	if !strings.Contains(text, "<sip:"+user+"@") {
		t.Fatal("uac_call.xml: From not found")
	}
	f := filepath.Join(t.TempDir(), "uac_own_domain.xml")
	if err := os.WriteFile(f, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(calls, f)
	if err != nil {
		t.Fatal(err)
	}
	return rel
}

// The PBX example (lua/examples/pbx) as shipped, on test ports: its users
// register and call each other, a call to nobody is 404, a call to a number
// goes to its carrier host, and its carrier (address.list group 200) calls a
// user without credentials.
func TestPBXExample(t *testing.T) {
	callsEnabled(t)
	t.Parallel()
	ex := filepath.Join(repoRoot, "lua", "examples", "pbx")
	if out, err := exec.Command(sbcBin, "-c", filepath.Join(ex, "sbc.yaml"), "--check").CombinedOutput(); err != nil ||
		!strings.Contains(string(out), "OK") {
		t.Fatalf("sbc --check: %v\n%s", err, out)
	}
	users := map[string]string{}
	for _, l := range strings.Split(readFile(filepath.Join(ex, "subscribers.txt")), "\n") {
		if f := strings.Fields(l); len(f) == 3 && !strings.HasPrefix(l, "#") {
			users[f[0]] = f[2]
		}
	}
	if len(users) != 2 {
		t.Fatalf("subscribers.txt: %v, want 1001 and 1002", users)
	}
	carrierIn, carrierOut := freePorts(t, 6), freePorts(t, 6)
	s := startExample(t, "pbx", map[string]map[string]string{
		"address.list": {"200 192.0.2.10 32 5060 carrier-a": fmt.Sprintf("200 127.0.0.1 32 %d carrier-a", carrierIn)},
		"script.lua":   {`"127.0.0.1:5090"`: fmt.Sprintf(`"127.0.0.1:%d"`, carrierOut)},
	})
	t.Cleanup(func() { noScriptErrors(t, s) })

	callee := freePorts(t, 6)
	uas := startSIPp(t, "1002", "uas_answer.xml", callee, "")
	uas.waitBound(t)
	sippRegister(t, s, "register.xml", "1002", users["1002"], callee)
	call := startSIPp(t, "1001", "../pbx/uac_call_auth.xml", freePorts(t, 6), s.Addr,
		"-s", "1002", "-key", "caller", "1001", "-au", "1001", "-ap", users["1001"])
	sippDone(t, call)
	sippDone(t, uas)

	nobody := startSIPp(t, "nobody", "../pbx/uac_call_auth_404.xml", freePorts(t, 6), s.Addr,
		"-s", "nobody", "-key", "caller", "1001", "-au", "1001", "-ap", users["1001"])
	sippDone(t, nobody)

	carrierCall(t, s, carrierOut, "1001", users["1001"], "0049301234567")
	c := NewUDP(t)
	forged := forgedInDialogInvite(c, s, fmt.Sprintf("sip:0049900123@127.0.0.1:%d", carrierOut), "<sip:"+s.Addr+";lr>")
	if r, err := c.Exchange(s.Addr, forged, replyWait); err != nil || r.Code != 403 {
		t.Errorf("forged re-INVITE to the carrier: %v %v, want 403", r, err)
	}

	uas = startSIPp(t, "1002", "uas_answer.xml", callee, "")
	uas.waitBound(t)
	in := startSIPp(t, "carrier-in", ownDomainCaller(t, "+4930999"), carrierIn, s.Addr, "-s", "1002")
	sippDone(t, in)
	sippDone(t, uas)
}

// registerContact registers user (digest, MD5) with its Contact at c.
func registerContact(t *testing.T, s *Server, c *UDPClient, user string) {
	t.Helper()
	ch := challenge(t, digestRegister(t, s, c, user, nil, nil))
	cl := &authtest.Client{Username: user, Password: pbxUsers[user]}
	if r := digestRegister(t, s, c, user, cl, &ch); r.Code != 200 {
		t.Fatalf("REGISTER %s: %q", user, r.First)
	}
}

// With rtpengine, default.lua anchors the media of a call to a registered
// user: both parties get rtpengine's SDP, RTP flows through it, and the
// BYE deletes the session.
func TestPBXMediaAnchored(t *testing.T) {
	mediaEnabled(t)
	t.Parallel()
	e := startRtpengine(t)
	s := startPBX(t, pbxOpts{extra: []string{
		fmt.Sprintf(`rtpengine: {rtpengine_sock: "%s", rtpengine_tout_ms: 300, rtpengine_retr: 2}`, e.URL())}})
	calleePort := freePorts(t, 6)
	sippRegister(t, s, "register.xml", "bob", pbxUsers["bob"], calleePort)
	cid := "pbx-media-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	caller, callee, _ := mediaCall(t, s, calleePort, cid, e)
	inPort, _ := callee.receivedSDPPort(t, "INVITE ")
	okPort, _ := caller.receivedSDPPort(t, "SIP/2.0 200")
	for name, p := range map[string]int{"INVITE to the callee": inPort, "200 to the caller": okPort} {
		if p < e.PortMin || p > e.PortMax {
			t.Errorf("%s: m=audio port %d is not rtpengine's (%d-%d)", name, p, e.PortMin, e.PortMax)
		}
	}
	if q, err := e.ng(map[string]any{"command": "query", "call-id": cid}); err != nil || q["result"] != "error" {
		t.Errorf("after BYE rtpengine still knows the call: %v %v", q["result"], err)
	}
}

// rtpengine not answering: default.lua refuses the INVITE with 488 rather
// than sending it on with media that cannot flow.
func TestPBXMediaRtpengineDown(t *testing.T) {
	t.Parallel()
	dead := NewUDP(t) // bound, never answers
	s := startPBX(t, pbxOpts{extra: []string{
		fmt.Sprintf(`rtpengine: {rtpengine_sock: "udp:%s", rtpengine_tout_ms: 100, rtpengine_retr: 1}`, dead.Addr)}})
	bob := NewUDP(t)
	registerContact(t, s, bob, "bob")
	body := "v=0\no=x 1 1 IN IP4 127.0.0.1\ns=-\nc=IN IP4 127.0.0.1\nt=0 0\nm=audio 40000 RTP/AVP 0\n"
	inv := strings.Replace(inviteTo("sip:bob@"+s.Addr, "70", "e2e"), "Content-Length: 0\n\n",
		"Content-Type: application/sdp\nContent-Length: {cl}\n\n"+body, 1)
	c := NewUDP(t)
	if r, err := c.Exchange(s.Addr, NewReq(inv, c.Addr, s.Addr, "UDP"), 5*time.Second); err != nil || r.Code != 488 {
		t.Fatalf("INVITE with rtpengine down: %v %v, want 488", r, err)
	}
	bob.ExpectNothing(t, 300*time.Millisecond, "the INVITE refused for its media")
}

// TestPBXForgedReinviteToCarrier: requests with a To tag and our Route are
// routed without authentication, as in-dialog requests are. An INVITE of
// that kind whose next hop is the carrier (R-URI, or a Route after ours) is
// refused unless its Call-ID is a call one of our users placed to the
// carrier: a stranger cannot place calls through the carrier, which trusts
// our address, by forging a re-INVITE.
func TestPBXForgedReinviteToCarrier(t *testing.T) {
	t.Parallel()
	carrier := NewUDP(t)
	s := startPBX(t, pbxOpts{carrierHost: carrier.Addr})
	c := NewUDP(t)
	forged := func(ruri, route string) Req { return forgedInDialogInvite(c, s, ruri, route) }
	ours := "<sip:" + s.Addr + ";lr>"
	for name, req := range map[string]Req{
		"R-URI": forged("sip:+19005551234@"+carrier.Addr, ours),
		"Route": forged("sip:+19005551234@example.net", ours+", <sip:"+carrier.Addr+";lr>"),
	} {
		if r, err := c.Exchange(s.Addr, req, replyWait); err != nil || r.Code != 403 {
			t.Errorf("forged re-INVITE to the carrier by %s: %v %v, want 403", name, r, err)
		}
	}
	carrier.ExpectNothing(t, 300*time.Millisecond, "the carrier after forged re-INVITEs")

	// The same request for a call of ours to the carrier goes through.
	req := forged("sip:+19005551234@"+carrier.Addr, ours)
	s.MustRPC(nil, "htable.sets", "carriercalls", req.CallID, "1")
	c.Send(s.Addr, []byte(req.Text))
	if m, err := carrier.Recv(2 * time.Second); err != nil || m.Method != "INVITE" {
		t.Errorf("re-INVITE of a known carrier call: %v %v, want it at the carrier", m, err)
	}
}

// forgedInDialogInvite is an INVITE from c that looks in-dialog: a To tag
// and the Route set route.
func forgedInDialogInvite(c *UDPClient, s *Server, ruri, route string) Req {
	text := strings.Replace(inviteTo(ruri, "70", "e2e"), "To: <sip:bob@example.com>", "To: <sip:bob@example.com>;tag=forged", 1)
	return NewReq(strings.Replace(text, "Max-Forwards:", "Route: "+route+"\nMax-Forwards:", 1), c.Addr, s.Addr, "UDP")
}

// TestDefaultScriptMinimalModules: lua/default.lua runs with nothing but sl
// and kx, with or without tm: every other module's block is skipped, never
// a Lua error.
func TestDefaultScriptMinimalModules(t *testing.T) {
	t.Parallel()
	for _, mods := range [][]string{{"sl: {}", "kx: {}"}, {"sl: {}", "kx: {}", "tm: {}"}} {
		s := StartServer(t, Opts{Script: filepath.Join(repoRoot, "lua", "default.lua"), Modules: mods})
		c := NewUDP(t)
		if r, err := c.Exchange(s.Addr, NewReq(optionsTmpl, c.Addr, s.Addr, "UDP"), replyWait); err != nil || r.Code != 200 {
			t.Errorf("%v: keepalive got %v %v, want 200", mods, r, err)
		}
		if r, err := c.Exchange(s.Addr, NewReq(inviteTo("sip:someone@example.net", "70", "e2e"), c.Addr, s.Addr, "UDP"), replyWait); err != nil || r.Code != 403 {
			t.Errorf("%v: INVITE to another domain got %v %v, want 403", mods, r, err)
		}
		noScriptErrors(t, s)
	}
}
