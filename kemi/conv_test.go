package kemi_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/luasbc/luasbc/kemi"
	"github.com/luasbc/luasbc/kemi/kemitest"
)

// convtest exports functions that echo how their int and long arguments
// arrived, so the conversion is seen exactly as a script's call makes it.
func init() {
	kemi.RegisterModule(&kemi.Module{Name: "convtest", New: func(*kemi.Env) (kemi.Instance, error) { return convtest{}, nil }})
}

type convtest struct{}

func (convtest) Exports() []kemi.Export {
	return []kemi.Export{
		kemi.Fn("int", []kemi.ParamType{kemi.Int}, kemi.RetXval, "echo an int parameter",
			func(_ *kemi.Ctx, a *kemi.Args) kemi.Value { return kemi.StrV(strconv.FormatInt(a.I[0], 10)) }),
		kemi.Fn("long", []kemi.ParamType{kemi.Long}, kemi.RetXval, "echo a long parameter",
			func(_ *kemi.Ctx, a *kemi.Args) kemi.Value {
				return kemi.StrV(strconv.FormatFloat(a.F[0], 'g', -1, 64) + "/" + strconv.FormatInt(a.I[0], 10))
			}),
	}
}

// TestIntParamCoercion: a declared int parameter takes a string as Lua's
// lua_tointeger does (app_lua): decimal integers and floats (truncated), hex
// only with 0x, surrounding white space, anything else 0 — no base guessing.
func TestIntParamCoercion(t *testing.T) {
	cases := []struct {
		lua  string // Lua expression passed to KSR.convtest.int
		want string
	}{
		{`"10"`, "10"}, {`" 10 "`, "10"}, {`"\t\n10\r\n"`, "10"}, {`"\v\f10\f"`, "10"},
		{`"010"`, "10"}, {`"-010"`, "-10"}, {`"+7"`, "7"}, {`"-5"`, "-5"},
		{`"0x10"`, "16"}, {`"0X1f"`, "31"}, {`"-0x10"`, "-16"}, {`"0x7fffffffffffffff"`, "9223372036854775807"},
		{`"0xffffffffffffffff"`, "-1"}, {`"0x1p4"`, "16"}, {`"0x1.8"`, "1"},
		{`"10.0"`, "10"}, {`"10.9"`, "10"}, {`"-10.9"`, "-10"}, {`"1e3"`, "1000"}, {`"2.5E1"`, "25"},
		{`".5"`, "0"}, {`"5."`, "5"}, {`"9007199254740993"`, "9007199254740993"},
		// Not numbers for Lua: 0.
		{`"0b1"`, "0"}, {`"0o7"`, "0"}, {`"1_000"`, "0"}, {`"0x"`, "0"}, {`"0x1g"`, "0"}, {`"1e"`, "0"},
		{`"abc"`, "0"}, {`""`, "0"}, {`"  "`, "0"}, {`"10abc"`, "0"}, {`"- 5"`, "0"}, {`"1 0"`, "0"},
		{`"inf"`, "0"}, {`"-Infinity"`, "0"}, {`"nan"`, "0"}, {`"5\0"`, "0"}, {`"\194\160" .. "5"`, "0"},
		{`"."`, "0"}, {`"e5"`, "0"}, {`"++5"`, "0"}, {`"0x-1"`, "0"},
		// Out of the integer range: lua_tointeger fails, 0.
		{`"1e400"`, "0"}, {`"1e19"`, "0"}, {`"-1e19"`, "0"},
		// Other Lua types.
		{`10.7`, "10"}, {`-10.7`, "-10"}, {`0/0`, "0"}, {`1/0`, "0"}, {`1e300`, "0"}, {`true`, "0"}, {`{}`, "0"},
	}
	var script strings.Builder
	script.WriteString("function ksr_request_route()\n  local r = {}\n")
	for _, c := range cases {
		script.WriteString("  r[#r+1] = KSR.convtest.int(" + c.lua + ")\n")
	}
	script.WriteString(`  r[#r+1] = KSR.convtest.long("0x10")
  r[#r+1] = KSR.convtest.long(" 2.75 ")
  r[#r+1] = KSR.convtest.long("inf")
  r[#r+1] = KSR.convtest.long("1_0")
  r[#r+1] = KSR.convtest.long("1e400") -- HUGE_VAL, as strtod gives
  r[#r+1] = KSR.convtest.long(-3.5)
  r[#r+1] = tostring(KSR.setflag("010"))
  r[#r+1] = tostring(KSR.isflagset(10))
  r[#r+1] = tostring(KSR.isflagset(8))
  KSR.hdr.append_to_reply("X-R: " .. table.concat(r, "|") .. "\r\n")
  KSR.sl.sl_send_reply("200", "OK")
end
`)
	h := kemitest.New(t, script.String(), kemitest.Options{Modules: map[string]map[string]any{"sl": nil, "convtest": nil}})
	got := strings.Split(header(reply(t, h, "OPTIONS", "sip:127.0.0.1"), "X-R"), "|")
	tail := []string{"16/16", "2.75/2", "0/0", "0/0", "+Inf/0", "-3.5/-3", "true", "true", "false"}
	if len(got) != len(cases)+len(tail) {
		t.Fatalf("%d results, want %d: %q", len(got), len(cases)+len(tail), got)
	}
	for i, c := range cases {
		if got[i] != c.want {
			t.Errorf("KSR.convtest.int(%s) got %s, want %s", c.lua, got[i], c.want)
		}
	}
	for i, w := range tail {
		if g := got[len(cases)+i]; g != w {
			t.Errorf("tail %d: got %s, want %s", i, g, w)
		}
	}
}
