package kx_test

import (
	"os"
	"strings"
	"testing"

	"github.com/luasbc/luasbc/kemi/kemitest"
	_ "github.com/luasbc/luasbc/modules/kx"
	_ "github.com/luasbc/luasbc/modules/sl"
)

const script = `
local function put(k, v)
  KSR.hdr.append_to_reply("X-" .. k .. ": " .. type(v) .. ":" .. tostring(v) .. "\r\n")
end
function ksr_request_route()
  KSR.setdsturi("sip:10.0.0.1:5070")
  KSR.seturi("sip:carol@example.net")
  put("ruri", KSR.kx.get_ruri())
  put("ouri", KSR.kx.get_ouri())
  put("ruser", KSR.kx.get_ruser())
  put("rhost", KSR.kx.get_rhost())
  put("fuser", KSR.kx.get_fuser())
  put("fhost", KSR.kx.getw_fhost())
  put("turi", KSR.kx.get_turi())
  put("tuser", KSR.kx.gete_tuser())
  put("duri", KSR.kx.get_duri())
  put("nhuri", KSR.kx.get_nhuri())
  put("cturi", KSR.kx.get_cturi())
  put("srcip", KSR.kx.get_srcip())
  put("srcport", KSR.kx.get_srcport())
  put("srcuri", KSR.kx.get_srcuri())
  put("srcsock", KSR.kx.get_srcaddr_sock())
  put("rcvip", KSR.kx.get_rcvip())
  put("rcvport", KSR.kx.get_rcvport())
  put("rcvsock", KSR.kx.get_rcvaddr_sock())
  put("proto", KSR.kx.get_proto())
  put("protoid", KSR.kx.get_protoid())
  put("ua", KSR.kx.get_ua())
  put("au", KSR.kx.get_au())
  put("aue", KSR.kx.gete_au())
  put("auw", KSR.kx.getw_au())
  put("method", KSR.kx.get_method())
  put("status", KSR.kx.get_status())
  put("sstatus", KSR.kx.gets_status())
  put("body", KSR.kx.get_body())
  put("bodylen", KSR.kx.get_bodylen())
  put("msgtype", KSR.kx.get_msgtype())
  put("msglen", KSR.kx.get_msglen() > 100)
  put("conid", KSR.kx.get_conid())
  put("ts", KSR.kx.get_timestamp() > 1600000000)
  put("callid", KSR.kx.get_callid())
  put("def", KSR.kx.get_def("WITH_X"))
  put("defn", KSR.kx.get_defn("NUM"))
  put("nodef", KSR.kx.get_def("NOPE"))
  put("ifdef", KSR.kx.ifdef("WITH_X"))
  put("ifndef", KSR.kx.ifndef("WITH_X"))
  put("env", KSR.kx.get_env("LUASBC_KX_TEST"))
  put("envn", KSR.kx.get_envn("LUASBC_KX_NUM"))
  put("noenv", KSR.kx.get_env("LUASBC_KX_UNSET"))
  put("sendport", KSR.kx.get_send_sock_port())
  put("sendsock", KSR.kx.get_send_sock())
  KSR.sl.sl_send_reply(200, "OK")
end`

func TestGetters(t *testing.T) {
	os.Setenv("LUASBC_KX_TEST", "hello")
	os.Setenv("LUASBC_KX_NUM", "42")
	h := kemitest.New(t, script, kemitest.Options{Modules: map[string]map[string]any{"sl": nil, "kx": nil},
		Extra: "lua: {load: script.lua, workers: 2, timeout_ms: 200, defines: {WITH_X: \"yes\", NUM: \"7\"}}"})
	req := kemitest.Request("MESSAGE", "sip:bob@127.0.0.1:{sport}",
		"Contact: \"Al\" <sip:alice@192.0.2.1:5062;transport=udp>;expires=60",
		"User-Agent: test-ua/1.0",
		"Content-Type: text/plain")
	req = strings.Replace(req, "Content-Length: 0\n\n", "Content-Length: 5\n\nhello", 1)
	r := h.Exchange(req)
	if kemitest.StatusCode(r) != 200 {
		t.Fatalf("reply %q", r)
	}
	cp := itoa(h.ClientPort())
	sp := itoa(h.ServerPort())
	want := []string{
		"X-ruri: string:sip:carol@example.net",
		"X-ouri: string:sip:bob@127.0.0.1:" + sp,
		"X-ruser: string:carol",
		"X-rhost: string:example.net",
		"X-fuser: string:alice",
		"X-fhost: string:example.com",
		"X-turi: string:sip:bob@example.com",
		"X-tuser: string:bob",
		"X-duri: string:sip:10.0.0.1:5070",
		"X-nhuri: string:sip:10.0.0.1:5070",
		"X-cturi: string:sip:alice@192.0.2.1:5062;transport=udp",
		"X-srcip: string:127.0.0.1",
		"X-srcport: number:" + cp,
		"X-srcuri: string:sip:127.0.0.1:" + cp + "\r\n",
		"X-srcsock: string:udp:127.0.0.1:" + cp,
		"X-rcvip: string:127.0.0.1",
		"X-rcvport: number:" + sp,
		"X-rcvsock: string:udp:127.0.0.1:" + sp,
		"X-proto: string:udp",
		"X-protoid: number:1",
		"X-ua: string:test-ua/1.0",
		"X-au: nil:nil",
		"X-aue: string:\r\n",
		"X-auw: string:<null>",
		"X-method: string:MESSAGE",
		"X-status: number:-1",
		"X-sstatus: nil:nil",
		"X-body: string:hello",
		"X-bodylen: number:5",
		"X-msgtype: number:1",
		"X-msglen: boolean:true",
		"X-conid: number:-1",
		"X-ts: boolean:true",
		"X-callid: string:test-",
		"X-def: string:yes",
		"X-defn: number:7",
		"X-nodef: nil:nil",
		"X-ifdef: boolean:true",
		"X-ifndef: boolean:false",
		"X-env: string:hello",
		"X-envn: number:42",
		"X-noenv: nil:nil",
		"X-sendport: number:0",
		"X-sendsock: nil:nil",
	}
	for _, w := range want {
		if !strings.Contains(r, w) {
			t.Errorf("reply lacks %q", w)
		}
	}
	if t.Failed() {
		t.Log(r)
	}
}

func itoa(n int) string {
	s := ""
	for n > 0 {
		s = string(rune('0'+n%10)) + s
		n /= 10
	}
	return s
}
