package xlog_test

import (
	"strings"
	"testing"

	"go.uber.org/zap/zapcore"

	"github.com/luasbc/luasbc/kemi/kemitest"
	_ "github.com/luasbc/luasbc/modules/sl"
	_ "github.com/luasbc/luasbc/modules/xlog"
)

func TestXlogLevelsAndSubstitution(t *testing.T) {
	h := kemitest.New(t, `
function ksr_request_route()
  local r = KSR.xlog.xinfo("info $rm to $ru\n")
  KSR.xlog.xlog("L_WARN", "warn $ci")
  KSR.xlog.xlog("L_NOTICE", "notice\n\n")
  KSR.xlog.xdbg("dbg $$ literal")
  KSR.xlog.xcrit("crit")
  KSR.pv.seti("$var(l)", 0)
  KSR.xlog.xlog("$var(l)", "numeric")
  KSR.xlog.xlog_facility("LOG_LOCAL0", "L_ERR", "fac")
  KSR.hdr.append_to_reply("X-R: " .. tostring(r) .. "\r\n")
  KSR.sl.sl_send_reply(200, "OK")
end`, kemitest.Options{Modules: map[string]map[string]any{"sl": nil, "xlog": {"prefix": "[x] "}}})
	r := h.Exchange(kemitest.Request("OPTIONS", "sip:svc@127.0.0.1:{sport}"))
	if !strings.Contains(r, "X-R: 1\r\n") {
		t.Fatalf("reply %q", r)
	}
	want := map[string]zapcore.Level{
		"[x] info OPTIONS to sip:svc@127.0.0.1:": zapcore.InfoLevel,
		"[x] warn test-":                         zapcore.WarnLevel,
		"[x] notice\n":                           zapcore.InfoLevel,
		"[x] dbg $ literal":                      zapcore.DebugLevel,
		"[x] crit":                               zapcore.ErrorLevel,
		"[x] numeric":                            zapcore.WarnLevel,
		"[x] fac":                                zapcore.ErrorLevel,
	}
	for prefix, lvl := range want {
		found := false
		for _, e := range h.Logs.All() {
			if strings.HasPrefix(e.Message, prefix) {
				found = true
				if e.Level != lvl {
					t.Errorf("%q logged at %v, want %v", e.Message, e.Level, lvl)
				}
				if strings.HasSuffix(e.Message, "\n") && prefix != "[x] notice\n" {
					t.Errorf("trailing newline kept: %q", e.Message)
				}
			}
		}
		if !found {
			t.Errorf("no log line starting with %q", prefix)
		}
	}
}

func TestXlogBufSizeAndPrefixMode(t *testing.T) {
	h := kemitest.New(t, `
function ksr_request_route()
  KSR.xlog.xerr("0123456789abcdef")
  KSR.sl.sl_send_reply(200, "OK")
end`, kemitest.Options{Modules: map[string]map[string]any{"sl": nil,
		"xlog": {"prefix": "$rm: ", "prefix_mode": 1, "buf_size": 16}}})
	if r := h.Exchange(kemitest.Request("OPTIONS", "sip:127.0.0.1:{sport}")); kemitest.StatusCode(r) != 200 {
		t.Fatalf("reply %q", r)
	}
	if !h.LogContains("OPTIONS: 0123456") || h.LogContains("OPTIONS: 01234567") {
		t.Fatalf("prefix expansion or truncation wrong: %v", h.Logs.All())
	}
}
