package kemi

import (
	"context"
	"strings"
	"time"

	"github.com/luasbc/luasbc/core/rpc"
)

func (e *Engine) rpcMethods() []rpc.Method {
	return []rpc.Method{
		{Name: "app_lua.reload", Params: "[index]", Doc: "Compile and load the script again; on error the running version stays.",
			Fn: func(_ context.Context, p rpc.Params) (any, error) {
				if e.Cfg.Lua.Reload != nil && !*e.Cfg.Lua.Reload {
					return nil, rpc.Errorf(500, "Reload Failed: reload is disabled (lua.reload: false)")
				}
				if idx, ok := p.Int(0); ok && idx != 0 {
					return nil, rpc.Errorf(500, "Reload Failed: no script with index %d", idx)
				}
				if err := e.Reload(); err != nil {
					return nil, &rpc.Error{Code: 500, Message: "Reload Failed", Data: reloadErrorData(err, e.Cfg.Lua.Load)}
				}
				v, at, path := e.Version()
				return map[string]any{"file": path, "version": v, "loaded": at.Format(time.RFC3339)}, nil
			}},
		{Name: "app_lua.list", Doc: "The loaded script: index, file, version and load time.",
			Fn: func(context.Context, rpc.Params) (any, error) {
				v, at, path := e.Version()
				g := e.gen.Load()
				sum := ""
				if g != nil {
					sum = g.sum
				}
				return []map[string]any{{"index": 0, "file": path, "version": v, "loaded": at.Format(time.RFC3339), "sha256": sum}}, nil
			}},
		{Name: "app_lua.api_list", Doc: "Every KSR export of this configuration.",
			Fn: func(context.Context, rpc.Params) (any, error) {
				type fn struct {
					Ret    string `json:"ret"`
					Module string `json:"module"`
					Name   string `json:"name"`
					Params string `json:"params"`
				}
				var methods []map[string]fn
				for _, x := range e.exports {
					ps := make([]string, len(x.Params))
					for i, t := range x.Params {
						ps[i] = t.String()
					}
					params := strings.Join(ps, ", ")
					if params == "" {
						params = "none"
					}
					methods = append(methods, map[string]fn{"func": {x.Ret.String(), x.Module, x.Name, params}})
				}
				return map[string]any{"msize": len(methods), "methods": methods}, nil
			}},
	}
}

// reloadErrorData is the data of a failed app_lua.reload: the Lua error text,
// the script file and the line when the error names one (omitted otherwise).
func reloadErrorData(err error, file string) map[string]any {
	se := scriptError(file, err)
	d := map[string]any{"error": se.Msg, "file": se.File}
	if se.Line > 0 {
		d["line"] = se.Line
	}
	return d
}
