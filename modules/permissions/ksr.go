package permissions

import (
	"github.com/luasbc/luasbc/kemi"
)

// Exports implements kemi.Instance. The first five are Kamailio's KEMI
// exports with their signatures; the others are the functions Kamailio
// offers only in its native configuration language, one export per
// argument form since a Lua function here has one signature.
func (p *Permissions) Exports() []kemi.Export {
	str := []kemi.ParamType{kemi.Str}
	str2 := []kemi.ParamType{kemi.Str, kemi.Str}
	str3 := []kemi.ParamType{kemi.Str, kemi.Str, kemi.Str}
	intRet := func(name, doc string, params []kemi.ParamType, f func(c *kemi.Ctx, a *kemi.Args) int) kemi.Export {
		return kemi.Fn(name, params, kemi.RetInt, doc, func(c *kemi.Ctx, a *kemi.Args) kemi.Value {
			return kemi.IntV(f(c, a))
		})
	}
	return []kemi.Export{
		kemi.FnIntInt("allow_source_address",
			"1 if the source IP and port of the request match a record of the address group, -1 otherwise. Port 0 in a record matches any port. Sets peer_tag_avp to the record's tag.",
			p.allowSourceAddress),
		kemi.Fn("allow_address", []kemi.ParamType{kemi.Int, kemi.Str, kemi.Int}, kemi.RetInt,
			"1 if the IP address (or, literally, the domain name) and port match a record of the address group, -1 otherwise.",
			func(c *kemi.Ctx, a *kemi.Args) kemi.Value {
				return kemi.IntV(p.allowAddress(c, int(a.I[0]), a.S[1], int(a.I[2])))
			}),
		kemi.Fn0Int("allow_source_address_group",
			"The group of the address record the source IP and port match, -1 if none.",
			p.allowSourceAddressGroup),
		kemi.FnStrIntInt("allow_address_group",
			"The group of the address record the address (IP or domain) and port match, -1 if none.",
			p.allowAddressGroup),
		kemi.Fn0Int("allow_trusted",
			"1 if a trusted record matches the source IP, transport, From URI and R-URI (the number of matches with peer_tag_mode 1), -1 otherwise.",
			p.allowTrusted),
		intRet("allow_trusted_src_proto",
			"allow_trusted(src_ip, proto) of native Kamailio: the given source address and transport (any, udp, tcp, tls, sctp, ws, wss) with the request's From URI.",
			str2, func(c *kemi.Ctx, a *kemi.Args) int { return p.allowTrustedArgs(c, a.S[0], a.S[1], nil) }),
		intRet("allow_trusted_furi",
			"allow_trusted(src_ip, proto, furi) of native Kamailio: the given source address, transport and URI in place of the From URI.",
			str3, func(c *kemi.Ctx, a *kemi.Args) int { return p.allowTrustedArgs(c, a.S[0], a.S[1], &a.S[2]) }),
		kemi.Fn0Int("allow_routing",
			"allow_routing(): the From URI with the R-URI and each branch against default_allow_file and default_deny_file. 1 allowed, -1 denied.",
			func(c *kemi.Ctx) int { return p.allowRouting(c, p.defaultAllow, p.defaultDeny) }),
		intRet("allow_routing_basename",
			"allow_routing(basename): as allow_routing() with basename+allow_suffix and basename+deny_suffix.",
			str, func(c *kemi.Ctx, a *kemi.Args) int {
				return p.allowRouting(c, p.path(a.S[0]+p.allowSuffix), p.path(a.S[0]+p.denySuffix))
			}),
		intRet("allow_routing_files",
			"allow_routing(allow_file, deny_file): as allow_routing() with the two files.",
			str2, func(c *kemi.Ctx, a *kemi.Args) int { return p.allowRouting(c, p.path(a.S[0]), p.path(a.S[1])) }),
		intRet("allow_register",
			"allow_register(basename): the To URI with each Contact URI against basename+allow_suffix and basename+deny_suffix. 1 allowed, -1 denied.",
			str, func(c *kemi.Ctx, a *kemi.Args) int {
				return p.allowRegister(c, p.path(a.S[0]+p.allowSuffix), p.path(a.S[0]+p.denySuffix))
			}),
		intRet("allow_register_files",
			"allow_register(allow_file, deny_file): as allow_register(basename) with the two files.",
			str2, func(c *kemi.Ctx, a *kemi.Args) int { return p.allowRegister(c, p.path(a.S[0]), p.path(a.S[1])) }),
		intRet("allow_uri",
			"allow_uri(basename, pvar): the From URI with the value of pvar (\"$rt\", \"$avp(x)\"; a value not starting with '$' is the URI itself). 1 allowed, -1 denied.",
			str2, func(c *kemi.Ctx, a *kemi.Args) int { return p.allowURI(c, a.S[0], a.S[1]) }),
	}
}
