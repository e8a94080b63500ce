package kemi

import (
	"strconv"
	"strings"

	lua "github.com/yuin/gopher-lua"
	"go.uber.org/zap"
)

// bindKSR installs the KSR table with every enabled export.
func (e *Engine) bindKSR(st *State) {
	L := st.L
	ksr := L.NewTable()
	subs := map[string]*lua.LTable{}
	for _, x := range e.exports {
		t := ksr
		if x.Module != "" {
			t = subs[x.Module]
			if t == nil {
				t = L.NewTable()
				subs[x.Module] = t
				ksr.RawSetString(x.Module, t)
			}
		}
		t.RawSetString(x.Name, L.NewFunction(e.wrap(st, x)))
	}
	L.SetGlobal("KSR", ksr)
	L.SetGlobal("KSRVERSION", lua.LString("2.0"))
}

// errExit is returned by KSR.x.exit/drop handlers to unwind the script.
var errExit = Value{K: KNone, S: exitSentinel}

func (e *Engine) wrap(st *State, x *Export) lua.LGFunction {
	np := len(x.Params)
	return func(L *lua.LState) int {
		c := &st.ctx
		if c.M == nil && !x.NoMsg {
			e.Log.Error("invalid Lua environment attributes: KSR function called outside message processing",
				zap.String("function", x.FullName()))
			L.Push(lua.LFalse)
			return 1
		}
		if L.GetTop() < np {
			c.Logger().Error("too few parameters", zap.String("function", x.FullName()),
				zap.Int("want", np), zap.Int("got", L.GetTop()))
			L.Push(lua.LFalse)
			return 1
		}
		var a Args
		for i, p := range x.Params {
			lv := L.Get(i + 1)
			switch p {
			case Str:
				a.S[i] = luaToString(lv)
			case Int:
				a.I[i] = luaToInt(lv)
			case Long:
				a.F[i] = luaToNumber(lv)
				a.I[i] = floatToInt(a.F[i])
			}
		}
		v := x.Fn(c, &a)
		if v.K == KNone && v.S == exitSentinel {
			raiseExit(L)
			return 0
		}
		switch x.Ret {
		case RetInt:
			L.Push(lua.LNumber(v.Int()))
		case RetBool:
			L.Push(lua.LBool(v.K == KBool && v.I != 0 || v.K == KInt && v.I > 0))
		case RetXval:
			L.Push(v.Lua(L))
		default:
			if np == 0 {
				L.Push(lua.LFalse)
			} else {
				L.Push(lua.LNumber(0))
			}
		}
		return 1
	}
}

// raiseExit unwinds the script as app_lua's exit does (a Lua error carrying
// the sentinel), without the traceback and message formatting gopher-lua
// spends on an error: exit runs on most messages, errors do not. L.Error with
// a non-string value still closes the open upvalues; the PCall that catches
// the panic puts its own Panic handler back.
func raiseExit(L *lua.LState) {
	L.Panic = func(*lua.LState) {
		panic(&lua.ApiError{Type: lua.ApiErrorRun, Object: lua.LString(exitSentinel), StackTrace: "(KSR.x.exit)"})
	}
	L.Error(lua.LNil, 0)
}

func luaToString(lv lua.LValue) string {
	switch v := lv.(type) {
	case lua.LString:
		return string(v)
	case lua.LNumber:
		return v.String()
	case lua.LBool:
		return ""
	}
	return ""
}

// luaToInt converts an argument for a declared int parameter as app_lua's
// lua_tointeger does: numbers are truncated toward zero, strings go through
// Lua's string-to-number coercion (luaStrToNumber), anything else is 0. A
// value outside the int64 range (or NaN) is 0, as lua_tointeger fails then.
func luaToInt(lv lua.LValue) int64 {
	switch v := lv.(type) {
	case lua.LNumber:
		return floatToInt(float64(v))
	case lua.LString:
		i, f, isInt, ok := luaStrToNumber(string(v))
		switch {
		case !ok:
			return 0
		case isInt:
			return i
		default:
			return floatToInt(f)
		}
	}
	return 0
}

