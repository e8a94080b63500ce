// Package kemi binds the SIP core to Lua with Kamailio's KEMI conventions: one
// export registry (from which the KSR tables, the API docs and the editor stubs
// are generated), a pool of Lua states running a compiled script, hot reload,
// and the core KSR functions, KSR.pv, KSR.hdr and KSR.x.
package kemi

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	"go.uber.org/zap"

	"github.com/luasbc/luasbc/core"
	"github.com/luasbc/luasbc/core/msg"
	"github.com/luasbc/luasbc/core/rpc"
	"github.com/luasbc/luasbc/core/suggest"
)

// ParamType is a declared KEMI parameter type.
type ParamType uint8

// Parameter types (§1.2 of the reference).
const (
	Str  ParamType = iota // lua_tostring: numbers become their text
	Int                   // lua_tointeger: numeric strings accepted, others 0
	Long                  // lua_tonumber
)

func (p ParamType) String() string {
	switch p {
	case Int:
		return "int"
	case Long:
		return "long"
	}
	return "str"
}

// RetType is a declared KEMI return type.
type RetType uint8

// Return types (§1.3).
const (
	RetInt  RetType = iota // Lua number
	RetBool                // Lua boolean
	RetXval                // string, number, nil, boolean or table
	RetNone                // nothing meaningful: false for 0 params, 0 otherwise
)

func (r RetType) String() string {
	return [...]string{"int", "bool", "xval", "none"}[r]
}

// Args holds converted call arguments.
type Args struct {
	S [6]string
	I [6]int64
	F [6]float64
}

// Handler implements one export.
type Handler func(c *Ctx, a *Args) Value

// Export is one KSR function.
type Export struct {
	Module string // "" for core KSR.*, else the sub-table name
	Name   string
	Params []ParamType
	Ret    RetType
	Doc    string
	Fn     Handler
	NoMsg  bool // callable outside message processing (KSR.x.*)
}

// FullName is "KSR.mod.name" or "KSR.name".
func (e *Export) FullName() string {
	if e.Module == "" {
		return "KSR." + e.Name
	}
	return "KSR." + e.Module + "." + e.Name
}

// Signature renders "(str, int) -> int".
func (e *Export) Signature() string {
	ps := make([]string, len(e.Params))
	for i, p := range e.Params {
		ps[i] = p.String()
	}
	return "(" + strings.Join(ps, ", ") + ") -> " + e.Ret.String()
}

// ParamDef declares a module parameter (Kamailio modparam).
type ParamDef struct {
	Name    string
	Default any
	Doc     string
	// Ignored marks a Kamailio modparam that has no meaning here (shared memory
	// sizes, process counts): accepted with one start-up notice.
	Ignored bool
}

// Module is a module definition.
type Module struct {
	Name   string
	Doc    string
	Params []ParamDef
	// New instantiates the module. Env.Core is nil when only the API is being
	// listed (docs, stubs): New must not do I/O; Start does.
	New func(env *Env) (Instance, error)
	// Tables are the module's PostgreSQL tables, with Kamailio's names,
	// columns and versions, so `sbcctl db create` and deploy/postgres come
	// from the code that reads them.
	Tables []Table
}

// Table is one PostgreSQL table a module reads or writes.
type Table struct {
	Name    string // Kamailio's table name
	Version int    // its row in Kamailio's version table
	SQL     string // CREATE TABLE (and CREATE INDEX) statements
}

// Instance is a configured module.
type Instance interface {
	Exports() []Export
}

// Starter is implemented by modules with background work or connections.
type Starter interface{ Start() error }

// Stopper is implemented by modules that must release resources.
type Stopper interface{ Stop() }

// RPCProvider is implemented by modules with RPC methods.
type RPCProvider interface{ RPC() []rpc.Method }

// PVProvider is implemented by modules defining pseudo-variable classes.
type PVProvider interface{ PVs() []*PVClass }

// Env is what a module gets at instantiation.
type Env struct {
	Core   *core.Core // nil when listing the API
	Log    *zap.Logger
	Params Params
	Engine *Engine
}

