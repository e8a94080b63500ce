package core

import (
	"context"
	"errors"
	"time"

	"github.com/luasbc/luasbc/core/dns"
	"github.com/luasbc/luasbc/core/rpc"
)

// dnsLookupTimeout bounds dns.lookup, which may ask the servers.
const dnsLookupTimeout = 5 * time.Second

// dnsMethods are Kamailio's dns.* and dst_blocklist.* commands.
func dnsMethods(c *Core) []rpc.Method {
	return []rpc.Method{
		{Name: "dns.view", Doc: "DNS cache entries: name, type, ttl (seconds left), negative (the name or record does not exist), " +
			"records (zone-file lines).",
			Fn: func(context.Context, rpc.Params) (any, error) {
				ents := c.DNS.CacheEntries()
				out := make([]map[string]any, 0, len(ents))
				for _, e := range ents {
					out = append(out, map[string]any{"name": e.Name, "type": e.Type, "ttl": int64(e.TTL.Seconds()),
						"negative": len(e.Records) == 0, "records": append([]string{}, e.Records...)})
				}
				return out, nil
			}},
		{Name: "dns.delete_all", Doc: "Empty the DNS cache.", Fn: func(context.Context, rpc.Params) (any, error) {
			c.DNS.FlushCache()
			return nil, nil
		}},
		{Name: "dns.lookup", Params: "type name", Doc: "Resolve a name as routing would (cache first): type A, AAAA, SRV, NAPTR, ... " +
			"Result: name, type and records (zone-file lines); fault 404 when it does not exist, 500 on a lookup failure.",
			Fn: func(ctx context.Context, p rpc.Params) (any, error) {
				qtype, ok1 := p.Str(0)
				name, ok2 := p.Str(1)
				if !ok1 || !ok2 {
					return nil, rpc.Errorf(rpc.CodeInvalidParams, "Invalid Parameters: type name")
				}
				ctx, cancel := context.WithTimeout(ctx, dnsLookupTimeout)
				defer cancel()
				recs, err := c.DNS.Lookup(ctx, qtype, name)
				switch {
				case errors.Is(err, dns.ErrNotFound):
					return nil, rpc.Errorf(404, "%v", err)
				case err != nil:
					return nil, rpc.Errorf(500, "%v", err)
				}
				lines := make([]string, 0, len(recs))
				for _, rr := range recs {
					lines = append(lines, rr.String())
				}
				return map[string]any{"name": name, "type": qtype, "records": lines}, nil
			}},
		{Name: "dst_blocklist.view", Doc: "Blocklisted destinations: proto, ip, port, expires (seconds left).",
			Fn: func(context.Context, rpc.Params) (any, error) {
				ents := c.DNS.Blocklist().Entries()
				out := make([]map[string]any, 0, len(ents))
				for _, e := range ents {
					out = append(out, map[string]any{"proto": e.Proto.String(), "ip": e.Addr.Addr().String(),
						"port": e.Addr.Port(), "expires": int64(e.Expires.Seconds())})
				}
				return out, nil
			}},
		{Name: "dst_blocklist.delete_all", Doc: "Empty the destination blocklist.", Fn: func(context.Context, rpc.Params) (any, error) {
			c.DNS.Blocklist().Flush()
			return nil, nil
		}},
	}
}
