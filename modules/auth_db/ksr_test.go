package authdb

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/luasbc/luasbc/kemi/kemitest"
	"github.com/luasbc/luasbc/modules/auth/authtest"
)

var (
	ha1Bob  = authtest.HA1("MD5", "bob", "example.com", "bobpass")
	ha1bBob = authtest.HA1("MD5", "bob@example.com", "example.com", "bobpass")
)

func subscribers() string {
	return `# username domain password [ha1 [ha1b]] [column=value ...]
alice example.com secret - - rpid=+4930111 email_address=alice@example.com
bob   example.com "bob pass" ` + ha1Bob + ` ` + ha1bBob + `
carol other.example carolpass
carol example.com carol2
`
}

func TestFileCalculateHA1(t *testing.T) {
	file := writeFile(t, "subscribers", subscribers())
	s := newHarness(t, map[string]any{"subscriber_file": file, "calculate_ha1": 1, "password_column": "password",
		"load_credentials": "$avp(rpid)=rpid; email_address"}, "")
	rep := s.auth(req{}, &authtest.Client{Username: "alice", Password: "secret"})
	if rc(rep) != "1" || kemitest.StatusCode(rep) != 200 {
		t.Fatalf("alice: %q", rep)
	}
	if avp := authtest.Header(rep, "X-AVP"); !strings.Contains(avp, "rpid=+4930111 email=alice@example.com") {
		t.Errorf("load_credentials: %q", avp)
	}
	// A password with a blank, quoted in the file.
	bob := req{From: "<sip:bob@example.com>;tag=b", To: "<sip:bob@example.com>"}
	if rep := s.auth(bob, &authtest.Client{Username: "bob", Password: "bob pass"}); rc(rep) != "1" {
		t.Fatalf("bob: %q", rep)
	}
	// Wrong password: -2, no AVPs; unknown user: -3.
	rep = s.auth(req{}, &authtest.Client{Username: "alice", Password: "guess"})
	if rc(rep) != "-2" || kemitest.StatusCode(rep) != 401 || !strings.Contains(authtest.Header(rep, "X-AVP"), "rpid=<null>") {
		t.Fatalf("wrong password: %q", rep)
	}
	dave := req{From: "<sip:dave@example.com>;tag=d", To: "<sip:dave@example.com>"}
	if rep := s.auth(dave, &authtest.Client{Username: "dave", Password: "x"}); rc(rep) != "-3" {
		t.Fatalf("unknown user: %q", rep)
	}
	// auth_check flags 1: alice may not register bob.
	asBob := req{From: "<sip:bob@example.com>;tag=b", To: "<sip:bob@example.com>"}
	if rep := s.auth(asBob, &authtest.Client{Username: "alice", Password: "secret"}); rc(rep) != "-8" {
		t.Fatalf("identity: %q", rep)
	}
	// ... flags 0 skips that; INVITE with flags 3 skips the From check.
	asBob.Headers = []string{"X-Flags: 0"}
	if rep := s.auth(asBob, &authtest.Client{Username: "alice", Password: "secret"}); rc(rep) != "1" {
		t.Fatalf("flags 0: %q", rep)
	}
	inv := req{Method: "INVITE", RURI: "sip:bob@example.com", From: "<sip:anonymous@anonymous.invalid>;tag=a",
		To: "<sip:bob@example.com>", Headers: []string{"X-Flags: 3"}}
	if rep := s.auth(inv, &authtest.Client{Username: "alice", Password: "secret"}); rc(rep) != "1" {
		t.Fatalf("INVITE flags 3: %q", rep)
	}
	inv.Headers = []string{"X-Flags: 1"}
	if rep := s.auth(inv, &authtest.Client{Username: "alice", Password: "secret"}); rc(rep) != "-8" {
		t.Fatalf("INVITE flags 1: %q", rep)
	}
	// SHA-256 works from plain passwords.
	sha := req{Headers: []string{"X-Op: www"}}
	rep = s.send(sha)
	ch := authtest.Challenges(rep)[0]
	ch.Algorithm = "SHA-256" // not offered: the nonce is MD5's, so refused
	if rep := s.send(sha.WithAnswer(&authtest.Client{Username: "alice", Password: "secret"}, ch, "auth")); rc(rep) != "-1" {
		t.Fatalf("SHA-256 answer to an MD5 challenge: %q", rep)
	}
}

