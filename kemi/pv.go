package kemi

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"go.uber.org/zap"
)

// PVClass is one pseudo-variable name ($ru, $hdr(...), $sht(...)).
type PVClass struct {
	Name string
	Doc  string
	// Inner is true for classes written $name(inner).
	Inner bool
	Get   func(c *Ctx, p *PVSpec) Value
	// Set assigns (v.IsNil() = unset); nil for read-only classes.
	Set func(c *Ctx, p *PVSpec, v Value) error
	// Prepare may pre-parse Inner once per spec (cached).
	Prepare func(p *PVSpec) error
}

// PVSpec is a parsed PV reference.
type PVSpec struct {
	Class    *PVClass
	Inner    string
	Index    int
	HasIndex bool
	All      bool // [*]
	Data     any  // class-specific, from Prepare
	Raw      string
}

// ErrReadOnly is returned when a read-only PV is assigned.
var ErrReadOnly = errors.New("read-only pseudo-variable")

var (
	specCache  sync.Map // raw -> *PVSpec (per engine pv table, keyed with engine pointer)
	specCached atomic.Int64
)

const maxSpecCache = 20000

// ParsePV parses "$name", "$name(inner)" or "$(name(inner)[idx])".
func (e *Engine) ParsePV(raw string) (*PVSpec, error) {
	key := pvKey{e, raw}
	if v, ok := specCache.Load(key); ok {
		return v.(*PVSpec), nil
	}
	p, err := e.parsePV(raw)
	if err != nil {
		return nil, err
	}
	if specCached.Add(1) < maxSpecCache {
		specCache.Store(key, p)
	}
	return p, nil
}

type pvKey struct {
	e   *Engine
	raw string
}

func (e *Engine) parsePV(raw string) (*PVSpec, error) {
	s := strings.TrimSpace(raw)
	if !strings.HasPrefix(s, "$") || len(s) < 2 {
		return nil, fmt.Errorf("invalid pseudo-variable %q", raw)
	}
	s = s[1:]
	p := &PVSpec{Raw: raw}
	if s[0] == '(' {
		if !strings.HasSuffix(s, ")") {
			return nil, fmt.Errorf("invalid pseudo-variable %q", raw)
		}
		s = s[1 : len(s)-1]
		if i := strings.LastIndexByte(s, '['); i > 0 && strings.HasSuffix(s, "]") {
			idx := s[i+1 : len(s)-1]
			s = s[:i]
			p.HasIndex = true
			if idx == "*" {
				p.All = true
			} else {
				n, err := strconv.Atoi(idx)
				if err != nil {
					return nil, fmt.Errorf("invalid index in %q", raw)
				}
				p.Index = n
			}
		}
		if strings.ContainsAny(s, "{}") {
			return nil, fmt.Errorf("transformations are not supported: %q", raw)
		}
	}
	name := s
	if i := strings.IndexByte(s, '('); i > 0 {
		if !strings.HasSuffix(s, ")") {
			return nil, fmt.Errorf("invalid pseudo-variable %q", raw)
		}
		name, p.Inner = s[:i], s[i+1:len(s)-1]
	}
	cl := e.pvs[name]
	if cl == nil {
		return nil, fmt.Errorf("unknown pseudo-variable %q", raw)
	}
	if cl.Inner && p.Inner == "" {
		return nil, fmt.Errorf("pseudo-variable %q needs a name in parentheses", raw)
	}
	p.Class = cl
	if cl.Prepare != nil {
		if err := cl.Prepare(p); err != nil {
			return nil, fmt.Errorf("%q: %v", raw, err)
		}
	}
	return p, nil
}

// GetPV evaluates a PV by its text; invalid names give Nil (logged).
func (c *Ctx) GetPV(raw string) Value {
	p, err := c.Engine.ParsePV(raw)
	if err != nil {
		c.Logger().Error("pseudo-variable", zap.Error(err))
		return Nil
	}
	if c.M == nil {
		return Nil
	}
	return p.Class.Get(c, p)
}

// SetPV assigns a PV by its text.
func (c *Ctx) SetPV(raw string, v Value) error {
	p, err := c.Engine.ParsePV(raw)
	if err != nil {
		return err
	}
	if p.Class.Set == nil {
		return fmt.Errorf("%s: %w", raw, ErrReadOnly)
	}
	return p.Class.Set(c, p, v)
}

