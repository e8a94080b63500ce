package permissions_test

import (
	"os"
	"strings"
	"testing"
)

// editExprs check 10.0.0.9 in group 1 (any port, 5060) and the trusted
// table for 10.0.0.7 over UDP with the request's From (alice).
var editExprs = []string{
	`KSR.permissions.allow_address(1, "10.0.0.9", 5060)`,
	`KSR.permissions.allow_address(1, "10.0.0.9", 5061)`,
	`KSR.permissions.allow_address(2, "10.1.2.3", 0)`,
	`KSR.permissions.allow_trusted_src_proto("10.0.0.7", "udp")`,
}

// edits runs the same edits against a server whatever its source is, and
// checks allow_* after each.
func edits(t *testing.T, s *server) {
	t.Helper()
	s.want(s.eval(0, "OPTIONS", "sip:x@y"), "-1", "-1", "-1", "-1")
	for _, c := range [][]any{{1, "10.0.0.9", 5060, "gw"}, {"2", "10.1.0.0/16"}} {
		if res, err := s.rpc("permissions.addressAdd", c...); err != nil || res != "Added" {
			t.Fatalf("addressAdd %v: %v %v", c, res, err)
		}
	}
	if res, err := s.rpc("permissions.trustedAdd", "10.0.0.7", "udp", "^sip:alice@", "peer"); err != nil || res != "Added" {
		t.Fatalf("trustedAdd: %v %v", res, err)
	}
	s.want(s.eval(0, "OPTIONS", "sip:x@y"), "1", "-1", "1", "1")
	show, _ := s.rpc("permissions.addressShow")
	if j := asJSON(show); !strings.Contains(j, `"group":1,"ip":"10.0.0.9","mask":32,"port":5060,"tag":"gw"`) ||
		!strings.Contains(j, `"group":2,"ip":"10.1.0.0","mask":16,"port":0,"tag":"NULL"`) {
		t.Errorf("addressShow: %s", j)
	}
	// With db_mode 0 there is no cached trusted table to dump.
	if dump, err := s.rpc("permissions.trustedDump"); err == nil && !strings.Contains(asJSON(dump), `"ip":"10.0.0.7","pattern":"^sip:alice@","priority":0,"proto":1`) {
		t.Errorf("trustedDump: %s", asJSON(dump))
	}

	// Invalid records are refused before anything changes.
	for _, c := range [][]any{{0, "10.0.0.1"}, {1, "10.0.0.300"}, {1, "10.0.0.1/40"}, {1, "0.0.0.0/0"}, {1, "10.0.0.1", 70000}, {1}} {
		if _, err := s.rpc("permissions.addressAdd", c...); err == nil || err.Code != 400 {
			t.Errorf("addressAdd %v: %+v, want 400", c, err)
		}
	}
	for _, c := range [][]any{{"10.0.0.8", "carrier-pigeon"}, {"10.0.0.8", "udp", `\(`}} {
		if _, err := s.rpc("permissions.trustedAdd", c...); err == nil || err.Code != 400 {
			t.Errorf("trustedAdd %v: %+v, want 400", c, err)
		}
	}

	if res, err := s.rpc("permissions.addressRm", 1, "10.0.0.9"); err != nil || asJSON(res) != `{"removed":1}` {
		t.Fatalf("addressRm: %v %v", res, err)
	}
	if _, err := s.rpc("permissions.addressRm", 1, "10.0.0.9"); err == nil || err.Code != 404 {
		t.Errorf("second addressRm: %+v, want 404", err)
	}
	// With a mask, only that subnet goes.
	if _, err := s.rpc("permissions.addressRm", 2, "10.1.0.0/24"); err == nil || err.Code != 404 {
		t.Errorf("addressRm of another mask: %+v, want 404", err)
	}
	if _, err := s.rpc("permissions.trustedRm", "10.0.0.7"); err != nil {
		t.Fatalf("trustedRm: %v", err)
	}
	s.want(s.eval(0, "OPTIONS", "sip:x@y"), "-1", "-1", "1", "-1")
}

func TestEditFiles(t *testing.T) {
	dir := t.TempDir()
	const addrHead = "# gateways\n3 192.0.2.1 32 0 keep # stays as written\n"
	addr := writeFile(t, dir, "address.list", addrHead)
	trusted := writeFile(t, dir, "trusted.list", "")
	s := start(t, map[string]any{"address_file": addr, "trusted_file": trusted}, editExprs)
	edits(t, s)
	data, _ := os.ReadFile(addr)
	if string(data) != addrHead+"2 10.1.0.0 16 0\n" {
		t.Errorf("address file after the edits:\n%s", data)
	}
	if data, _ := os.ReadFile(trusted); len(strings.TrimSpace(string(data))) != 0 {
		t.Errorf("trusted file after add and rm: %q", data)
	}
	// Fields with blanks, quotes and backslashes read back as written.
	if _, err := s.rpc("permissions.trustedAdd", "10.0.0.8", "any", `^sip:"a b"@x\.y$`, "#tag"); err != nil {
		t.Fatalf("trustedAdd: %v", err)
	}
	if data, _ := os.ReadFile(trusted); string(data) != `10.0.0.8 any "^sip:\"a b\"@x\\.y$" - "#tag" 0`+"\n" {
		t.Errorf("trusted file: %s", data)
	}
	if res, err := s.rpc("permissions.trustedReload"); err != nil || res != "Reload OK" {
		t.Fatalf("reload of the written file: %v %v", res, err)
	}
	dump, _ := s.rpc("permissions.trustedDump")
	if j := asJSON(dump); !strings.Contains(j, `"pattern":"^sip:\"a b\"@x\\.y$"`) || !strings.Contains(j, `"tag":"#tag"`) {
		t.Errorf("trustedDump: %s", j)
	}
}

func TestEditPostgres(t *testing.T) {
	url, pool := pgSchema(t)
	// db_mode 0 (no trusted cache) and a reload_delta that an edit must not wait for.
	s := start(t, map[string]any{"db_url": url, "reload_delta": 60}, editExprs)
	edits(t, s)
	var n int
	if err := pool.QueryRow(t.Context(), "SELECT count(*) FROM address WHERE grp = 2 AND mask = 16").Scan(&n); err != nil || n != 1 {
		t.Errorf("address rows of group 2: %d %v", n, err)
	}
}

func TestEditWithoutSource(t *testing.T) {
	s := start(t, map[string]any{}, editExprs)
	if _, err := s.rpc("permissions.addressAdd", 1, "10.0.0.9"); err == nil || !strings.Contains(err.Message, "no source") {
		t.Errorf("addressAdd without a source: %+v", err)
	}
}