// luaToNumber converts an argument for a declared long parameter as
// lua_tonumber does: numbers as they are, numeric strings coerced, else 0.
func luaToNumber(lv lua.LValue) float64 {
	switch v := lv.(type) {
	case lua.LNumber:
		return float64(v)
	case lua.LString:
		if _, f, _, ok := luaStrToNumber(string(v)); ok {
			return f
		}
	}
	return 0
}

// floatToInt truncates toward zero; NaN and values outside int64 give 0.
func floatToInt(f float64) int64 {
	if f >= -(1<<63) && f < 1<<63 {
		return int64(f)
	}
	return 0
}

// luaStrToNumber is Lua's string-to-number coercion (luaO_str2d / l_str2d):
// optional white space (C isspace), an optional sign, then either a decimal
// number ("10", "10.5", ".5", "5.", "1e3") or a hexadecimal one with a 0x or
// 0X prefix ("0x1F", "0x1.8p1"), then optional white space. Nothing else is a
// number: no octal or binary guessing ("010" is 10, "0b1" is not a number),
// no digit separators ("1_000"), no "inf" or "nan", no embedded NUL.
// A decimal or hexadecimal integer that fits comes back exactly in i with
// isInt set (hexadecimal integers wrap around modulo 2^64, as in Lua 5.3+);
// f always holds the value as a float.
func luaStrToNumber(s string) (i int64, f float64, isInt, ok bool) {
	s = strings.TrimFunc(s, func(r rune) bool {
		return r == ' ' || r == '\t' || r == '\n' || r == '\v' || r == '\f' || r == '\r'
	})
	body := s
	neg := false
	if body != "" && (body[0] == '+' || body[0] == '-') {
		neg = body[0] == '-'
		body = body[1:]
	}
	if len(body) > 2 && body[0] == '0' && (body[1] == 'x' || body[1] == 'X') {
		return luaHexToNumber(body[2:], neg)
	}
	// [digits] ["." [digits]] [(e|E) [sign] digits], at least one mantissa digit.
	j, mant := 0, 0
	for j < len(body) && isDecDigit(body[j]) {
		j, mant = j+1, mant+1
	}
	intOnly := j == len(body)
	if j < len(body) && body[j] == '.' {
		j++
		for j < len(body) && isDecDigit(body[j]) {
			j, mant = j+1, mant+1
		}
	}
	if mant == 0 {
		return 0, 0, false, false
	}
	if j < len(body) && (body[j] == 'e' || body[j] == 'E') {
		j++
		if j < len(body) && (body[j] == '+' || body[j] == '-') {
			j++
		}
		exp := 0
		for j < len(body) && isDecDigit(body[j]) {
			j, exp = j+1, exp+1
		}
		if exp == 0 {
			return 0, 0, false, false
		}
	}
	if j != len(body) {
		return 0, 0, false, false
	}
	// The text is plain decimal now, which strconv reads the same way; a
	// range error still yields ±Inf, as strtod gives HUGE_VAL.
	f, _ = strconv.ParseFloat(s, 64)
	if intOnly {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return n, f, true, true
		}
	}
	return 0, f, false, true
}

