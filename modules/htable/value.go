package htable

import (
	"strconv"
	"time"

	"github.com/luasbc/luasbc/kemi"
)

// Value is an item value: a string or an integer, as in Kamailio.
type Value struct {
	IsStr bool
	S     string
	I     int64
}

// Str and Int build values.
func Str(s string) Value { return Value{IsStr: true, S: s} }

// Int builds an integer value.
func Int(n int64) Value { return Value{I: n} }

// Kemi converts for returning to Lua (strings stay strings, integers numbers).
func (v Value) Kemi() kemi.Value {
	if v.IsStr {
		return kemi.StrV(v.S)
	}
	return kemi.Value{K: kemi.KInt, I: v.I}
}

// Text renders the value ("abc", "42").
func (v Value) Text() string {
	if v.IsStr {
		return v.S
	}
	return strconv.FormatInt(v.I, 10)
}

// TypeName is "str" or "int", as htable.dump says.
func (v Value) TypeName() string {
	if v.IsStr {
		return "str"
	}
	return "int"
}

// fromKemi converts a value assigned to $sht: numbers and booleans become
// integers, everything else a string.
func fromKemi(v kemi.Value) Value {
	switch v.K {
	case kemi.KInt, kemi.KBool:
		return Int(v.I)
	case kemi.KNum:
		return Int(int64(v.F))
	}
	return Str(v.Text())
}

// Item is a live item with its absolute expiry (unix nanoseconds, 0 = never).
type Item struct {
	Name   string
	Val    Value
	Expire int64
}

// TTL is the time left before the item expires, rounded up to whole seconds;
// -1 when it never expires.
func (it Item) TTL(now int64) int64 {
	if it.Expire == 0 {
		return -1
	}
	return ceilSeconds(it.Expire - now)
}

func ceilSeconds(ns int64) int64 {
	if ns <= 0 {
		return 0
	}
	return (ns + int64(time.Second) - 1) / int64(time.Second)
}

func nowNano() int64 { return time.Now().UnixNano() }
