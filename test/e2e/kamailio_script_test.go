package e2e

import (
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// kamailioExample is Kamailio's own KEMI Lua example, from Debian's kamailio
// package (docs may be installed gzipped).
const kamailioExample = "/usr/share/doc/kamailio/examples/kemi/kamailio-basic-kemi-lua.lua"

// kamailioExampleScript returns the path of the example, unpacked into a
// temporary directory when only the .gz is installed; the test skips when
// the package is absent.
func kamailioExampleScript(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat(kamailioExample); err == nil {
		return kamailioExample
	}
	f, err := os.Open(kamailioExample + ".gz")
	if err != nil {
		t.Skipf("%s is not installed: apt-get install kamailio (Debian package kamailio ships it)", kamailioExample)
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(io.LimitReader(z, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), filepath.Base(kamailioExample))
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// Kamailio's kamailio-basic-kemi-lua.lua runs unmodified on bin/sbc with the
// modules its kamailio.cfg loads (auth, auth_db, registrar, usrloc,
// permissions, pike and htable for the anti-flood checks, nathelper): users
// register with digest (401), call each other with an authenticated INVITE
// (407) routed by the location service, and a call to nobody is 404.
func TestKamailioBasicKemiScript(t *testing.T) {
	callsEnabled(t)
	t.Parallel()
	script := kamailioExampleScript(t)
	subs := filepath.Join(t.TempDir(), "subscribers.txt")
	if err := os.WriteFile(subs, []byte("alice 127.0.0.1 alice-pw\nbob 127.0.0.1 bob-pw\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := StartServer(t, Opts{Script: script, Modules: []string{
		"sl: {}", "maxfwd: {max_limit: 70}", "sanity: {}", "siputils: {}", "textops: {}", "kx: {}", "xlog: {}",
		"corex: {}", "tm: {fr_timer: 30000, fr_inv_timer: 120000}", "tmx: {}", "rr: {}",
		`htable: {htable: ["ipban=>size=8;autoexpire=300;"]}`,
		"pike: {sampling_time_unit: 2, reqs_density_per_unit: 16, remove_latency: 4}",
		"permissions: {}",
		"auth: {}",
		fmt.Sprintf("auth_db: {subscriber_file: %q, calculate_ha1: 1, password_column: password}", subs),
		"usrloc: {nat_bflag: 6}",
		`registrar: {received_avp: "$avp(RECEIVED)"}`,
		`nathelper: {received_avp: "$avp(RECEIVED)"}`,
	}})
	if b, _ := os.ReadFile(s.Script); !strings.Contains(string(b), "function ksr_route_auth()") ||
		string(b) != readFile(script) {
		t.Fatalf("the script run is not Kamailio's example as installed")
	}

	bobPort, alicePort := freePorts(t, 6), freePorts(t, 6)
	bob := startSIPp(t, "bob", "uas_answer.xml", bobPort, "")
	bob.waitBound(t)
	sippRegister(t, s, "register.xml", "bob", "bob-pw", bobPort)
	sippRegister(t, s, "register.xml", "alice", "alice-pw", alicePort)
	if c := registered(t, s, "bob"); len(c) != 1 {
		t.Fatalf("bob's contacts: %q", c)
	}
	sippRegister(t, s, "register_wrong.xml", "alice", "guess", alicePort)

	alice := startSIPp(t, "alice", "../pbx/uac_call_auth.xml", alicePort, s.Addr,
		"-s", "bob", "-key", "caller", "alice", "-au", "alice", "-ap", "alice-pw")
	sippDone(t, alice)
	sippDone(t, bob)

	nobody := startSIPp(t, "nobody", "../pbx/uac_call_auth_404.xml", freePorts(t, 6), s.Addr,
		"-s", "nobody", "-key", "caller", "alice", "-au", "alice", "-ap", "alice-pw")
	sippDone(t, nobody)
	noScriptErrors(t, s)
}
