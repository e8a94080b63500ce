package tmx_test

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/luasbc/luasbc/kemi/kemitest"
	_ "github.com/luasbc/luasbc/modules/sl"
	_ "github.com/luasbc/luasbc/modules/tm"
	_ "github.com/luasbc/luasbc/modules/tmx"
)

const script = `
function ksr_request_route()
	if KSR.tmx.t_is_request_route() < 0 then KSR.err("not request route") end
	KSR.pv.sets("$du", "sip:127.0.0.1:CALLEE")
	KSR.tm.t_on_reply("onreply")
	KSR.tm.t_on_failure("failure")
	KSR.tm.t_relay()
end

function onreply()
	local ok = KSR.tmx.t_is_reply_route()
	KSR.hdr.append("X-Code: " .. KSR.pv.get("$T_reply_code") .. "/" .. KSR.pv.get("$T_reply_reason") ..
		"/" .. KSR.pv.get("$T_req($fU)") .. "/" .. ok .. "\r\n")
end

function failure()
	if KSR.tmx.t_is_failure_route() > 0 then
		KSR.tm.t_reply(599, "Failed " .. KSR.pv.get("$T_reply_code") .. " on " .. KSR.pv.get("$T_branch_idx"))
	end
end
`

func TestPVsInReplyAndFailureRoutes(t *testing.T) {
	callee, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer callee.Close()
	port := callee.LocalAddr().(*net.UDPAddr).Port
	h := kemitest.New(t, strings.ReplaceAll(script, "CALLEE", fmt.Sprint(port)),
		kemitest.Options{Modules: map[string]map[string]any{"sl": nil, "tm": nil, "tmx": nil}})
	h.Send(kemitest.Request("INVITE", "sip:bob@127.0.0.1:{sport}"))
	buf := make([]byte, 65536)
	_ = callee.SetReadDeadline(time.Now().Add(2 * time.Second))
	n, from, err := callee.ReadFromUDP(buf)
	if err != nil {
		t.Fatal("callee got nothing")
	}
	inv := string(buf[:n])
	rpl := func(code int, reason string) string {
		var b strings.Builder
		fmt.Fprintf(&b, "SIP/2.0 %d %s\r\n", code, reason)
		for _, l := range strings.Split(inv, "\r\n") {
			low := strings.ToLower(l)
			for _, p := range []string{"via:", "from:", "call-id:", "cseq:"} {
				if strings.HasPrefix(low, p) {
					b.WriteString(l + "\r\n")
				}
			}
			if strings.HasPrefix(low, "to:") {
				b.WriteString(l + ";tag=x\r\n")
			}
		}
		b.WriteString("Content-Length: 0\r\n\r\n")
		return b.String()
	}
	_, _ = callee.WriteToUDP([]byte(rpl(180, "Ringing")), from)
	var ring string
	for i := 0; i < 3 && !strings.HasPrefix(ring, "SIP/2.0 180"); i++ {
		ring = h.Recv(time.Second)
	}
	if !strings.Contains(ring, "X-Code: 180/Ringing/alice/1") {
		t.Errorf("180 relayed without the onreply header:\n%s", ring)
	}
	_, _ = callee.WriteToUDP([]byte(rpl(486, "Busy Here")), from)
	var final string
	for i := 0; i < 3 && !strings.HasPrefix(final, "SIP/2.0 599"); i++ {
		final = h.Recv(time.Second)
	}
	if !strings.HasPrefix(final, "SIP/2.0 599 Failed 486 on 0") {
		t.Errorf("failure route reply: %q", strings.SplitN(final, "\r\n", 2)[0])
	}
}
