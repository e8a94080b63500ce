package kemi

import (
	"fmt"
	"strconv"
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// Kind of a Value.
type Kind uint8

// Value kinds.
const (
	KNil Kind = iota
	KInt
	KStr
	KBool
	KNum
	KList // []Value
	KDict // map[string]Value
	KNone // "none" return
)

// Value is what an export returns (and what a PV holds).
type Value struct {
	K Kind
	I int64
	S string
	F float64
	L []Value
	D map[string]Value
}

// Constructors.
var (
	Nil   = Value{K: KNil}
	None  = Value{K: KNone}
	True  = Value{K: KBool, I: 1}
	False = Value{K: KBool}
)

// IntV returns an integer value.
func IntV(n int) Value { return Value{K: KInt, I: int64(n)} }

// StrV returns a string value.
func StrV(s string) Value { return Value{K: KStr, S: s} }

// BoolV returns a boolean value.
func BoolV(b bool) Value {
	if b {
		return True
	}
	return False
}

// IsNil reports a null value.
func (v Value) IsNil() bool { return v.K == KNil }

// String renders the value as xlog would ("<null>" for nil).
func (v Value) String() string {
	switch v.K {
	case KNil:
		return "<null>"
	case KInt:
		return strconv.FormatInt(v.I, 10)
	case KStr:
		return v.S
	case KBool:
		if v.I != 0 {
			return "true"
		}
		return "false"
	case KNum:
		return strconv.FormatFloat(v.F, 'g', -1, 64)
	}
	return fmt.Sprint(v.L, v.D)
}

// Text renders the value, "" for nil.
func (v Value) Text() string {
	if v.K == KNil {
		return ""
	}
	return v.String()
}

// Int converts to an integer (strings parsed, 0 otherwise).
func (v Value) Int() int64 {
	switch v.K {
	case KInt, KBool:
		return v.I
	case KNum:
		return int64(v.F)
	case KStr:
		n, _ := strconv.ParseInt(strings.TrimSpace(v.S), 10, 64)
		return n
	}
	return 0
}

// Lua converts a Value for returning to Lua.
func (v Value) Lua(L *lua.LState) lua.LValue {
	switch v.K {
	case KInt:
		return lua.LNumber(v.I)
	case KStr:
		return lua.LString(v.S)
	case KBool:
		return lua.LBool(v.I != 0)
	case KNum:
		return lua.LNumber(v.F)
	case KList:
		t := L.CreateTable(len(v.L), 0)
		for _, x := range v.L {
			t.Append(x.Lua(L))
		}
		return t
	case KDict:
		t := L.CreateTable(0, len(v.D))
		for k, x := range v.D {
			t.RawSetString(k, x.Lua(L))
		}
		return t
	}
	return lua.LNil
}

// FromLua converts a Lua value (used by KSR.pv.sets and friends).
func FromLua(lv lua.LValue) Value {
	switch x := lv.(type) {
	case lua.LNumber:
		f := float64(x)
		if f == float64(int64(f)) {
			return Value{K: KInt, I: int64(f)}
		}
		return Value{K: KNum, F: f}
	case lua.LString:
		return StrV(string(x))
	case lua.LBool:
		return BoolV(bool(x))
	}
	return Nil
}

func atoi(v any) (int, error) {
	switch x := v.(type) {
	case nil:
		return 0, nil
	case int:
		return x, nil
	case int64:
		return int(x), nil
	case float64:
		return int(x), nil
	case bool:
		if x {
			return 1, nil
		}
		return 0, nil
	case string:
		switch strings.ToLower(strings.TrimSpace(x)) {
		case "yes", "on", "true":
			return 1, nil
		case "no", "off", "false", "":
			return 0, nil
		}
		return strconv.Atoi(strings.TrimSpace(x))
	}
	return 0, fmt.Errorf("want a number, got %T", v)
}
