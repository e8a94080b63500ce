package kemi_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/luasbc/luasbc/core/stats"
	"github.com/luasbc/luasbc/kemi/kemitest"
	_ "github.com/luasbc/luasbc/modules/maxfwd"
	_ "github.com/luasbc/luasbc/modules/sl"
)

var slOnly = kemitest.Options{Modules: map[string]map[string]any{"sl": nil}}

// reply runs one request through a script and returns the reply text.
func reply(t *testing.T, h *kemitest.Harness, method, ruri string, extra ...string) string {
	t.Helper()
	r := h.Exchange(kemitest.Request(method, ruri, extra...))
	if r == "" {
		t.Fatalf("no reply to %s %s", method, ruri)
	}
	return r
}

func header(reply, name string) string {
	for _, l := range strings.Split(reply, "\r\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(k, name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func TestConversionsAndReturnTypes(t *testing.T) {
	h := kemitest.New(t, `
function ksr_request_route()
  local r = {}
  r[#r+1] = type(KSR.is_OPTIONS())              -- boolean
  r[#r+1] = tostring(KSR.sl.sl_send_reply())     -- too few args: false, no reply sent
  r[#r+1] = type(KSR.pv.get("$sp"))              -- number
  r[#r+1] = type(KSR.pv.get("$si"))              -- string
  r[#r+1] = tostring(KSR.pv.get("$rU"))          -- nil
  r[#r+1] = KSR.pv.gete("$rU")                   -- ""
  r[#r+1] = KSR.pv.getw("$rU")                   -- <null>
  r[#r+1] = tostring(KSR.setflag(40))            -- out of range: false
  r[#r+1] = tostring(KSR.setflag("3"))           -- numeric string accepted
  r[#r+1] = tostring(KSR.isflagset(3))
  r[#r+1] = tostring(KSR.info("x"))              -- none with params: 0
  r[#r+1] = tostring(KSR.x.probe())              -- none without params: false
  r[#r+1] = KSRVERSION
  r[#r+1] = tostring(KSR.auth == nil)            -- module not enabled: no table
  KSR.hdr.append_to_reply("X-R: " .. table.concat(r, ",") .. "\r\n")
  KSR.sl.sl_send_reply("200", 42)                -- int from string, str from number
end`, slOnly)
	r := reply(t, h, "OPTIONS", "sip:127.0.0.1:{sport}")
	want := "boolean,false,number,string,nil,,<null>,false,true,true,0,false,2.0,true"
	if got := header(r, "X-R"); got != want {
		t.Fatalf("X-R = %q\nwant  %q", got, want)
	}
	if !strings.HasPrefix(r, "SIP/2.0 200 42\r\n") {
		t.Fatalf("status line: %q", strings.SplitN(r, "\r\n", 2)[0])
	}
}

func TestExitAndDrop(t *testing.T) {
	h := kemitest.New(t, `
function ksr_request_route()
  if KSR.pv.get("$rU") == "exit" then
    KSR.sl.sl_send_reply(200, "before-exit")
    KSR.x.exit()
    KSR.sl.sl_send_reply(500, "after-exit")
  end
  if KSR.pv.get("$rU") == "wrapped" then
    -- a script that wraps exit in pcall swallows it, as in Kamailio
    pcall(KSR.x.exit)
    KSR.sl.sl_send_reply(201, "after-pcall")
    return
  end
  KSR.set_drop()
  KSR.sl.sl_send_reply(202, "set_drop-does-not-stop")
end`, slOnly)
	if r := reply(t, h, "OPTIONS", "sip:exit@127.0.0.1"); !strings.Contains(r, " 200 before-exit") {
		t.Fatalf("exit: %q", r)
	}
	if r := h.Recv(200 * time.Millisecond); r != "" {
		t.Fatalf("code after KSR.x.exit() ran: %q", r)
	}
	if r := reply(t, h, "OPTIONS", "sip:wrapped@127.0.0.1"); !strings.Contains(r, " 201 after-pcall") {
		t.Fatalf("pcall: %q", r)
	}
	if r := reply(t, h, "OPTIONS", "sip:x@127.0.0.1"); !strings.Contains(r, " 202 ") {
		t.Fatalf("set_drop: %q", r)
	}
}

func TestSandbox(t *testing.T) {
	h := kemitest.New(t, `
local big_ok = pcall(string.rep, "x", 1e9)
function ksr_request_route()
  local r = {type(os), type(io), type(debug), type(dofile), type(loadfile), type(collectgarbage), type(require), tostring(big_ok)}
  KSR.hdr.append_to_reply("X-R: " .. table.concat(r, ",") .. "\r\n")
  KSR.sl.sl_send_reply(200, "OK")
end`, slOnly)
	r := reply(t, h, "OPTIONS", "sip:127.0.0.1")
	if got := header(r, "X-R"); got != "nil,nil,nil,nil,nil,nil,nil,false" {
		t.Fatalf("sandbox: %q", got)
	}
}

func TestRunawayScriptIsStopped(t *testing.T) {
	h := kemitest.New(t, `
function ksr_request_route()
  if KSR.pv.get("$rU") == "loop" then
    while true do end
  end
  KSR.sl.sl_send_reply(200, "alive")
end`, slOnly)
	before := stats.Lookup("app_lua:timeouts")
	h.Send(kemitest.Request("OPTIONS", "sip:loop@127.0.0.1"))
	h.Send(kemitest.Request("OPTIONS", "sip:loop@127.0.0.1"))
	start := time.Now()
	// Both workers may be looping; the deadline (200 ms in kemitest) frees them.
	r := reply(t, h, "OPTIONS", "sip:ok@127.0.0.1")
	if !strings.Contains(r, " 200 alive") {
		t.Fatalf("reply %q", r)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("took %v", d)
	}
	deadline := time.Now().Add(time.Second)
	for stats.Lookup("app_lua:timeouts") < before+2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if stats.Lookup("app_lua:timeouts") < before+2 {
		t.Fatalf("timeouts counter %d, want >= %d", stats.Lookup("app_lua:timeouts"), before+2)
	}
	if !h.LogContains("lua.timeout_ms") {
		t.Fatal("no log line about the stopped callback")
	}
	// The state that looped still works for the next message.
	for i := 0; i < 4; i++ {
		if r := reply(t, h, "OPTIONS", "sip:ok@127.0.0.1"); !strings.Contains(r, " 200 alive") {
			t.Fatalf("after timeout: %q", r)
		}
	}
}

func TestReloadKeepsOldScriptOnError(t *testing.T) {
	h := kemitest.New(t, `
function ksr_request_route() KSR.sl.sl_send_reply(200, "v1") end`, slOnly)
	path := filepath.Join(h.Dir, "script.lua")
	if r := reply(t, h, "OPTIONS", "sip:127.0.0.1"); !strings.Contains(r, " 200 v1") {
		t.Fatal(r)
	}
	if err := os.WriteFile(path, []byte("function ksr_request_route()\n  KSR.sl.sl_send_reply(200, \"v2\"\nend\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, rerr := h.RPC.Call(context.Background(), "app_lua.reload", nil)
	if rerr == nil || rerr.Code != 500 || rerr.Message != "Reload Failed" {
		t.Fatalf("reload of a broken script: %v", rerr)
	}
	d, ok := rerr.Data.(map[string]any)
	if !ok {
		t.Fatalf("error data is %T, want an object: %#v", rerr.Data, rerr.Data)
	}
	if d["file"] != path || d["line"] != 3 {
		t.Fatalf("error data file/line: %#v", d)
	}
	if e, _ := d["error"].(string); !strings.Contains(e, "line:3") || !strings.Contains(e, "syntax error") || strings.ContainsAny(e, "\n") {
		t.Fatalf("error text: %q", d["error"])
	}
	// On the wire the line is a JSON number.
	if b, err := json.Marshal(rerr); err != nil || !strings.Contains(string(b), `"line":3`) || !strings.Contains(string(b), `"code":500`) {
		t.Fatalf("JSON %s (%v)", b, err)
	}
	for i := 0; i < 4; i++ {
		if r := reply(t, h, "OPTIONS", "sip:127.0.0.1"); !strings.Contains(r, " 200 v1") {
			t.Fatalf("old script not kept: %q", r)
		}
	}
	// A runtime error in top-level code: the line of the failing call.
	_ = os.WriteFile(path, []byte("local a = 1\nfunction ksr_request_route() end\nnosuch()\n"), 0o644)
	_, rerr = h.RPC.Call(context.Background(), "app_lua.reload", nil)
	if rerr == nil || rerr.Code != 500 || rerr.Message != "Reload Failed" {
		t.Fatalf("reload of a script failing at load: %v", rerr)
	}
	d, _ = rerr.Data.(map[string]any)
	if e, _ := d["error"].(string); d["file"] != path || d["line"] != 3 || !strings.HasPrefix(e, path+":3: ") || strings.Contains(e, "stack traceback") {
		t.Fatalf("runtime error data: %#v", rerr.Data)
	}
	// A script without the request route is refused too; no line to name.
	_ = os.WriteFile(path, []byte("function other() end"), 0o644)
	_, rerr = h.RPC.Call(context.Background(), "app_lua.reload", nil)
	if rerr == nil {
		t.Fatal("script without ksr_request_route accepted")
	}
	if d, _ := rerr.Data.(map[string]any); d["file"] != path || d["error"] != "no function ksr_request_route()" {
		t.Fatalf("missing route data: %#v", rerr.Data)
	} else if _, has := d["line"]; has {
		t.Fatalf("line given without one in the error: %#v", d)
	}
	_ = os.WriteFile(path, []byte(`
counter = (counter or 0) + 1
function ksr_request_route() KSR.sl.sl_send_reply(200, "v3-" .. counter) end`), 0o644)
	res, rerr := h.RPC.Call(context.Background(), "app_lua.reload", nil)
	if rerr != nil {
		t.Fatal(rerr)
	}
	if v := res.(map[string]any)["version"]; v != 2 {
		t.Fatalf("version %v", v)
	}
	for i := 0; i < 4; i++ {
		// Fresh states per version: globals of v1 never leak (counter is 1).
		if r := reply(t, h, "OPTIONS", "sip:127.0.0.1"); !strings.Contains(r, " 200 v3-1") {
			t.Fatalf("new script not running: %q", r)
		}
	}
	list, _ := h.RPC.Call(context.Background(), "app_lua.list", nil)
	if l := list.([]map[string]any); l[0]["version"] != 2 {
		t.Fatalf("app_lua.list %v", l)
	}
}

func TestHeaderInjectionRefused(t *testing.T) {
	h := kemitest.New(t, `
function ksr_request_route()
  local a = KSR.hdr.append_to_reply("X-A: 1\r\nX-B: 2\r\n")
  local b = KSR.hdr.append_to_reply("X-C: 1\r\n\r\nINJECT")
  local c = KSR.hdr.append_to_reply("X-D: a\nVia: evil\r\n")
  local d = KSR.hdr.append_to_reply("X-E: a\0b\r\n")
  local e = tostring(KSR.seturi("sip:a@b\r\nX: y"))
  KSR.hdr.append_to_reply("X-R: " .. a .. "," .. b .. "," .. c .. "," .. d .. "," .. e .. "\r\n")
  KSR.sl.sl_send_reply(200, "OK")
end`, slOnly)
	r := reply(t, h, "OPTIONS", "sip:127.0.0.1")
	if got := header(r, "X-R"); got != "1,-1,-1,-1,false" {
		t.Fatalf("X-R %q in %q", got, r)
	}
	if header(r, "X-B") != "2" || strings.Contains(r, "INJECT") || strings.Contains(r, "evil") {
		t.Fatalf("reply %q", r)
	}
	if !h.LogContains("header text refused") {
		t.Fatal("refusal not logged")
	}
}

func TestPseudoVariables(t *testing.T) {
	h := kemitest.New(t, `
function ksr_request_route()
  local r = {}
  local function add(v) r[#r+1] = tostring(v) end
  add(KSR.pv.get("$rm")); add(KSR.pv.get("$ru")); add(KSR.pv.get("$rU")); add(KSR.pv.get("$rd"))
  add(KSR.pv.get("$rp")); add(KSR.pv.get("$fU")); add(KSR.pv.get("$ft")); add(KSR.pv.get("$tU"))
  add(KSR.pv.get("$tt")); add(KSR.pv.get("$cs")); add(KSR.pv.get("$hdr(X-Foo)"))
  add(KSR.pv.get("$(hdr(X-Foo)[1])")); add(KSR.pv.get("$(hdr(X-Foo)[-1])")); add(KSR.pv.get("$hdrc(X-Foo)"))
  add(KSR.pv.get("$proto")); add(KSR.pv.get("$ua"))
  KSR.pv.sets("$ru", "sip:carol@10.0.0.1:5070")
  add(KSR.pv.get("$rU")); add(KSR.pv.get("$rp")); add(KSR.pv.get("$ou"))
  KSR.pv.sets("$avp(a)", "one"); KSR.pv.seti("$avp(a)", 2)
  add(KSR.pv.get("$avp(a)")); add(KSR.pv.get("$(avp(a)[1])"))
  KSR.pv.unset("$avp(a)"); add(KSR.pv.get("$avp(a)"))
  add(KSR.pv.get("$dd"))
  KSR.pv.sets("$du", "sip:10.0.0.2"); add(KSR.pv.get("$du")); add(KSR.pv.get("$dd")); add(KSR.pv.get("$dp"))
  KSR.pv.sets("$du", "sip:gw.example.net:5080;transport=tcp"); add(KSR.pv.get("$dd") .. ":" .. KSR.pv.get("$dp"))
  KSR.pv.unset("$du"); add(KSR.isdsturiset())
  add(KSR.pv.sets("$si", "1.2.3.4"))   -- read-only: false
  add(KSR.pv.get("$nosuch"))
  KSR.pv.sets("$fU", "mallory")        -- lump: reads still see the original
  add(KSR.pv.get("$fU"))
  KSR.hdr.append_to_reply("X-R: " .. table.concat(r, "|") .. "\r\n")
  KSR.sl.sl_send_reply(200, "OK")
end`, slOnly)
	r := reply(t, h, "INVITE", "sip:bob@example.com;transport=udp", "X-Foo: a", "X-Foo: b", "X-Foo: c", "User-Agent: ua/1")
	want := "INVITE|sip:bob@example.com;transport=udp|bob|example.com|5060|alice|ft1|bob|nil|1|a|b|c|3|udp|ua/1" +
		"|carol|5070|sip:bob@example.com;transport=udp|2|one|one|nil|sip:10.0.0.2|10.0.0.2|5060|gw.example.net:5080|false|false|nil|alice"
	if got := header(r, "X-R"); got != want {
		t.Fatalf("X-R:\n got %s\nwant %s", got, want)
	}
}
