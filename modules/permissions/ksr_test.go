package permissions_test

import (
	"strconv"
	"strings"
	"testing"
)

func TestAddressFunctions(t *testing.T) {
	dir := t.TempDir()
	addr := writeFile(t, dir, "address.list", `
1 127.0.0.1 32 0 loopback
2 127.0.0.0 8 1 wrong-port
3 10.0.0.0 8 0 net10
3 10.1.0.0 16 5060 net10-1
4 10.1.2.3 32 0 host
5 2001:db8::/32 0 0 v6
6 gw.example.com 0 5060 gw
`)
	s := start(t, map[string]any{"address_file": addr, "peer_tag_avp": "$avp(ptag)", "reload_delta": 0},
		[]string{
			`KSR.permissions.allow_source_address(1)`,
			`KSR.pv.get("$avp(ptag)")`,
			`KSR.permissions.allow_source_address(2)`, // port 1 only
			`KSR.permissions.allow_source_address(9)`,
			`KSR.permissions.allow_source_address_group()`,
			`KSR.permissions.allow_address(3, "10.200.0.1", 7)`,
			`KSR.permissions.allow_address(3, "10.1.9.9", 5060)`,
			`KSR.permissions.allow_address(3, "11.0.0.1", 5060)`,
			`KSR.permissions.allow_address(5, "[2001:db8:1::5]", 5060)`,
			`KSR.permissions.allow_address(5, "2001:db9::5", 5060)`,
			`KSR.permissions.allow_address(6, "gw.example.com", 5060)`,
			`KSR.permissions.allow_address(6, "gw.example.com", 5070)`,
			`KSR.permissions.allow_address("3", "10.0.0.1", "5060")`, // Lua coercion of int params
			`KSR.permissions.allow_address_group("10.1.2.3", 5060)`,  // exact host beats the subnets
			`KSR.permissions.allow_address_group("10.9.9.9", 0)`,
			`KSR.permissions.allow_address_group("192.0.2.1", 0)`,
			`KSR.permissions.allow_address_group("gw.example.com", 5060)`,
			`KSR.permissions.allow_address(0, "10.0.0.1", 0)`,
			`KSR.permissions.allow_source_address()`, // too few arguments: false, as in app_lua
		},
		[]string{
			// The tag AVP stacks values: each match adds one. Within a
			// group the first loaded subnet wins (net10, not net10-1).
			`KSR.permissions.allow_address(3, "10.1.0.1", 5060)`,
			`KSR.permissions.allow_address(4, "10.1.2.3", 0)`,
			`KSR.pv.get("$(avp(ptag)[*])")`,
		})
	got := s.eval(0, "OPTIONS", "sip:x@127.0.0.1")
	s.want(got, "1", "loopback", "-1", "-1", "1", "1", "1", "-1", "1", "-1", "1", "-1", "1", "4", "3", "-1", "6", "-1", "false")
	got = s.eval(1, "OPTIONS", "sip:x@127.0.0.1")
	s.want(got, "1", "1", "host,net10")
}

func TestLongestPrefixMode(t *testing.T) {
	addr := writeFile(t, t.TempDir(), "address.list", "5 10.0.0.0 8\n6 10.1.0.0 16\n")
	s := start(t, map[string]any{"address_file": addr, "subnet_match_mode": 1},
		[]string{`KSR.permissions.allow_address_group("10.1.2.3", 0)`, `KSR.permissions.allow_address_group("10.2.2.3", 0)`})
	s.want(s.eval(0, "OPTIONS", "sip:x@127.0.0.1"), "6", "5")
}

func TestTrustedFunctions(t *testing.T) {
	dir := t.TempDir()
	trusted := writeFile(t, dir, "trusted.list", `
# src_ip   proto from_pattern               ruri_pattern          tag    priority
127.0.0.1  udp   "^sip:alice@example\.com$"  -                     alice  10
127.0.0.1  any   -                           "^sip:911@"           sos    20
127.0.0.1  tcp   -                           -                     tcp    30
10.0.0.1   any   -                           -                     peer   0
`)
	exprs := []string{
		`KSR.permissions.allow_trusted()`,
		`KSR.pv.get("$avp(t)")`,
		`KSR.permissions.allow_trusted_src_proto("127.0.0.1", "TCP")`,
		`KSR.permissions.allow_trusted_src_proto("127.0.0.1", "ws")`,
		`KSR.permissions.allow_trusted_src_proto("10.0.0.1", "any")`,
		`KSR.permissions.allow_trusted_src_proto("10.0.0.1", "bogus")`,
		`KSR.permissions.allow_trusted_furi("127.0.0.1", "udp", "sip:bob@example.com")`,
		`KSR.permissions.allow_trusted_furi("127.0.0.1", "udp", "sip:alice@example.com")`,
	}
	s := start(t, map[string]any{"trusted_file": trusted, "peer_tag_avp": "$avp(t)"}, exprs)
	s.want(s.eval(0, "INVITE", "sip:bob@example.com"), "1", "alice", "1", "-1", "1", "-1", "-1", "1")
	// The R-URI pattern of the higher priority entry matches now.
	s.want(s.eval(0, "INVITE", "sip:911@example.com")[:2], "1", "sos")

	// peer_tag_mode 1: every match adds its tag and the count is returned.
	s2 := start(t, map[string]any{"trusted_file": trusted, "peer_tag_avp": "$avp(t)", "peer_tag_mode": 1},
		[]string{`KSR.permissions.allow_trusted()`, `KSR.pv.get("$(avp(t)[*])")`,
			`KSR.permissions.allow_trusted_furi("127.0.0.1", "any", "sip:alice@example.com")`})
	s2.want(s2.eval(0, "INVITE", "sip:911@x"), "2", "alice,sos", "3")
}