// luaHexToNumber reads the part after "0x": hex digits with an optional
// fraction and an optional binary exponent ("p" [sign] decimal digits).
func luaHexToNumber(h string, neg bool) (i int64, f float64, isInt, ok bool) {
	j, mant := 0, 0
	var u uint64
	for j < len(h) && isHexDigit(h[j]) {
		u = u<<4 | uint64(hexVal(h[j]))
		j, mant = j+1, mant+1
	}
	intOnly := j == len(h)
	if j < len(h) && h[j] == '.' {
		j++
		for j < len(h) && isHexDigit(h[j]) {
			j, mant = j+1, mant+1
		}
	}
	if mant == 0 {
		return 0, 0, false, false
	}
	hasExp := false
	if j < len(h) && (h[j] == 'p' || h[j] == 'P') {
		hasExp = true
		j++
		if j < len(h) && (h[j] == '+' || h[j] == '-') {
			j++
		}
		exp := 0
		for j < len(h) && isDecDigit(h[j]) {
			j, exp = j+1, exp+1
		}
		if exp == 0 {
			return 0, 0, false, false
		}
	}
	if j != len(h) {
		return 0, 0, false, false
	}
	if intOnly {
		i = int64(u)
		if neg {
			i = -i
		}
		return i, float64(i), true, true
	}
	lit := "0x" + h
	if !hasExp {
		lit += "p0"
	}
	f, _ = strconv.ParseFloat(lit, 64)
	if neg {
		f = -f
	}
	return 0, f, false, true
}

func isDecDigit(c byte) bool { return c >= '0' && c <= '9' }

