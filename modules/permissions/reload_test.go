package permissions_test

import (
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/luasbc/luasbc/core/config"
	"github.com/luasbc/luasbc/kemi"
)

func TestReloadFromFile(t *testing.T) {
	dir := t.TempDir()
	addr := writeFile(t, dir, "address.list", "1 10.0.0.1\n")
	trusted := writeFile(t, dir, "trusted.list", "10.0.0.1 any - - old\n")
	s := start(t, map[string]any{"address_file": addr, "trusted_file": trusted, "reload_delta": 0},
		[]string{
			`KSR.permissions.allow_address(1, "10.0.0.1", 0)`,
			`KSR.permissions.allow_address(1, "10.0.0.2", 0)`,
			`KSR.permissions.allow_trusted_src_proto("10.0.0.1", "any")`,
			`KSR.permissions.allow_trusted_src_proto("10.0.0.2", "any")`,
		})
	s.want(s.eval(0, "OPTIONS", "sip:x@y"), "1", "-1", "1", "-1")

	// A good file replaces the table.
	writeFile(t, dir, "address.list", "1 10.0.0.2\n")
	writeFile(t, dir, "trusted.list", "10.0.0.2 any - - new\n")
	for _, m := range []string{"permissions.addressReload", "permissions.trustedReload"} {
		if res, err := s.rpc(m); err != nil || res != "Reload OK" {
			t.Fatalf("%s: %v %v", m, res, err)
		}
	}
	s.want(s.eval(0, "OPTIONS", "sip:x@y"), "-1", "1", "-1", "1")

	// A broken file fails the reload with the reason; the loaded data stays.
	writeFile(t, dir, "address.list", "1 10.0.0.3\n1 10.0.0.300\n")
	writeFile(t, dir, "trusted.list", "10.0.0.3 any \"\\(\" - broken\n")
	for m, want := range map[string]string{
		"permissions.addressReload": "address.list:2",
		"permissions.trustedReload": "trusted.list:1",
	} {
		res, err := s.rpc(m)
		if err == nil || err.Code != 500 || err.Message != "Reload failed." || !strings.Contains(asJSON(err.Data), want) {
			t.Errorf("%s: %v %+v, want a failure naming %s", m, res, err, want)
		}
	}
	s.want(s.eval(0, "OPTIONS", "sip:x@y"), "-1", "1", "-1", "1")

	// A missing file too.
	writeFile(t, dir, "address.list", "")
	if err := removeFile(addr); err != nil {
		t.Fatal(err)
	}
	if _, err := s.rpc("permissions.addressReload"); err == nil || !strings.Contains(asJSON(err.Data), "no such file") {
		t.Errorf("missing file: %+v", err)
	}
	s.want(s.eval(0, "OPTIONS", "sip:x@y"), "-1", "1", "-1", "1")
	if !s.h.LogContains("reload failed") {
		t.Error("failed reload not logged")
	}
}

func TestReloadRateLimit(t *testing.T) {
	addr := writeFile(t, t.TempDir(), "address.list", "1 10.0.0.1\n")
	s := start(t, map[string]any{"address_file": addr, "reload_delta": 60}, []string{"1"})
	if res, err := s.rpc("permissions.addressReload"); err != nil || res != "Reload OK" {
		t.Fatalf("first reload: %v %v", res, err)
	}
	// The limit is shared by both tables, as in Kamailio.
	for _, m := range []string{"permissions.addressReload", "permissions.trustedReload"} {
		if _, err := s.rpc(m); err == nil || err.Message != "ongoing reload" {
			t.Errorf("%s right after a reload: %+v", m, err)
		}
	}
}

