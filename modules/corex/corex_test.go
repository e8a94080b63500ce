package corex_test

import (
	"strings"
	"testing"

	"github.com/luasbc/luasbc/kemi/kemitest"
	_ "github.com/luasbc/luasbc/modules/corex"
	_ "github.com/luasbc/luasbc/modules/sl"
)

func TestCorex(t *testing.T) {
	h := kemitest.New(t, `
function ksr_request_route()
  local r = {}
  r[#r+1] = KSR.corex.has_ruri_user()
  r[#r+1] = KSR.corex.has_user_agent()
  r[#r+1] = KSR.corex.is_faked_msg()
  r[#r+1] = KSR.corex.isxflagset(40)
  r[#r+1] = KSR.corex.setxflag(40)
  r[#r+1] = KSR.corex.isxflagset(40)
  r[#r+1] = KSR.corex.resetxflag(40)
  r[#r+1] = KSR.corex.isxflagset(40)
  r[#r+1] = KSR.corex.setxflag(64)
  r[#r+1] = KSR.corex.set_send_socket("udp:127.0.0.1:" .. KSR.pv.get("$Rp"))
  r[#r+1] = KSR.corex.set_send_socket("udp:10.9.9.9:5060")
  KSR.hdr.append_to_reply("X-R: " .. table.concat(r, ",") .. "\r\n")
  KSR.sl.sl_send_reply(200, "OK")
end`, kemitest.Options{Modules: map[string]map[string]any{"sl": nil, "corex": nil}})
	r := h.Exchange(kemitest.Request("OPTIONS", "sip:bob@127.0.0.1:{sport}", "User-Agent: x"))
	if !strings.Contains(r, "X-R: 1,1,-1,-1,1,1,1,-1,-1,1,-1\r\n") {
		t.Fatalf("reply %q", r)
	}
	r = h.Exchange(kemitest.Request("OPTIONS", "sip:127.0.0.1:{sport}"))
	if !strings.Contains(r, "X-R: -1,-1,") {
		t.Fatalf("reply %q", r)
	}
}
