package secfilter_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/luasbc/luasbc/core/rpc"
	"github.com/luasbc/luasbc/kemi/kemitest"
	"github.com/luasbc/luasbc/modules/secfilter"
	_ "github.com/luasbc/luasbc/modules/sl"
)

// script runs every check and answers 200 with the results in X-R
// ("ip=1;ua=-2;…"). The country code comes from X-CC ("" when absent, which
// makes secf_check_country look the source address up in geoip2_path).
const script = `
function ksr_request_route()
  local sf = KSR.secfilter
  local r = {
    "ip=" .. sf.secf_check_ip(),
    "ua=" .. sf.secf_check_ua(),
    "from=" .. sf.secf_check_from_hdr(),
    "to=" .. sf.secf_check_to_hdr(),
    "ct=" .. sf.secf_check_contact_hdr(),
    "dst=" .. sf.secf_check_dst(KSR.pv.gete("$rU")),
    "cc=" .. sf.secf_check_country(KSR.hdr.gete("X-CC")),
    "sqli=" .. sf.secf_check_sqli_all(),
    "sqlihdr=" .. sf.secf_sqli_hdr(KSR.hdr.gete("X-Value")),
  }
  KSR.hdr.append_to_reply("X-R: " .. table.concat(r, ";") .. "\r\n")
  KSR.sl.sl_send_reply(200, "OK")
end
`

const rulesFile = `id(int,auto) action(int) type(int) data(string)
1:0:0:friendly-scanner
2:1:0:friendly-scanner-ok
3:0:4:sipvicious
4:1:4:trusted
5:0:2:evil.example
6:1:2:good.example
7:2:0:0900
8:0:1:CN
9:1:1:ES
`

type server struct {
	t   *testing.T
	h   *kemitest.Harness
	dir string // the db_text directory
}

// start writes rules into DIR/secfilter and starts a server with
// db_url text://DIR plus the given extra parameters.
func start(t *testing.T, rules string, params map[string]any) *server {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "secfilter"), []byte(rules), 0o644); err != nil {
		t.Fatal(err)
	}
	p := map[string]any{"db_url": "text://" + dir, "reload_delta": 0}
	for k, v := range params {
		p[k] = v
	}
	h := kemitest.New(t, script, kemitest.Options{Modules: map[string]map[string]any{"sl": nil, "secfilter": p}})
	return &server{t: t, h: h, dir: dir}
}

// request builds a MESSAGE with the given R-URI user, From and To values
// and extra header lines.
func request(ruser, from, to string, extra ...string) string {
	var b strings.Builder
	b.WriteString("MESSAGE sip:" + ruser + "@127.0.0.1:{sport} SIP/2.0\n")
	b.WriteString("Via: SIP/2.0/UDP 127.0.0.1:{cport};branch=z9hG4bK-" + time.Now().Format("150405.000000000") + ";rport\n")
	b.WriteString("From: " + from + ";tag=f1\n")
	b.WriteString("To: " + to + "\n")
	b.WriteString("Call-ID: sf-" + time.Now().Format("150405.000000000") + "@test\n")
	b.WriteString("CSeq: 1 MESSAGE\nMax-Forwards: 70\n")
	for _, e := range extra {
		b.WriteString(e + "\n")
	}
	b.WriteString("Content-Length: 0\n\n")
	return b.String()
}

// results sends a request and returns the X-R values by name.
func (s *server) results(raw string) map[string]string {
	s.t.Helper()
	r := s.h.Exchange(raw)
	if kemitest.StatusCode(r) != 200 {
		s.t.Fatalf("no 200: %q", r)
	}
	out := map[string]string{}
	for _, line := range strings.Split(r, "\r\n") {
		if v, ok := strings.CutPrefix(line, "X-R: "); ok {
			for _, kv := range strings.Split(v, ";") {
				k, val, _ := strings.Cut(kv, "=")
				out[k] = val
			}
		}
	}
	if len(out) == 0 {
		s.t.Fatalf("no X-R in %q", r)
	}
	return out
}

func (s *server) expect(raw string, want map[string]string) {
	s.t.Helper()
	got := s.results(raw)
	for k, v := range want {
		if got[k] != v {
			s.t.Errorf("%s = %s, want %s (all: %v)", k, got[k], v, got)
		}
	}
}

