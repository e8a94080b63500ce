package e2e

import (
	"strings"
	"testing"
)

// TestSandbox: the script cannot reach os, io, debug, dofile, loadfile,
// collectgarbage, require or package; the reply header tells what it saw.
func TestSandbox(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Opts{Script: "sandbox.lua"})
	r := s.KeepaliveOK(t, 200, replyWait)
	if r.Reason != "Sandbox" {
		t.Fatalf("got %q, want 200 Sandbox", r.First)
	}
	h, ok := r.Lookup("x-sandbox")
	if !ok {
		t.Fatalf("no X-Sandbox header in %q", r.Raw)
	}
	got := map[string]string{}
	for _, kv := range strings.Split(h, ";") {
		k, v, _ := strings.Cut(kv, "=")
		got[k] = v
	}
	want := map[string]string{
		"os": "nil", "io": "nil", "dofile": "nil", "loadfile": "nil", "collectgarbage": "nil", "debug": "nil",
		"require": "nil", "package": "nil",
		"string": "table", "table": "table", "math": "table",
		"os.execute": "false", "io.open": "false", "dofile()": "false", "collectgarbage()": "false",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q (header %q)", k, got[k], v, h)
		}
	}
}
