package permissions

import (
	"context"
	"errors"

	"github.com/luasbc/luasbc/core/rpc"
)

// RPC implements kemi.RPCProvider with Kamailio's method names.
func (p *Permissions) RPC() []rpc.Method {
	return append(p.editRPC(), []rpc.Method{
		{Name: "permissions.addressReload", Doc: "Reload the address table; on failure the loaded table stays. Rate limited by reload_delta.",
			Fn: func(ctx context.Context, _ rpc.Params) (any, error) {
				return reloadResult(p.rpcReload(ctx, "address", p.reloadAddress))
			}},
		{Name: "permissions.trustedReload", Doc: "Reload the trusted table; on failure the loaded table stays. Rate limited by reload_delta.",
			Fn: func(ctx context.Context, _ rpc.Params) (any, error) {
				return reloadResult(p.rpcReload(ctx, "trusted", p.reloadTrusted))
			}},
		{Name: "permissions.addressDump", Doc: "The exact-address records (full-length mask) of the address table.",
			Fn: func(context.Context, rpc.Params) (any, error) { return p.addressDump(), nil }},
		{Name: "permissions.subnetDump", Doc: "The subnet records of the address table.",
			Fn: func(context.Context, rpc.Params) (any, error) { return p.subnetDump(), nil }},
		{Name: "permissions.domainDump", Doc: "The domain-name records of the address table.",
			Fn: func(context.Context, rpc.Params) (any, error) { return p.domainDump(), nil }},
		{Name: "permissions.trustedDump", Doc: "The trusted table, highest priority first.",
			Fn: func(context.Context, rpc.Params) (any, error) {
				t := p.trusted.Load()
				if t == nil {
					return nil, rpc.Errorf(500, "No trusted table")
				}
				return trustedDump(t), nil
			}},
		{Name: "permissions.testUri", Params: "basename uri contact", Doc: "Whether the (URI, Contact) pair is allowed by basename's allow/deny files: \"Allowed\" or \"Denied\".",
			Fn: p.rpcTestURI},
		{Name: "permissions.allowUri", Params: "basename uri contact", Doc: "Same as permissions.testUri.",
			Fn: p.rpcTestURI},
	}...)
}

func reloadResult(err error) (any, error) {
	switch {
	case err == nil:
		return "Reload OK", nil
	case errors.Is(err, errTooSoon):
		return nil, rpc.Errorf(500, "ongoing reload")
	}
	return nil, &rpc.Error{Code: 500, Message: "Reload failed.", Data: map[string]any{"error": err.Error()}}
}

func (p *Permissions) rpcTestURI(_ context.Context, ps rpc.Params) (any, error) {
	base, ok1 := ps.Str(0)
	uri, ok2 := ps.Str(1)
	contact, ok3 := ps.Str(2)
	if !ok1 || !ok2 || !ok3 {
		return nil, rpc.Errorf(500, "Not enough parameters (basename, URI and contact)")
	}
	if len(contact) > maxURILen || len(uri) > maxURILen {
		return nil, rpc.Errorf(500, "URI or Contact is too long")
	}
	allowed, err := p.testURI(base, uri, contact)
	if err != nil {
		return nil, &rpc.Error{Code: 500, Message: "Rule file not loaded", Data: map[string]any{"error": err.Error()}}
	}
	if allowed {
		return "Allowed", nil
	}
	return "Denied", nil
}

// tagText renders a tag as Kamailio's dumps do: "NULL" when there is none.
func tagText(tag string, has bool) string {
	if !has {
		return "NULL"
	}
	return tag
}

func (p *Permissions) addressDump() []map[string]any {
	t := p.addr.Load()
	out := []map[string]any{}
	for i := range t.entries {
		e := &t.entries[i]
		if e.domain != "" || !e.isExact() {
			continue
		}
		out = append(out, map[string]any{"group": e.grp, "item": map[string]any{
			"ip": e.prefix.Addr().String(), "port": e.port, "tag": tagText(e.tag, e.hasTag)}})
	}
	return out
}

func (p *Permissions) subnetDump() []map[string]any {
	t := p.addr.Load()
	out := []map[string]any{}
	for i := range t.entries {
		e := &t.entries[i]
		if e.domain != "" || e.isExact() {
			continue
		}
		out = append(out, map[string]any{"id": len(out), "group": e.grp, "item": map[string]any{
			"ip": e.prefix.Addr().String(), "mask": e.prefix.Bits(), "port": e.port, "tag": e.tag}})
	}
	return out
}

func (p *Permissions) domainDump() []map[string]any {
	t := p.addr.Load()
	out := []map[string]any{}
	for i := range t.entries {
		e := &t.entries[i]
		if e.domain == "" {
			continue
		}
		out = append(out, map[string]any{"group": e.grp, "item": map[string]any{
			"domain_name": e.domain, "port": e.port, "tag": tagText(e.tag, e.hasTag)}})
	}
	return out
}

func trustedDump(t *trustedTable) []map[string]any {
	out := []map[string]any{}
	null := func(s *string) string {
		if s == nil {
			return "NULL"
		}
		return *s
	}
	for _, e := range t.entries {
		out = append(out, map[string]any{"item": map[string]any{
			"ip": e.src, "proto": int(e.proto), "pattern": null(e.fromText), "ruri_pattern": null(e.ruriText),
			"tag": tagText(e.tag, e.hasTag), "priority": e.priority}})
	}
	return out
}