func (s *server) rpc(method string, args ...any) (any, *rpc.Error) {
	s.t.Helper()
	var p rpc.Params
	for _, a := range args {
		b, _ := json.Marshal(a)
		p = append(p, b)
	}
	return s.h.RPC.Call(context.Background(), method, p)
}

func (s *server) rpcOK(method string, args ...any) any {
	s.t.Helper()
	v, err := s.rpc(method, args...)
	if err != nil {
		s.t.Fatalf("%s %v: %v", method, args, err)
	}
	return v
}

const alice, bob = "<sip:alice@example.com>", "<sip:bob@example.com>"

func TestCleanMessage(t *testing.T) {
	s := start(t, rulesFile, nil)
	s.expect(request("bob", alice, bob), map[string]string{
		"ip": "1", "ua": "1", "from": "1", "to": "1", "ct": "1", "dst": "1", "cc": "1", "sqli": "1", "sqlihdr": "1"})
}

func TestUserAgentLists(t *testing.T) {
	s := start(t, rulesFile, nil)
	s.expect(request("bob", alice, bob, "User-Agent: friendly-scanner"), map[string]string{"ua": "-2"})
	s.expect(request("bob", alice, bob, "User-Agent: Friendly-Scanner/0.9 (sipvicious)"), map[string]string{"ua": "-2"})
	s.expect(request("bob", alice, bob, "User-Agent: friendly-scanner-OK 2.0"), map[string]string{"ua": "2"})
	s.expect(request("bob", alice, bob, "User-Agent: my friendly-scanner"), map[string]string{"ua": "1"})
}

func TestFromToContactLists(t *testing.T) {
	s := start(t, rulesFile, nil)
	for _, c := range []struct {
		from, to string
		extra    []string
		want     map[string]string
	}{
		{"<sip:sipvicious42@example.com>", bob, nil, map[string]string{"from": "-2", "to": "1"}},
		{`"Trusted Boss" <sip:sipvicious@example.com>`, bob, nil, map[string]string{"from": "4"}},
		{`"SIPVicious" <sip:alice@example.com>`, bob, nil, map[string]string{"from": "-4"}},
		{"<sip:trusted@evil.example>", bob, nil, map[string]string{"from": "2"}},
		{"<sip:alice@evil.example>", "<sip:bob@good.example>", nil, map[string]string{"from": "-3", "to": "3"}},
		{alice, "<sip:sipvicious@example.com>", nil, map[string]string{"to": "-2"}},
		{"<sip:example.com>", bob, nil, map[string]string{"from": "-1"}}, // no user part: error, as Kamailio
		{alice, bob, []string{"Contact: <sip:sipvicious@192.0.2.1:5060>;expires=60"}, map[string]string{"ct": "-2"}},
		{alice, bob, []string{"Contact: sip:carol@evil.example;expires=60"}, map[string]string{"ct": "-3"}},
		{alice, bob, []string{"Contact: \"x\" <sip:trusted@evil.example>, <sip:sipvicious@h>"}, map[string]string{"ct": "2"}},
		{alice, bob, []string{"Contact: *"}, map[string]string{"ct": "1"}},
		{alice, bob, []string{"Contact: <sip:192.0.2.1>"}, map[string]string{"ct": "-1"}},
	} {
		s.expect(request("bob", c.from, c.to, c.extra...), c.want)
	}
}

func TestDestinationExactAndPrefix(t *testing.T) {
	s := start(t, rulesFile, nil)
	s.expect(request("0900", alice, bob), map[string]string{"dst": "-2"})
	s.expect(request("0900123", alice, bob), map[string]string{"dst": "1"})
	p := start(t, rulesFile, map[string]any{"dst_exact_match": 0})
	p.expect(request("0900123", alice, bob), map[string]string{"dst": "-2"})
	p.expect(request("090", alice, bob), map[string]string{"dst": "1"})
}

func TestCountryGivenByScript(t *testing.T) {
	s := start(t, rulesFile, nil)
	s.expect(request("bob", alice, bob, "X-CC: cn"), map[string]string{"cc": "-2"})
	s.expect(request("bob", alice, bob, "X-CC: ES"), map[string]string{"cc": "2"})
	s.expect(request("bob", alice, bob, "X-CC: FR"), map[string]string{"cc": "1"})
}

