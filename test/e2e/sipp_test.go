package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// runSIPp runs a SIPp UAC scenario against the server and returns its exit
// code and output; the working directory collects SIPp's files.
func runSIPp(t *testing.T, s *Server, scenario string, args ...string) (int, string) {
	t.Helper()
	bin, err := exec.LookPath("sipp")
	if err != nil {
		t.Fatalf("sipp not installed: run `make deps` (Debian package sip-tester)")
	}
	dir := t.TempDir()
	base := []string{s.Addr, "-sf", testdata("sipp", scenario), "-i", "127.0.0.1",
		"-p", strconv.Itoa(freePorts(t, 1)), "-nostdin", "-trace_stat", "-trace_err",
		"-error_file", filepath.Join(dir, "errors.log"), "-stf", filepath.Join(dir, "stat.csv")}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	cmd.Dir = dir
	out, _ := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("sipp did not finish within 60 s:\n%s", tail(string(out), 3000))
	}
	code := cmd.ProcessState.ExitCode()
	text := string(out)
	if b, err := os.ReadFile(filepath.Join(dir, "errors.log")); err == nil && len(b) > 0 {
		text += "\n--- sipp errors ---\n" + tail(string(b), 3000)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "stat.csv")); err == nil {
		text += "\n--- sipp stat ---\n" + tail(string(b), 2000)
	}
	return code, text
}

// TestSIPpKeepalive: 200 OPTIONS calls at 100 per second against lua/default.lua,
// each must get "200 Keepalive" (SIPp exits 0 only when every call succeeded).
func TestSIPpKeepalive(t *testing.T) {
	t.Parallel()
	s := startDefault(t)
	code, out := runSIPp(t, s, "options_keepalive.xml", "-m", "200", "-r", "100", "-t", "u1",
		"-timeout", "30s", "-timeout_error", "-recv_timeout", "5000")
	if code != 0 {
		t.Fatalf("sipp exit code %d (0 = all calls successful):\n%s", code, tail(out, 6000))
	}
	if !strings.Contains(out, "Successful call") {
		t.Logf("sipp output:\n%s", tail(out, 3000))
	}
	if n := s.Stat("sl:200_replies"); n < 200 {
		t.Errorf("sl:200_replies = %d, want at least 200", n)
	}
}