func pvExports() []Export {
	get := func(name, doc string, missing func(a *Args) Value, params ...ParamType) Export {
		if len(params) == 0 {
			params = []ParamType{Str}
		}
		return Fn(name, params, RetXval, doc, func(c *Ctx, a *Args) Value {
			v := c.GetPV(a.S[0])
			if v.IsNil() {
				return missing(a)
			}
			return v
		})
	}
	set := func(name, doc string, conv func(a *Args) Value, t ParamType) Export {
		return Fn(name, []ParamType{Str, t}, RetBool, doc, func(c *Ctx, a *Args) Value {
			if err := c.SetPV(a.S[0], conv(a)); err != nil {
				c.Logger().Error("pseudo-variable assignment refused", zap.String("pv", a.S[0]), zap.Error(err))
				return False
			}
			return True
		})
	}
	return []Export{
		get("get", "Value of a PV; nil when null.", func(*Args) Value { return Nil }),
		get("gete", "Value of a PV; \"\" when null.", func(*Args) Value { return StrV("") }),
		get("getw", "Value of a PV; \"<null>\" when null.", func(*Args) Value { return StrV("<null>") }),
		get("getvs", "Value of a PV, or the given string when null.", func(a *Args) Value { return StrV(a.S[1]) }, Str, Str),
		get("getvn", "Value of a PV, or the given number when null.", func(a *Args) Value { return IntV(int(a.I[1])) }, Str, Int),
		Fn("geti", []ParamType{Str}, RetInt, "Integer value of a PV (0 when null or not a number).", func(c *Ctx, a *Args) Value {
			return IntV(int(c.GetPV(a.S[0]).Int()))
		}),
		Fn("getl", []ParamType{Str}, RetXval, "Value of a PV as a number.", func(c *Ctx, a *Args) Value {
			v := c.GetPV(a.S[0])
			if v.IsNil() {
				return Nil
			}
			return Value{K: KInt, I: v.Int()}
		}),
		set("sets", "Assign a string.", func(a *Args) Value { return StrV(a.S[1]) }, Str),
		set("seti", "Assign an integer.", func(a *Args) Value { return Value{K: KInt, I: a.I[1]} }, Int),
		set("setl", "Assign a long integer.", func(a *Args) Value { return Value{K: KInt, I: int64(a.F[1])} }, Long),
		Fn("unset", []ParamType{Str}, RetBool, "Assign $null (remove AVP, reset $du...).", func(c *Ctx, a *Args) Value {
			if err := c.SetPV(a.S[0], Nil); err != nil {
				c.Logger().Error("pseudo-variable unset refused", zap.String("pv", a.S[0]), zap.Error(err))
				return False
			}
			return True
		}),
		Fn("is_null", []ParamType{Str}, RetBool, "True if the PV is null (or invalid).", func(c *Ctx, a *Args) Value {
			return BoolV(c.GetPV(a.S[0]).IsNil())
		}),
	}
}

// Format is a parsed text with PV references (xlog).
type Format struct {
	parts []fmtPart
}

type fmtPart struct {
	lit  string
	spec *PVSpec
}

var fmtCache sync.Map
var fmtCached atomic.Int64

// ParseFormat parses text with $pv references; unknown references stay literal.
func (e *Engine) ParseFormat(s string) *Format {
	key := pvKey{e, s}
	if f, ok := fmtCache.Load(key); ok {
		return f.(*Format)
	}
	f := &Format{}
	var lit strings.Builder
	for i := 0; i < len(s); {
		if s[i] != '$' || i+1 >= len(s) {
			lit.WriteByte(s[i])
			i++
			continue
		}
		if s[i+1] == '$' {
			lit.WriteByte('$')
			i += 2
			continue
		}
		n := pvLen(s[i:])
		if n <= 1 {
			lit.WriteByte('$')
			i++
			continue
		}
		spec, err := e.ParsePV(s[i : i+n])
		if err != nil {
			lit.WriteString(s[i : i+n])
			i += n
			continue
		}
		if lit.Len() > 0 {
			f.parts = append(f.parts, fmtPart{lit: lit.String()})
			lit.Reset()
		}
		f.parts = append(f.parts, fmtPart{spec: spec})
		i += n
	}
	if lit.Len() > 0 {
		f.parts = append(f.parts, fmtPart{lit: lit.String()})
	}
	if fmtCached.Add(1) < maxSpecCache {
		fmtCache.Store(key, f)
	}
	return f
}

// pvLen returns the length of the PV reference at the start of s ("$...").
func pvLen(s string) int {
	i := 1
	if i < len(s) && s[i] == '(' {
		depth := 0
		for ; i < len(s); i++ {
			switch s[i] {
			case '(':
				depth++
			case ')':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
		}
		return 0
	}
	for i < len(s) && (isAlnum(s[i]) || s[i] == '_') {
		i++
	}
	if i < len(s) && s[i] == '(' {
		depth := 0
		for ; i < len(s); i++ {
			switch s[i] {
			case '(':
				depth++
			case ')':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
		}
		return 0
	}
	return i
}

func isAlnum(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9'
}

// Expand renders the format for the current message ("<null>" for null PVs).
func (f *Format) Expand(c *Ctx) string {
	if len(f.parts) == 1 && f.parts[0].spec == nil {
		return f.parts[0].lit
	}
	var b strings.Builder
	for _, p := range f.parts {
		if p.spec == nil {
			b.WriteString(p.lit)
			continue
		}
		if c.M == nil {
			b.WriteString("<null>")
			continue
		}
		b.WriteString(p.spec.Class.Get(c, p.spec).String())
	}
	return b.String()
}
