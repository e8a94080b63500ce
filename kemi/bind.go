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
				a.I[i] = int64(a.F[i])
			}
		}
		v := x.Fn(c, &a)
		if v.K == KNone && v.S == exitSentinel {
			L.Error(lua.LString(exitSentinel), 0)
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

func luaToInt(lv lua.LValue) int64 {
	switch v := lv.(type) {
	case lua.LNumber:
		return int64(v)
	case lua.LString:
		s := strings.TrimSpace(string(v))
		if n, err := strconv.ParseInt(s, 0, 64); err == nil {
			return n
		}
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return int64(f)
		}
	}
	return 0
}

func luaToNumber(lv lua.LValue) float64 {
	switch v := lv.(type) {
	case lua.LNumber:
		return float64(v)
	case lua.LString:
		f, _ := strconv.ParseFloat(strings.TrimSpace(string(v)), 64)
		return f
	}
	return 0
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
