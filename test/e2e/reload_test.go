package e2e

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

func scriptText(t *testing.T, name, reason string) string {
	t.Helper()
	b, err := os.ReadFile(testdata("lua", name))
	if err != nil {
		t.Fatal(err)
	}
	return strings.ReplaceAll(string(b), "__REASON__", reason)
}

// reasonOf sends an OPTIONS and returns the reason phrase of the 200.
func reasonOf(t *testing.T, s *Server) string {
	t.Helper()
	r := s.KeepaliveOK(t, 200, replyWait)
	return r.Reason
}

type luaListEntry struct {
	Index   int    `json:"index"`
	File    string `json:"file"`
	Version int    `json:"version"`
}

func luaVersion(t *testing.T, s *Server) int {
	t.Helper()
	var list []luaListEntry
	s.MustRPC(&list, "app_lua.list")
	if len(list) != 1 {
		t.Fatalf("app_lua.list: %+v, want one script", list)
	}
	if list[0].File != s.Script {
		t.Errorf("app_lua.list file = %q, want %q", list[0].File, s.Script)
	}
	return list[0].Version
}

// TestReload: app_lua.reload and SIGHUP switch to the new script; a script
// with a syntax error is refused with the Lua error and line, and the running
// version keeps answering.
func TestReload(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Opts{Script: "reload.lua", Replace: map[string]string{"__REASON__": "Version One"}, LuaWorkers: 2})
	if got := reasonOf(t, s); got != "Version One" {
		t.Fatalf("before reload: %q", got)
	}
	if v := luaVersion(t, s); v != 1 {
		t.Errorf("app_lua.list version = %d, want 1", v)
	}

	// RPC reload with a changed script.
	s.WriteScript(scriptText(t, "reload.lua", "Version Two"))
	res, rerr, err := s.TryRPC("app_lua.reload")
	if err != nil && !s.Alive() {
		t.Fatalf("app_lua.reload: %v; the server died", err)
	}
	if err != nil {
		t.Fatalf("app_lua.reload: %v", err)
	}
	if rerr != nil {
		t.Fatalf("app_lua.reload: %v", rerr)
	}
	t.Logf("app_lua.reload result: %s", res)
	for i := 0; i < 4; i++ { // every pooled state switches
		if got := reasonOf(t, s); got != "Version Two" {
			t.Fatalf("after RPC reload: %q, want Version Two", got)
		}
	}
	if v := luaVersion(t, s); v != 2 {
		t.Errorf("app_lua.list version = %d, want 2", v)
	}

	// A syntax error: refused, with the Lua error and its line number.
	broken, err := os.ReadFile(testdata("lua", "reload_broken.lua"))
	if err != nil {
		t.Fatal(err)
	}
	s.WriteScript(string(broken))
	_, rerr = s.RPC("app_lua.reload")
	if rerr == nil {
		t.Fatalf("app_lua.reload of a broken script succeeded")
	}
	var data string
	if len(rerr.Data) > 0 {
		if err := json.Unmarshal(rerr.Data, &data); err != nil {
			data = string(rerr.Data)
		}
	}
	text := rerr.Message + " " + data
	t.Logf("app_lua.reload error: code %d, message %q, data %q", rerr.Code, rerr.Message, data)
	if !regexp.MustCompile(`line:? ?5\b|:5:`).MatchString(text) {
		t.Errorf("reload error does not name line 5: %q", text)
	}
	if !strings.Contains(strings.ToLower(text), "syntax error") && !strings.Contains(text, "near") {
		t.Errorf("reload error does not carry the Lua error: %q", text)
	}
	if got := reasonOf(t, s); got != "Version Two" {
		t.Errorf("after a failed reload: %q, want the old Version Two", got)
	}
	if v := luaVersion(t, s); v != 2 {
		t.Errorf("app_lua.list version after a failed reload = %d, want 2", v)
	}
	if n := s.Stat("app_lua:reload_failures"); n != 1 {
		t.Errorf("app_lua:reload_failures = %d, want 1", n)
	}

	// SIGHUP reloads too.
	s.WriteScript(scriptText(t, "reload.lua", "Version Three"))
	s.Signal(syscall.SIGHUP)
	got := ""
	for i := 0; i < 50; i++ {
		if got = reasonOf(t, s); got == "Version Three" {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got != "Version Three" {
		t.Fatalf("after SIGHUP: %q, want Version Three", got)
	}
	if v := luaVersion(t, s); v != 3 {
		t.Errorf("app_lua.list version after SIGHUP = %d, want 3", v)
	}
	// A broken script on SIGHUP is refused as well, and the server keeps running.
	s.WriteScript(string(broken))
	s.Signal(syscall.SIGHUP)
	if !s.WaitLog("SIGHUP reload failed", 3*time.Second) {
		t.Errorf("no \"SIGHUP reload failed\" in the log after a broken script")
	}
	if got := reasonOf(t, s); got != "Version Three" {
		t.Errorf("after a failed SIGHUP reload: %q, want Version Three", got)
	}
}