func TestCountryFromGeoIP(t *testing.T) {
	mmdb := secfilter.WriteTestMMDB(t, map[string]string{"127.0.0.0/8": "CN", "192.0.2.0/24": "ES"})
	s := start(t, rulesFile, map[string]any{"geoip2_path": mmdb})
	s.expect(request("bob", alice, bob), map[string]string{"cc": "-2"})            // 127.0.0.1 is "CN" here
	s.expect(request("bob", alice, bob, "X-CC: ES"), map[string]string{"cc": "2"}) // a given code wins
	// A new database is picked up by secfilter.reload.
	other := secfilter.WriteTestMMDB(t, map[string]string{"127.0.0.0/8": "ES"})
	b, err := os.ReadFile(other)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(mmdb, b, 0o644); err != nil {
		t.Fatal(err)
	}
	s.rpcOK("secfilter.reload")
	s.expect(request("bob", alice, bob), map[string]string{"cc": "2"})
	// Not in the database: not found.
	none := secfilter.WriteTestMMDB(t, map[string]string{"192.0.2.0/24": "CN"})
	b, _ = os.ReadFile(none)
	_ = os.WriteFile(mmdb, b, 0o644)
	s.rpcOK("secfilter.reload")
	s.expect(request("bob", alice, bob), map[string]string{"cc": "1"})
}

func TestSQLiChecks(t *testing.T) {
	s := start(t, rulesFile, nil)
	for _, c := range []struct {
		from  string
		extra []string
		want  map[string]string
	}{
		{alice, []string{"X-Value: ' OR 1=1 --"}, map[string]string{"sqli": "1", "sqlihdr": "-1"}},
		{alice, []string{"X-Value: 1 UNION SELECT ha1 FROM subscriber"}, map[string]string{"sqlihdr": "-1"}},
		{alice, []string{"X-Value: Alice Smith"}, map[string]string{"sqlihdr": "1"}},
		{alice, []string{"User-Agent: x' or '1'='1"}, map[string]string{"sqli": "0"}},
		{alice, []string{"User-Agent: scanner UNION SELECT 1"}, map[string]string{"sqli": "0"}},
		{`"Alice Smith" <sip:alice@example.com>`, nil, map[string]string{"sqli": "1"}}, // enclosing quotes are not part of the name
		{`"O'Brien" <sip:obrien@example.com>`, nil, map[string]string{"sqli": "0"}},    // Kamailio flags any apostrophe
		{"<sip:a%27b@example.com>", nil, map[string]string{"sqli": "0"}},
		{alice, []string{"Contact: <sip:1;DROP%20TABLE%20location@192.0.2.1>"}, map[string]string{"sqli": "0"}},
	} {
		s.expect(request("bob", c.from, bob, c.extra...), c.want)
	}
}

