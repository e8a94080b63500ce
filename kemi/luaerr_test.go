package kemi

import (
	"errors"
	"strings"
	"testing"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/parse"
)

func TestLuaErrorLine(t *testing.T) {
	for _, tc := range []struct {
		text, file string
		want       int
	}{
		{"s.lua line:3(column:3) near 'end': syntax error", "s.lua", 3},
		{"s.lua line:3(column:3) near 'end':   syntax error\n", "s.lua", 3},
		{"s.lua:3: attempt to call a nil value", "s.lua", 3},
		{"/etc/sbc/s.lua:127: attempt to index a nil value (global 'x')", "/etc/sbc/s.lua", 127},
		{"compile error near line(12) s.lua: too many local variables", "s.lua", 12},
		// Without the file name to anchor on, both forms are still found.
		{"s.lua line:9(column:1) near 'x': syntax error", "", 9},
		{"s.lua:42: boom", "", 42},
		{"other.lua:7: boom", "s.lua", 7},
		// Numbers later in the message are not the line.
		{"s.lua:5: bad argument #1 to 'f' (x:12: y)", "s.lua", 5},
		{"s.lua line:5(column:2) near 'a:1:': syntax error", "s.lua", 5},
		// A path with a colon-number in it.
		{"/srv/v:2:/s.lua:8: boom", "/srv/v:2:/s.lua", 8},
		// No line.
		{"s.lua at EOF: unexpected EOF", "s.lua", 0},
		{"no function ksr_request_route()", "s.lua", 0},
		{"boom", "s.lua", 0},
		{"s.lua: open s.lua: no such file or directory", "s.lua", 0},
		{"top-level code ran longer than 1s", "", 0},
		{"s.lua:99999999999999999999: x", "s.lua", 0},
		{"", "", 0},
	} {
		if got := luaErrorLine(tc.text, tc.file); got != tc.want {
			t.Errorf("luaErrorLine(%q, %q) = %d, want %d", tc.text, tc.file, got, tc.want)
		}
	}
}

// scriptError turns real gopher-lua errors into the file, line and text of
// the reload error.
func TestScriptErrorFromGopherLua(t *testing.T) {
	_, err := parse.Parse(strings.NewReader("function f()\n  g(1\nend\n"), "s.lua")
	se := scriptError("s.lua", err)
	if se.Line != 3 || se.File != "s.lua" || se.Msg != "s.lua line:3(column:3) near 'end': syntax error" {
		t.Errorf("syntax error: %+v", se)
	}
	if !errors.As(se, new(*parse.Error)) {
		t.Error("the parse error is not kept")
	}
	if got := se.Error(); got != "lua script: s.lua line:3(column:3) near 'end': syntax error" {
		t.Errorf("Error() = %q", got)
	}

	L := lua.NewState()
	defer L.Close()
	chunk, _ := parse.Parse(strings.NewReader("local a = 1\n\nnosuch()\n"), "r.lua")
	proto, _ := lua.Compile(chunk, "r.lua")
	L.Push(L.NewFunctionFromProto(proto))
	err = L.PCall(0, 0, nil)
	se = scriptError("r.lua", err)
	if se.Line != 3 || !strings.HasPrefix(se.Msg, "r.lua:3: ") || strings.Contains(se.Msg, "\n") {
		t.Errorf("runtime error: %+v", se)
	}

	se = scriptError("s.lua", errors.New("no function ksr_request_route()"))
	if se.Line != 0 || se.Error() != "lua script s.lua: no function ksr_request_route()" {
		t.Errorf("plain error: %+v / %q", se, se.Error())
	}
}