func TestFileSHA256(t *testing.T) {
	ha1 := authtest.HA1("SHA-256", "erin", "example.com", "erinpass")
	file := writeFile(t, "subscribers", subscribers()+"erin example.com - "+ha1+"\n")
	sha := map[string]any{"algorithm": "SHA-256"}
	auth := func(h *harness, user, pass string) string {
		r := req{From: "<sip:" + user + "@example.com>;tag=x", To: "<sip:" + user + "@example.com>"}
		rep := h.auth(r, &authtest.Client{Username: user, Password: pass})
		return rc(rep)
	}
	// calculate_ha1 1: the SHA-256 HA1 is computed from the password.
	s := newHarnessAuth(t, sha, map[string]any{"subscriber_file": file, "calculate_ha1": 1, "password_column": "password"})
	if got := auth(s, "alice", "secret"); got != "1" {
		t.Errorf("SHA-256 from the password: %s", got)
	}
	// calculate_ha1 0: the ha1 column must hold a SHA-256 HA1; an MD5 one
	// cannot answer a SHA-256 challenge (-1, logged).
	s = newHarnessAuth(t, sha, map[string]any{"subscriber_file": file})
	if got := auth(s, "erin", "erinpass"); got != "1" {
		t.Errorf("SHA-256 HA1 column: %s", got)
	}
	if got := auth(s, "bob", "bobpass"); got != "-1" || !s.h.LogContains("SHA-256 needs 64") {
		t.Errorf("MD5 HA1 for SHA-256: %s", got)
	}
}

func TestFileHA1Columns(t *testing.T) {
	file := writeFile(t, "subscribers", subscribers())
	s := newHarness(t, map[string]any{"subscriber_file": file}, "") // calculate_ha1 0: ha1 / ha1b
	bob := req{From: "<sip:bob@example.com>;tag=b", To: "<sip:bob@example.com>"}
	if rep := s.auth(bob, &authtest.Client{Username: "bob", Password: "bob pass"}); rc(rep) != "-2" {
		// ha1 was computed from "bobpass", the file's password column is not used
		t.Fatalf("bob with the password column's value: %q", rep)
	}
	if rep := s.auth(bob, &authtest.Client{Username: "bob", Password: "bobpass"}); rc(rep) != "1" {
		t.Fatalf("bob via ha1: %q", rep)
	}
	// A username with a domain selects ha1b (password_column_2).
	if rep := s.auth(bob, &authtest.Client{Username: "bob@example.com", Password: "bobpass"}); rc(rep) != "1" {
		t.Fatalf("bob@example.com via ha1b: %q", rep)
	}
	// alice has no HA1: never authenticated (not even with an empty password).
	if rep := s.auth(req{}, &authtest.Client{Username: "alice", Password: ""}); rc(rep) != "-1" {
		t.Fatalf("alice without ha1: %q", rep)
	}
}

func TestUseDomainAndIsSubscriber(t *testing.T) {
	file := writeFile(t, "subscribers", subscribers())
	s := newHarness(t, map[string]any{"subscriber_file": file, "calculate_ha1": 1, "password_column": "password",
		"use_domain": 1, "load_credentials": "rpid"}, "")
	carol := req{From: "<sip:carol@example.com>;tag=c", To: "<sip:carol@example.com>"}
	if rep := s.auth(carol, &authtest.Client{Username: "carol", Password: "carol2"}); rc(rep) != "1" {
		t.Fatalf("carol@example.com: %q", rep)
	}
	// Realm other.example selects the other carol.
	oc := carol
	oc.Headers = []string{"X-Realm: other.example", "X-Flags: 0"}
	if rep := s.auth(oc, &authtest.Client{Username: "carol", Password: "carolpass"}); rc(rep) != "1" {
		t.Fatalf("carol@other.example: %q", rep)
	}
	if rep := s.auth(oc, &authtest.Client{Username: "carol", Password: "carol2"}); rc(rep) != "-2" {
		t.Fatalf("carol@other.example with the other password: %q", rep)
	}
	sub := func(uri string, flags string) string {
		return s.send(req{Method: "OPTIONS", Headers: []string{"X-Op: subs", "X-URI: " + uri, "X-Flags: " + flags}})
	}
	if rep := sub("sip:alice@example.com", "1"); rc(rep) != "1" || !strings.Contains(authtest.Header(rep, "X-AVP"), "rpid=+4930111") {
		t.Errorf("is_subscriber alice: %q", rep)
	}
	if rep := sub("sip:alice@example.com", "3"); rc(rep) != "1" || !strings.Contains(authtest.Header(rep, "X-AVP"), "rpid=<null>") {
		t.Errorf("is_subscriber alice, flags 3: %q", rep)
	}
	if rep := sub("sip:alice@other.example", "1"); rc(rep) != "-2" {
		t.Errorf("is_subscriber alice@other.example: %q", rep)
	}
	if rep := sub("sip:alice@other.example", "0"); rc(rep) != "1" {
		t.Errorf("is_subscriber alice ignoring the domain: %q", rep)
	}
	if rep := sub("not a uri", "0"); rc(rep) != "-1" {
		t.Errorf("is_subscriber bad URI: %q", rep)
	}
}

