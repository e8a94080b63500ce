package kemi

import (
	"fmt"
	"sort"
	"strings"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/parse"
	"go.uber.org/zap"

	"github.com/luasbc/luasbc/core/config"
	"github.com/luasbc/luasbc/core/rpc"
)

// API describes everything a script can reach when every registered module is
// enabled: the input of the reference pages and the editor stubs (cmd/sbcdoc).
type API struct {
	Version string       // the KSRVERSION global
	Core    []Export     // KSR.*, KSR.hdr, KSR.pv, KSR.x, sorted by sub-table, name
	PVs     []PVDoc      // core pseudo-variables, sorted by name
	RPC     []rpc.Method // app_lua.* methods of the engine, sorted by name
	Modules []ModuleAPI  // sorted by name
}

// ModuleAPI is one module instantiated with its default parameters.
type ModuleAPI struct {
	Module  *Module
	Exports []Export // Module filled in, sorted by sub-table, name
	PVs     []PVDoc
	RPC     []rpc.Method
}

// PVDoc describes a pseudo-variable class.
type PVDoc struct {
	Name     string
	Doc      string
	Inner    bool // written $name(inner)
	Writable bool
}

// APIDoc builds the API the way a running server does, through NewEngine
// without a core, so the docs cannot drift from what scripts actually get.
func APIDoc() (*API, error) {
	cfg := &config.Config{Modules: map[string]map[string]any{}}
	for _, m := range Modules() {
		cfg.Modules[m.Name] = nil // nil: every parameter at its default
		cfg.ModuleOrder = append(cfg.ModuleOrder, m.Name)
	}
	e, err := NewEngine(nil, cfg, zap.NewNop(), nil)
	if err != nil {
		return nil, err
	}
	api := &API{RPC: e.rpcMethods(), PVs: pvDocs(corePVs())}
	if api.Version, err = e.ksrVersion(); err != nil {
		return nil, err
	}
	for _, x := range coreExports() {
		api.Core = append(api.Core, *x)
	}
	sortExports(api.Core)
	sortRPC(api.RPC)
	for _, ni := range e.inst {
		ma := ModuleAPI{Module: LookupModule(ni.name)}
		for _, x := range ni.inst.Exports() {
			if x.Module == "" {
				x.Module = ni.name // as loadModules does
			}
			ma.Exports = append(ma.Exports, x)
		}
		sortExports(ma.Exports)
		if p, ok := ni.inst.(PVProvider); ok {
			ma.PVs = pvDocs(p.PVs())
		}
		if p, ok := ni.inst.(RPCProvider); ok {
			ma.RPC = p.RPC()
			sortRPC(ma.RPC)
		}
		api.Modules = append(api.Modules, ma)
	}
	sort.Slice(api.Modules, func(i, j int) bool { return api.Modules[i].Module.Name < api.Modules[j].Module.Name })
	return api, nil
}

// ksrVersion reads KSRVERSION from a freshly bound Lua state rather than
// repeating the constant here.
func (e *Engine) ksrVersion() (string, error) {
	chunk, err := parse.Parse(strings.NewReader(""), "apidoc")
	if err != nil {
		return "", err
	}
	proto, err := lua.Compile(chunk, "apidoc")
	if err != nil {
		return "", err
	}
	st, err := e.newState(&generation{proto: proto, path: "apidoc"})
	if err != nil {
		return "", err
	}
	defer e.closeState(st)
	v, ok := st.L.GetGlobal("KSRVERSION").(lua.LString)
	if !ok {
		return "", fmt.Errorf("KSRVERSION is not set by bindKSR")
	}
	return string(v), nil
}

func pvDocs(cls []*PVClass) []PVDoc {
	out := make([]PVDoc, 0, len(cls))
	for _, c := range cls {
		out = append(out, PVDoc{Name: c.Name, Doc: c.Doc, Inner: c.Inner, Writable: c.Set != nil})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func sortExports(xs []Export) {
	sort.SliceStable(xs, func(i, j int) bool {
		if xs[i].Module != xs[j].Module {
			return xs[i].Module < xs[j].Module
		}
		return xs[i].Name < xs[j].Name
	})
}

func sortRPC(ms []rpc.Method) {
	sort.SliceStable(ms, func(i, j int) bool { return ms[i].Name < ms[j].Name })
}
