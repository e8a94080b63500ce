package rr_test

import (
	"testing"

	_ "github.com/luasbc/luasbc/modules/tm"
)

// TestRecordRouteTMBranch checks that the Record-Route is rendered for tm
// branches too, with what the branch route added.
func TestRecordRouteTMBranch(t *testing.T) {
	s := startScript(t, `
function ksr_request_route()
  KSR.rr.record_route()
  KSR.tm.t_on_branch("ksr_branch")
  KSR.tm.t_relay()
end
function ksr_branch()
  KSR.rr.add_rr_param(";b=1")
end`, map[string]map[string]any{"sl": nil, "tm": nil, "rr": nil}, false)
	out := s.forwardUDP(t, invite())
	eq(t, "Record-Route", headers(out, "Record-Route"), []string{"<sip:127.0.0.1:" + s.sport() + ";lr;ftag=ft1;b=1>"})
}
