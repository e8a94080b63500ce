package dispatcher_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/luasbc/luasbc/kemi/kemitest"
)

// proxyScript relays INVITEs statefully to a destination of set 1 chosen
// with the algorithm of the X-Alg header, and fails over to the next
// destination on 5xx or timeout from the failure route.
const proxyScript = `
function ksr_request_route()
  if KSR.is_ACK() then return end
  local alg = tonumber(KSR.hdr.get("X-Alg") or "8")
  if KSR.dispatcher.ds_select_dst(1, alg) < 0 then
    KSR.sl.sl_send_reply(503, "No Destination")
    return
  end
  KSR.tm.t_on_failure("ksr_failure")
  if KSR.tm.t_relay() < 0 then KSR.sl.sl_reply_error() end
end

function ksr_failure()
  if KSR.tm.t_is_canceled() > 0 then return end
  if KSR.tm.t_check_status("5[0-9][0-9]") > 0 or
      (KSR.tm.t_branch_timeout() > 0 and KSR.tm.t_branch_replied() < 0) then
    KSR.info("failover after " .. KSR.tm.t_get_status_code() .. "\n")
    if KSR.dispatcher.ds_next_dst() > 0 then
      KSR.tm.t_on_failure("ksr_failure")
      KSR.tm.t_relay()
      return
    end
  end
  KSR.info("load unset " .. KSR.dispatcher.ds_load_unset() .. "\n")
end
`

func startProxy(t *testing.T, params map[string]any) *kemitest.Harness {
	t.Helper()
	return kemitest.New(t, proxyScript, kemitest.Options{Modules: map[string]map[string]any{
		"sl": nil, "tm": {"fr_timer": 500, "fr_inv_timer": 500}, "dispatcher": params}})
}

// invite sends an INVITE with X-Alg and returns the first final reply.
func invite(t *testing.T, h *kemitest.Harness, alg int, d time.Duration) string {
	t.Helper()
	h.Send(kemitest.Request("INVITE", "sip:bob@example.com", fmt.Sprintf("X-Alg: %d", alg)))
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		r := h.Recv(time.Until(deadline))
		if c := kemitest.StatusCode(r); c >= 200 {
			return r
		}
	}
	return ""
}

// One call walks the failover list: the first destination answers 503,
// the second never answers (fr_timer), the third takes the call; the
// caller sees only the 200.
func TestFailoverThroughFailureRoute(t *testing.T) {
	a, c, b := newPeer(t), newPeer(t), newPeer(t)
	a.answer("INVITE", 503)
	b.answer("INVITE", 200)
	list := fmt.Sprintf("1 %s 0 3\n1 %s 0 2\n1 %s 0 1\n", a.URI(), c.URI(), b.URI())
	h := startProxy(t, map[string]any{"list_file": writeFile(t, t.TempDir(), "ds.list", list), "flags": 2})
	start := time.Now()
	rep := invite(t, h, 8, 4*time.Second)
	if kemitest.StatusCode(rep) != 200 {
		t.Fatalf("caller got %q, want the 200 of the third destination", rep)
	}
	if d := time.Since(start); d < 400*time.Millisecond {
		t.Errorf("200 after %v: the silent destination was not waited for", d)
	}
	b.waitReceived("INVITE ", 1, time.Second)
	if len(a.received("INVITE ")) != 1 || len(b.received("INVITE ")) != 1 || len(c.received("INVITE ")) == 0 {
		t.Errorf("INVITEs: a %d, c %d, b %d", len(a.received("INVITE ")), len(c.received("INVITE ")), len(b.received("INVITE ")))
	}
	if len(a.waitReceived("ACK ", 1, time.Second)) != 1 {
		t.Errorf("the 503 was not ACKed by the proxy")
	}
	if !h.LogContains("failover after 503") || !h.LogContains("failover after 408") {
		t.Error("the failure route did not run for both failures")
	}
}

// All destinations down: ds_select_dst returns -1 and the script answers 503.
func TestAllDown503(t *testing.T) {
	list := "1 sip:127.0.0.1:5071 1\n1 sip:127.0.0.1:5072 4\n"
	h := startProxy(t, map[string]any{"list_file": writeFile(t, t.TempDir(), "ds.list", list)})
	if rep := invite(t, h, 4, 2*time.Second); kemitest.StatusCode(rep) != 503 || !strings.Contains(rep, "No Destination") {
		t.Errorf("got %q, want the script's 503", rep)
	}
}

// Algorithm 12 sends the INVITE to every active destination at once.
func TestParallelForking(t *testing.T) {
	a, b, c := newPeer(t), newPeer(t), newPeer(t)
	a.answer("INVITE", 200)
	list := fmt.Sprintf("1 %s\n1 %s\n1 %s 1\n", a.URI(), b.URI(), c.URI())
	h := startProxy(t, map[string]any{"list_file": writeFile(t, t.TempDir(), "ds.list", list)})
	if rep := invite(t, h, 12, 3*time.Second); kemitest.StatusCode(rep) != 200 {
		t.Fatalf("got %q", rep)
	}
	b.waitReceived("INVITE ", 1, time.Second)
	if len(a.received("INVITE ")) != 1 || len(b.received("INVITE ")) < 1 || len(c.received("INVITE ")) != 0 {
		t.Errorf("INVITEs: a %d, b %d, inactive c %d", len(a.received("INVITE ")), len(b.received("INVITE ")),
			len(c.received("INVITE ")))
	}
	// Both branches keep the R-URI and go to their destination.
	if r := a.received("INVITE ")[0]; !strings.HasPrefix(r, "INVITE sip:bob@example.com SIP/2.0") {
		t.Errorf("branch R-URI: %q", strings.SplitN(r, "\r\n", 2)[0])
	}
}

// Call load (algorithm 10): failover moves the call's load to the next
// destination, and a call that fails everywhere releases it.
func TestCallLoadFailover(t *testing.T) {
	a, b := newPeer(t), newPeer(t)
	a.answer("INVITE", 503)
	b.answer("INVITE", 503)
	list := fmt.Sprintf("1 %s 0 0 duid=a\n1 %s 0 0 duid=b\n", a.URI(), b.URI())
	h := startProxy(t, map[string]any{"list_file": writeFile(t, t.TempDir(), "ds.list", list), "flags": 2, "ds_hash_size": 4})
	if rep := invite(t, h, 10, 3*time.Second); kemitest.StatusCode(rep) != 500 {
		t.Fatalf("got %q, want the 503 relayed as 500", rep)
	}
	if !waitLog(h, "load unset 0", time.Second) {
		t.Error("ds_load_unset did not release the load")
	}
	res, _ := rpcCall(t, h, "dispatcher.list")
	if j := asJSON(res); strings.Count(j, `"DLGLOAD":0`) != 2 {
		t.Errorf("loads after the failed call: %s", j)
	}
	if len(a.received("INVITE ")) != 1 || len(b.waitReceived("INVITE ", 1, time.Second)) != 1 {
		t.Error("the call did not try both destinations")
	}
}
