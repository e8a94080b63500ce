package e2e

import (
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// scrape reads /metrics and returns the value of the first sample whose
// line starts with name (including its labels), or -1.
func scrape(t testing.TB, s *Server, name string) float64 {
	t.Helper()
	body := getAdmin(t, s, "/metrics", 200)
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` ([0-9.e+-]+)$`)
	m := re.FindStringSubmatch(body)
	if m == nil {
		return -1
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

func getAdmin(t testing.TB, s *Server, path string, want int) string {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d%s", s.RPCPort, path))
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("GET %s: HTTP %d, want %d: %s", path, resp.StatusCode, want, b)
	}
	return string(b)
}

// TestMetricsDuringSIPp: /metrics scraped while SIPp runs shows the
// counters moving; /health and /ready answer probes.
func TestMetricsDuringSIPp(t *testing.T) {
	t.Parallel()
	s := startDefault(t)
	if b := getAdmin(t, s, "/health", 200); !strings.Contains(b, "ok") {
		t.Errorf("/health: %q", b)
	}
	if b := getAdmin(t, s, "/ready", 200); !strings.Contains(b, "ready") {
		t.Errorf("/ready: %q", b)
	}
	recv := `luasbc_sip_received_total{class="",method="OPTIONS",type="request"}`
	sent := `luasbc_sip_sent_total{class="2xx",local="true",method="OPTIONS",type="reply"}`
	r0, s0 := scrape(t, s, recv), scrape(t, s, sent)

	done := make(chan struct{})
	var mid float64
	go func() {
		defer close(done)
		time.Sleep(700 * time.Millisecond)
		mid = scrape(t, s, recv)
	}()
	if code, out := runSIPp(t, s, "options_keepalive.xml", "-m", "200", "-r", "100", "-timeout", "30s",
		"-timeout_error", "-recv_timeout", "5000"); code != 0 {
		t.Fatalf("sipp exit %d:\n%s", code, tail(out, 3000))
	}
	<-done
	r1, s1 := scrape(t, s, recv), scrape(t, s, sent)
	if r1-max(r0, 0) < 200 || s1-max(s0, 0) < 200 {
		t.Errorf("received %v -> %v, sent %v -> %v: want +200 each", r0, r1, s0, s1)
	}
	if mid <= max(r0, 0) || mid >= r1 {
		t.Errorf("mid-run scrape %v not between %v and %v: the counter did not move during the run", mid, r0, r1)
	}
	for _, name := range []string{
		`luasbc_lua_callback_seconds_count{function="ksr_request_route"}`,
		`luasbc_sl_200_replies`,
		`luasbc_core_rcv_requests`,
		`luasbc_tm_current`,
	} {
		if v := scrape(t, s, name); v < 0 {
			t.Errorf("%s missing from /metrics", name)
		}
	}
	if v := scrape(t, s, `luasbc_lua_callback_seconds_count{function="ksr_request_route"}`); v < 200 {
		t.Errorf("Lua callback histogram count %v, want >= 200", v)
	}
	s.RPC("core.uptime")
	if v := scrape(t, s, `luasbc_rpc_calls_total{method="core.uptime",outcome="ok"}`); v < 1 {
		t.Errorf("RPC calls counter %v", v)
	}
}