func TestDumps(t *testing.T) {
	dir := t.TempDir()
	addr := writeFile(t, dir, "address.list", "1 10.0.0.1 32 5060 a\n2 10.1.0.0 16\n3 2001:db8::/64 0 0 v6\n4 Gw.Example.com\n")
	trusted := writeFile(t, dir, "trusted.list", "10.0.0.1 tcp \"^sip:a\" - t1 1\n10.0.0.2 any - - - 9\n")
	s := start(t, map[string]any{"address_file": addr, "trusted_file": trusted}, []string{"1"})
	check := func(method string, want ...string) {
		t.Helper()
		res, err := s.rpc(method)
		if err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		j := asJSON(res)
		for _, w := range want {
			if !strings.Contains(j, w) {
				t.Errorf("%s: %s lacks %s", method, j, w)
			}
		}
	}
	check("permissions.addressDump", `"group":1`, `"ip":"10.0.0.1"`, `"port":5060`, `"tag":"a"`)
	check("permissions.subnetDump", `"ip":"10.1.0.0"`, `"mask":16`, `"ip":"2001:db8::"`, `"mask":64`, `"tag":"v6"`)
	check("permissions.domainDump", `"domain_name":"gw.example.com"`, `"tag":"NULL"`)
	// Highest priority first.
	res, _ := s.rpc("permissions.trustedDump")
	j := asJSON(res)
	if !strings.Contains(j, `"ip":"10.0.0.1","pattern":"^sip:a","priority":1,"proto":2`) ||
		strings.Index(j, "10.0.0.2") > strings.Index(j, "10.0.0.1") {
		t.Errorf("trustedDump: %s", j)
	}
}

// newEngine builds an engine the way sbc --check does (no core), from a
// config file in dir.
func newEngine(t *testing.T, dir string, params map[string]any) error {
	t.Helper()
	cfg, err := config.Parse([]byte("lua: {load: script.lua}\n"), dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg.File = dir + "/sbc.yaml"
	cfg.Modules = map[string]map[string]any{"permissions": params}
	_, err = kemi.NewEngine(nil, cfg, zap.NewNop(), nil)
	return err
}

func TestStartupErrors(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "bad.addr", "1 10.0.0.1\n1 10.0.0.0 33\n")
	writeFile(t, dir, "bad.trusted", "10.0.0.1 carrier-pigeon\n")
	writeFile(t, dir, "bad.allow", "ALL\n")
	writeFile(t, dir, "good.addr", "1 10.0.0.0 8\n1 11.0.0.0 8\n")
	for _, tc := range []struct {
		params map[string]any
		want   string
	}{
		{map[string]any{"address_file": "bad.addr"}, "bad.addr:2: address \"10.0.0.0\": mask 33"},
		{map[string]any{"address_file": "missing.addr"}, "address_file: "},
		{map[string]any{"trusted_file": "bad.trusted"}, "bad.trusted:1: protocol \"carrier-pigeon\""},
		{map[string]any{"default_allow_file": "bad.allow"}, "bad.allow:1: no ':'"},
		{map[string]any{"address_file": "good.addr", "max_subnets": 1}, "max_subnets (1)"},
		{map[string]any{"peer_tag_avp": "$var(x)"}, "peer_tag_avp"},
		{map[string]any{"db_mode": 2}, "db_mode 2"},
		{map[string]any{"subnet_match_mode": 3}, "subnet_match_mode 3"},
		{map[string]any{"address_tabel": "x"}, `did you mean "address_table"`},
	} {
		err := newEngine(t, dir, tc.params)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want %q", tc.params, err, tc.want)
		}
	}
	// Files that load (a missing rule file is an empty one).
	if err := newEngine(t, dir, map[string]any{"address_file": "good.addr", "default_deny_file": "none.deny",
		"trusted_cleanup_interval": 10}); err != nil {
		t.Errorf("good config: %v", err)
	}
	// load_backends without the address bit does not read the file.
	if err := newEngine(t, dir, map[string]any{"address_file": "bad.addr", "load_backends": 2}); err != nil {
		t.Errorf("load_backends=2: %v", err)
	}
}