func reqFrom(s string, from string) string {
	return strings.Replace(s, "From: <sip:alice@example.com>", "From: <"+from+">", 1)
}

func TestRuleFiles(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "permissions.allow", `"^sip:alice@" : ALL`)
	writeFile(t, dir, "permissions.deny", `ALL : "^sip:.*@forbidden\.example$"`)
	writeFile(t, dir, "reg.allow", `"^sip:admin@" : ALL`)
	writeFile(t, dir, "reg.deny", `ALL : "1\.2\.3\.4"`)
	writeFile(t, dir, "uri.deny", `"^sip:alice@" : "^sip:.*@pstn" EXCEPT "^sip:112@pstn"`)
	writeFile(t, dir, "broken.allow", "ALL : ALL : ALL\n")
	writeFile(t, dir, "files-a", `ALL : "^sip:ok@"`)
	writeFile(t, dir, "files-d", `ALL : ALL`)
	s := start(t, map[string]any{
		"default_allow_file": dir + "/permissions.allow",
		"default_deny_file":  dir + "/permissions.deny",
	},
		[]string{`KSR.permissions.allow_routing()`},
		[]string{`KSR.corex.append_branch_uri("sip:x@forbidden.example")`, `KSR.permissions.allow_routing()`},
		[]string{`KSR.permissions.allow_register("` + dir + `/reg")`, `KSR.permissions.allow_register_files("` + dir + `/reg.allow", "` + dir + `/reg.deny")`},
		[]string{
			`KSR.pv.sets("$avp(dst)", "sip:999@pstn")`,
			`KSR.permissions.allow_uri("` + dir + `/uri", "$avp(dst)")`,
			`KSR.permissions.allow_uri("` + dir + `/uri", "sip:112@pstn")`,
			`KSR.permissions.allow_uri("` + dir + `/uri", "sip:999@other")`,
			`KSR.permissions.allow_uri("` + dir + `/uri", "$avp(unset)")`,
			`KSR.permissions.allow_uri("` + dir + `/nofiles", "sip:999@pstn")`,
			`KSR.permissions.allow_routing_basename("` + dir + `/broken")`,
			`KSR.permissions.allow_routing_files("` + dir + `/files-a", "` + dir + `/files-d")`,
		})

	send := func(i int, method, ruri, from string, hdrs ...string) []string {
		raw := reqFrom(kemitestRequest(method, ruri, append(hdrs, "X-Eval: "+strconv.Itoa(i))...), from)
		return s.evalRaw(raw)
	}
	// alice may call anywhere (allow file), bob not into forbidden.example.
	s.want(send(0, "INVITE", "sip:x@forbidden.example", "sip:alice@example.com"), "1")
	s.want(send(0, "INVITE", "sip:x@forbidden.example", "sip:bob@example.com"), "-1")
	s.want(send(0, "INVITE", "sip:x@ok.example", "sip:bob@example.com"), "1")
	// Branches are checked too (check_all_branches=1).
	s.want(send(1, "INVITE", "sip:x@ok.example", "sip:bob@example.com"), "1", "-1")
	s.want(send(1, "INVITE", "sip:x@ok.example", "sip:alice@example.com"), "1", "1")

	// allow_register: To with each Contact.
	reg := func(to string, contacts ...string) []string {
		raw := kemitestRequest("REGISTER", "sip:example.com", append(contacts, "X-Eval: 2")...)
		raw = strings.Replace(raw, "To: <sip:bob@example.com>", "To: <"+to+">", 1)
		return s.evalRaw(raw)
	}
	s.want(reg("sip:bob@example.com", "Contact: <sip:bob@5.6.7.8:5060>"), "1", "1")
	s.want(reg("sip:bob@example.com", "Contact: <sip:bob@5.6.7.8>, <sip:bob@1.2.3.4;transport=tcp>"), "-1", "-1")
	s.want(reg("sip:bob@example.com", "Contact: <sip:bob@5.6.7.8>", "Contact: sip:bob@1.2.3.4"), "-1", "-1")
	s.want(reg("sip:admin@example.com", "Contact: <sip:admin@1.2.3.4>"), "1", "1")
	s.want(reg("sip:bob@example.com", "Contact: *", "Expires: 0"), "1", "1")
	s.want(reg("sip:bob@example.com"), "1", "1")

	// allow_uri: From with a URI from a PV or given as a value.
	s.want(send(3, "INVITE", "sip:x@y", "sip:alice@example.com"), "true", "-1", "1", "1", "-1", "1", "-1", "-1")
	s.want(send(3, "INVITE", "sip:x@y", "sip:ok@example.com")[1:3], "1", "1")
	if !s.h.LogContains("second ':'") {
		t.Error("the broken rule file was not reported")
	}

	// permissions.testUri / allowUri use the same files.
	for _, m := range []string{"permissions.testUri", "permissions.allowUri"} {
		if res, err := s.rpc(m, dir+"/uri", "sip:alice@x", "sip:999@pstn"); err != nil || res != "Denied" {
			t.Errorf("%s: %v %v", m, res, err)
		}
		if res, err := s.rpc(m, dir+"/uri", "sip:alice@x", "sip:112@pstn"); err != nil || res != "Allowed" {
			t.Errorf("%s: %v %v", m, res, err)
		}
	}
	if _, err := s.rpc("permissions.testUri", dir+"/uri"); err == nil || !strings.Contains(err.Message, "Not enough parameters") {
		t.Errorf("testUri without enough parameters: %v", err)
	}
	if _, err := s.rpc("permissions.testUri", dir+"/broken", "a", "b"); err == nil {
		t.Error("testUri with a broken file succeeded")
	}
}
