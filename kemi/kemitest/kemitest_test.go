package kemitest_test

import (
	"strings"
	"testing"

	"github.com/luasbc/luasbc/kemi/kemitest"
	_ "github.com/luasbc/luasbc/modules/sl"
)

func TestHarnessKeepalive(t *testing.T) {
	h := kemitest.New(t, `
function ksr_request_route()
  KSR.sl.sl_send_reply(200, "Keepalive")
end`, kemitest.Options{Modules: map[string]map[string]any{"sl": nil}})
	r := h.Exchange(kemitest.Request("OPTIONS", "sip:127.0.0.1:{sport}"))
	if kemitest.StatusCode(r) != 200 || !strings.Contains(r, "Keepalive") {
		t.Fatalf("reply %q", r)
	}
	if !strings.Contains(r, ";received=127.0.0.1;rport=") {
		t.Fatalf("top Via lacks received/rport: %q", r)
	}
}