var (
	regMu   sync.Mutex
	modules = map[string]*Module{}
)

// RegisterModule makes a module available to configs; called from init.
func RegisterModule(m *Module) {
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := modules[m.Name]; dup {
		panic("kemi: module registered twice: " + m.Name)
	}
	modules[m.Name] = m
}

// Modules lists registered modules by name.
func Modules() []*Module {
	regMu.Lock()
	defer regMu.Unlock()
	out := make([]*Module, 0, len(modules))
	for _, m := range modules {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// LookupModule finds a registered module.
func LookupModule(name string) *Module {
	regMu.Lock()
	defer regMu.Unlock()
	return modules[name]
}

// Params are a module's validated parameters with defaults filled in.
type Params map[string]any

// Int reads an integer parameter.
func (p Params) Int(name string) int {
	v, _ := atoi(p[name])
	return v
}

// Str reads a string parameter.
func (p Params) Str(name string) string {
	switch v := p[name].(type) {
	case nil:
		return ""
	case string:
		return v
	default:
		return fmt.Sprint(v)
	}
}

// Bool reads a boolean-ish parameter (yes/no, 1/0, true/false).
func (p Params) Bool(name string) bool { return p.Int(name) != 0 }

// Strs reads a parameter that may be given once or as a list (Kamailio
// modparams that may repeat).
func (p Params) Strs(name string) []string {
	switch v := p[name].(type) {
	case nil:
		return nil
	case string:
		return []string{v}
	case []any:
		out := make([]string, 0, len(v))
		for _, x := range v {
			out = append(out, fmt.Sprint(x))
		}
		return out
	case []string:
		return v
	default:
		return []string{fmt.Sprint(v)}
	}
}

// ValidateParams checks names against the module's definitions (an unknown
// name is an error that names the closest valid one), fills defaults and
// returns the names of accepted-but-ignored parameters that were set.
func ValidateParams(m *Module, given map[string]any) (Params, []string, error) {
	out := Params{}
	defs := map[string]*ParamDef{}
	for i := range m.Params {
		d := &m.Params[i]
		defs[d.Name] = d
		if d.Default != nil {
			out[d.Name] = d.Default
		}
	}
	var ignored []string
	names := make([]string, 0, len(given))
	for k := range given {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		d, ok := defs[k]
		if !ok {
			return nil, nil, fmt.Errorf("module %s: unknown parameter %q%s", m.Name, k, closest(k, m.Params))
		}
		if d.Ignored {
			ignored = append(ignored, k)
		}
		v := given[k]
		if _, isInt := d.Default.(int); isInt {
			if _, err := atoi(v); err != nil {
				return nil, nil, fmt.Errorf("module %s: parameter %s: %v", m.Name, k, err)
			}
		}
		out[k] = v
	}
	return out, ignored, nil
}

func closest(name string, defs []ParamDef) string {
	names := make([]string, len(defs))
	for i, d := range defs {
		names[i] = d.Name
	}
	best, _ := suggest.Closest(name, names)
	if best == "" {
		return " (this module takes no parameters)"
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// Ctx is the state of one script callback: the message and the Lua state.
type Ctx struct {
	M      *msg.Msg
	Core   *core.Core
	Engine *Engine
	State  *State
	Log    *zap.Logger
}

// Context is cancelled when the running callback passes lua.timeout_ms, so
// Go functions that block (DNS, connecting, databases) stop with the script.
func (c *Ctx) Context() context.Context {
	if c.State != nil && c.State.runCtx != nil {
		return c.State.runCtx
	}
	return context.Background()
}

// Logger returns a logger carrying the message's call-id, method and source.
func (c *Ctx) Logger() *zap.Logger {
	if c.M == nil || c.M.SIP == nil {
		return c.Log
	}
	return c.Log.With(zap.String("callid", c.M.CallID()), zap.String("method", c.M.Method()),
		zap.String("src", c.M.Src.String()))
}