func TestRPCAddPrintStats(t *testing.T) {
	s := start(t, rulesFile, nil)
	s.rpcOK("secfilter.add_bl", "ip", "127.0.0.0/8")
	s.expect(request("bob", alice, bob), map[string]string{"ip": "-2"})
	s.rpcOK("secfilter.add_wl", "ip", "127.0.0.1")
	s.expect(request("bob", alice, bob), map[string]string{"ip": "2"})
	s.rpcOK("secfilter.add_dst", "+3490")
	s.expect(request("+3490", alice, bob), map[string]string{"dst": "-2"})

	pr := s.rpcOK("secfilter.print", "ip").(map[string]any)
	ip := pr["IP-Address"].(map[string]any)
	if got := ip["Blacklisted"].([]string); len(got) != 1 || got[0] != "127.0.0.0/8" {
		t.Errorf("print ip blacklisted %v", got)
	}
	if got := ip["Whitelisted"].([]string); len(got) != 1 || got[0] != "127.0.0.1" {
		t.Errorf("print ip whitelisted %v", got)
	}
	if len(pr) != 1 {
		t.Errorf("print ip printed %v", pr)
	}
	all := s.rpcOK("secfilter.print").(map[string]any)
	for _, k := range []string{"Destinations", "User-Agent", "Country", "Domain", "IP-Address", "Username"} {
		if _, ok := all[k]; !ok {
			t.Errorf("print without type lacks %s", k)
		}
	}
	if d := all["Destinations"].(map[string]any)["Blacklisted"].([]string); len(d) != 2 || d[1] != "+3490" {
		t.Errorf("destinations %v", d)
	}

	st := s.rpcOK("secfilter.stats").(map[string]any)
	if bl := st["Blacklist"].(map[string]int64); bl["IP-Address"] != 1 {
		t.Errorf("stats blacklist %v", bl)
	}
	if wl := st["Whitelist"].(map[string]int64); wl["IP-Address"] != 2 {
		t.Errorf("stats whitelist %v", wl) // the add_dst request was allowed by IP too
	}
	if o := st["Other"].(map[string]int64); o["Destination"] != 1 {
		t.Errorf("stats other %v", o)
	}
	s.rpcOK("secfilter.stats_reset")
	st = s.rpcOK("secfilter.stats").(map[string]any)
	if st["Whitelist"].(map[string]int64)["IP-Address"] != 0 {
		t.Error("stats_reset did not reset")
	}

	s.rpcOK("secfilter.del_wl", "ip", "127.0.0.1")
	s.expect(request("bob", alice, bob), map[string]string{"ip": "-2"})
	if _, err := s.rpc("secfilter.del_wl", "ip", "127.0.0.1"); err == nil {
		t.Error("deleting a missing value succeeded")
	}
	for _, bad := range [][]any{{"secfilter.add_bl", "nope", "x"}, {"secfilter.add_bl", "ip", "300.1.1.1/8"}, {"secfilter.add_wl", "ua"}, {"secfilter.add_dst"}, {"secfilter.print", "bogus"}} {
		if _, err := s.rpc(bad[0].(string), bad[1:]...); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

func TestReloadFromFile(t *testing.T) {
	s := start(t, rulesFile, nil)
	s.rpcOK("secfilter.add_bl", "ua", "Linphone")
	s.expect(request("bob", alice, bob, "User-Agent: Linphone/5"), map[string]string{"ua": "-2"})
	// The table is the source of truth: reload drops RPC additions and reads changes.
	if err := os.WriteFile(filepath.Join(s.dir, "secfilter"), []byte(rulesFile+"10:0:0:Zoiper\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if v := s.rpcOK("secfilter.reload"); v != "Data reloaded" {
		t.Fatalf("reload answered %v", v)
	}
	s.expect(request("bob", alice, bob, "User-Agent: Linphone/5"), map[string]string{"ua": "1"})
	s.expect(request("bob", alice, bob, "User-Agent: Zoiper 5"), map[string]string{"ua": "-2"})
	// A broken file keeps the current lists and says why.
	if err := os.WriteFile(filepath.Join(s.dir, "secfilter"), []byte(rulesFile+"11:0:3:not-an-ip\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := s.rpc("secfilter.reload")
	if err == nil || !strings.Contains(err.Message, "line 11") {
		t.Fatalf("reload of a broken file: %v", err)
	}
	s.expect(request("bob", alice, bob, "User-Agent: Zoiper 5"), map[string]string{"ua": "-2"})
	if !s.h.LogContains("keeping the current lists") {
		t.Error("failed reload not logged")
	}
}

func TestReloadDelta(t *testing.T) {
	s := start(t, rulesFile, map[string]any{"reload_delta": 60})
	s.rpcOK("secfilter.reload")
	if _, err := s.rpc("secfilter.reload"); err == nil || err.Message != "ongoing reload" {
		t.Fatalf("second reload within reload_delta: %v", err)
	}
}

// TestNoTable: without db_url the lists are the RPC additions; a reload
// (for the GeoIP database) keeps them, and without anything to reload it
// says so.
func TestNoTable(t *testing.T) {
	mmdb := secfilter.WriteTestMMDB(t, map[string]string{"127.0.0.0/8": "CN"})
	h := kemitest.New(t, script, kemitest.Options{Modules: map[string]map[string]any{"sl": nil,
		"secfilter": {"geoip2_path": mmdb, "reload_delta": 0}}})
	s := &server{t: t, h: h}
	s.rpcOK("secfilter.add_bl", "country", "CN")
	s.expect(request("bob", alice, bob), map[string]string{"cc": "-2"})
	s.rpcOK("secfilter.reload")
	s.expect(request("bob", alice, bob), map[string]string{"cc": "-2"})

	bare := kemitest.New(t, script, kemitest.Options{Modules: map[string]map[string]any{"sl": nil, "secfilter": nil}})
	b := &server{t: t, h: bare}
	if _, err := b.rpc("secfilter.reload"); err == nil || !strings.Contains(err.Message, "no db_url") {
		t.Fatalf("reload without a table: %v", err)
	}
	b.expect(request("bob", alice, bob), map[string]string{"ip": "1", "ua": "1", "cc": "1"})
}