func TestFileReloadRPC(t *testing.T) {
	file := writeFile(t, "subscribers", "alice example.com secret\n")
	s := newHarness(t, map[string]any{"subscriber_file": file, "calculate_ha1": 1, "password_column": "password"}, "")
	dave := req{From: "<sip:dave@example.com>;tag=d", To: "<sip:dave@example.com>"}
	if rep := s.auth(dave, &authtest.Client{Username: "dave", Password: "d"}); rc(rep) != "-3" {
		t.Fatalf("dave before: %q", rep)
	}
	if err := os.WriteFile(file, []byte("alice example.com secret\ndave example.com d\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if res, err := s.h.RPC.Call(context.Background(), "auth_db.reload", nil); err != nil {
		t.Fatalf("reload: %v", err)
	} else if res.(map[string]any)["subscribers"] != 2 {
		t.Fatalf("reload: %v", res)
	}
	if rep := s.auth(dave, &authtest.Client{Username: "dave", Password: "d"}); rc(rep) != "1" {
		t.Fatalf("dave after: %q", rep)
	}
	// A broken file keeps the loaded subscribers.
	if err := os.WriteFile(file, []byte("dave\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := s.h.RPC.Call(context.Background(), "auth_db.reload", nil); err == nil || !strings.Contains(err.Message, ":1:") {
		t.Fatalf("broken reload: %v", err)
	}
	if rep := s.auth(dave, &authtest.Client{Username: "dave", Password: "d"}); rc(rep) != "1" {
		t.Fatalf("dave after a failed reload: %q", rep)
	}
}

// A subscriber file that does not exist yet is no subscribers, not a start
// failure (the embedded default names one); reload reads it once written.
func TestFileMissing(t *testing.T) {
	file := filepath.Join(t.TempDir(), "subscribers")
	s := newHarness(t, map[string]any{"subscriber_file": file, "calculate_ha1": 1, "password_column": "password"}, "")
	dave := req{From: "<sip:dave@example.com>;tag=d", To: "<sip:dave@example.com>"}
	if rep := s.auth(dave, &authtest.Client{Username: "dave", Password: "d"}); rc(rep) != "-3" {
		t.Fatalf("dave without a file: %q", rep)
	}
	if err := os.WriteFile(file, []byte("dave example.com d\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := s.h.RPC.Call(context.Background(), "auth_db.reload", nil); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if rep := s.auth(dave, &authtest.Client{Username: "dave", Password: "d"}); rc(rep) != "1" {
		t.Fatalf("dave after the file was written: %q", rep)
	}
}

func TestStartErrors(t *testing.T) {
	for name, p := range map[string]map[string]any{
		"no storage":       {},
		"bad credentials":  {"subscriber_file": writeFile(t, "s", "a b c\n"), "load_credentials": "$avp(x)="},
		"bad column":       {"subscriber_file": writeFile(t, "s", "a b c\n"), "password_column": "pass word"},
		"read-only target": {"subscriber_file": writeFile(t, "s", "a b c\n"), "load_credentials": "$si=rpid"},
	} {
		err := tryStart(t, p, "")
		if err == nil {
			t.Errorf("%s: started", name)
			continue
		}
		t.Logf("%s: %v", name, err)
	}
}