func isHexDigit(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func hexVal(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}

// maxRep bounds string.rep: gopher-lua has no heap limit, and one call could
// otherwise allocate gigabytes before any deadline is checked.
const maxRep = 1 << 20

// openSandbox opens the safe standard libraries only: no os, io, debug,
// package, dofile, loadfile or collectgarbage (which would collect the whole
// Go process).
func openSandbox(L *lua.LState, log *zap.Logger) {
	for _, lib := range []struct {
		name string
		fn   lua.LGFunction
	}{
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
		{lua.StringLibName, lua.OpenString},
		{lua.MathLibName, lua.OpenMath},
		{lua.CoroutineLibName, lua.OpenCoroutine},
	} {
		L.Push(L.NewFunction(lib.fn))
		L.Push(lua.LString(lib.name))
		L.Call(1, 0)
	}
	for _, n := range []string{"dofile", "loadfile", "collectgarbage", "require", "module", "newproxy", "os", "io", "debug", "package"} {
		L.SetGlobal(n, lua.LNil)
	}
	L.SetGlobal("print", L.NewFunction(func(L *lua.LState) int {
		parts := make([]string, L.GetTop())
		for i := range parts {
			parts[i] = L.ToStringMeta(L.Get(i + 1)).String()
		}
		log.Info(strings.Join(parts, "\t"))
		return 0
	}))
	if strT, ok := L.GetGlobal("string").(*lua.LTable); ok {
		orig := strT.RawGetString("rep")
		strT.RawSetString("rep", L.NewFunction(func(L *lua.LState) int {
			s := L.CheckString(1)
			n := L.CheckInt(2)
			if n > 0 && len(s)*n > maxRep {
				L.RaiseError("string.rep result larger than %d bytes", maxRep)
				return 0
			}
			L.Push(orig)
			L.Push(lua.LString(s))
			L.Push(lua.LNumber(n))
			L.Call(2, 1)
			return 1
		}))
	}
}

// Typed constructors keep module export tables short and make the declared
// parameter types (used for conversion and for the docs) follow from the Go
// signature.

// Fn0Int declares f() -> int.
func Fn0Int(name, doc string, f func(c *Ctx) int) Export {
	return Export{Name: name, Doc: doc, Ret: RetInt, Fn: func(c *Ctx, _ *Args) Value { return IntV(f(c)) }}
}

// Fn0Bool declares f() -> bool.
func Fn0Bool(name, doc string, f func(c *Ctx) bool) Export {
	return Export{Name: name, Doc: doc, Ret: RetBool, Fn: func(c *Ctx, _ *Args) Value { return BoolV(f(c)) }}
}

// Fn0X declares f() -> xval.
func Fn0X(name, doc string, f func(c *Ctx) Value) Export {
	return Export{Name: name, Doc: doc, Ret: RetXval, Fn: func(c *Ctx, _ *Args) Value { return f(c) }}
}

// FnStrInt declares f(str) -> int.
func FnStrInt(name, doc string, f func(c *Ctx, s string) int) Export {
	return Export{Name: name, Doc: doc, Params: []ParamType{Str}, Ret: RetInt,
		Fn: func(c *Ctx, a *Args) Value { return IntV(f(c, a.S[0])) }}
}

// FnStrBool declares f(str) -> bool.
func FnStrBool(name, doc string, f func(c *Ctx, s string) bool) Export {
	return Export{Name: name, Doc: doc, Params: []ParamType{Str}, Ret: RetBool,
		Fn: func(c *Ctx, a *Args) Value { return BoolV(f(c, a.S[0])) }}
}

// FnStrX declares f(str) -> xval.
func FnStrX(name, doc string, f func(c *Ctx, s string) Value) Export {
	return Export{Name: name, Doc: doc, Params: []ParamType{Str}, Ret: RetXval,
		Fn: func(c *Ctx, a *Args) Value { return f(c, a.S[0]) }}
}

// FnIntInt declares f(int) -> int.
func FnIntInt(name, doc string, f func(c *Ctx, i int) int) Export {
	return Export{Name: name, Doc: doc, Params: []ParamType{Int}, Ret: RetInt,
		Fn: func(c *Ctx, a *Args) Value { return IntV(f(c, int(a.I[0]))) }}
}

// FnIntBool declares f(int) -> bool.
func FnIntBool(name, doc string, f func(c *Ctx, i int) bool) Export {
	return Export{Name: name, Doc: doc, Params: []ParamType{Int}, Ret: RetBool,
		Fn: func(c *Ctx, a *Args) Value { return BoolV(f(c, int(a.I[0]))) }}
}

// FnStrStrInt declares f(str, str) -> int.
func FnStrStrInt(name, doc string, f func(c *Ctx, a, b string) int) Export {
	return Export{Name: name, Doc: doc, Params: []ParamType{Str, Str}, Ret: RetInt,
		Fn: func(c *Ctx, a *Args) Value { return IntV(f(c, a.S[0], a.S[1])) }}
}

// FnStrStrStrInt declares f(str, str, str) -> int.
func FnStrStrStrInt(name, doc string, f func(c *Ctx, a, b, d string) int) Export {
	return Export{Name: name, Doc: doc, Params: []ParamType{Str, Str, Str}, Ret: RetInt,
		Fn: func(c *Ctx, a *Args) Value { return IntV(f(c, a.S[0], a.S[1], a.S[2])) }}
}

// FnIntStrInt declares f(int, str) -> int.
func FnIntStrInt(name, doc string, f func(c *Ctx, i int, s string) int) Export {
	return Export{Name: name, Doc: doc, Params: []ParamType{Int, Str}, Ret: RetInt,
		Fn: func(c *Ctx, a *Args) Value { return IntV(f(c, int(a.I[0]), a.S[1])) }}
}

// FnIntIntInt declares f(int, int) -> int.
func FnIntIntInt(name, doc string, f func(c *Ctx, i, j int) int) Export {
	return Export{Name: name, Doc: doc, Params: []ParamType{Int, Int}, Ret: RetInt,
		Fn: func(c *Ctx, a *Args) Value { return IntV(f(c, int(a.I[0]), int(a.I[1]))) }}
}

// FnStrIntInt declares f(str, int) -> int.
func FnStrIntInt(name, doc string, f func(c *Ctx, s string, i int) int) Export {
	return Export{Name: name, Doc: doc, Params: []ParamType{Str, Int}, Ret: RetInt,
		Fn: func(c *Ctx, a *Args) Value { return IntV(f(c, a.S[0], int(a.I[1]))) }}
}

// Fn declares any other shape.
func Fn(name string, params []ParamType, ret RetType, doc string, f Handler) Export {
	return Export{Name: name, Doc: doc, Params: params, Ret: ret, Fn: f}
}
