package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheck: sbc --check loads config, script and modules (with their
// backends) without opening a socket, and names what is wrong.
func TestCheck(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(repoRoot, "lua", "default.lua")
	for _, tc := range []struct {
		name, cfg, want string
		ok              bool
	}{
		{"default script", "lua: {load: " + script + "}\nmodules: {" + strings.Join(defaultModules, ", ") + "}\n", "OK", true},
		{"unknown module", "lua: {load: " + script + "}\nmodules: {sl: {}, maxfwdd: {}}\n", `did you mean "maxfwd"`, false},
		{"bad modparam", "lua: {load: " + script + "}\nmodules: {sl: {}, tm: {fr_timerr: 1}}\n", `"fr_timer"`, false},
		{"script syntax", "lua: {load: bad.lua}\nmodules: {sl: {}}\n", "line", false},
		{"backend down", "lua: {load: " + script + "}\nmodules: {" + strings.Join(defaultModules, ", ") +
			", secfilter: {db_url: \"postgres://nobody@127.0.0.1:1/x?connect_timeout=1\"}}\n", "secfilter", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".yaml")
			if err := os.WriteFile(cfg, []byte(tc.cfg), 0o644); err != nil {
				t.Fatal(err)
			}
			_ = os.WriteFile(filepath.Join(dir, "bad.lua"), []byte("function ksr_request_route()\n  if then\nend\n"), 0o644)
			out, err := exec.Command(sbcBin, "-c", cfg, "--check").CombinedOutput()
			if tc.ok != (err == nil) || !strings.Contains(string(out), tc.want) {
				t.Errorf("exit error %v, output:\n%s\nwant ok=%v and %q", err, out, tc.ok, tc.want)
			}
		})
	}
}
