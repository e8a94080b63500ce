package dns

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/luasbc/luasbc/core/msg"
)

// CacheEntry is one cached answer (RPC dns.view).
type CacheEntry struct {
	Name    string        // owner name, lower case, with the final dot
	Type    string        // "A", "SRV", ...
	TTL     time.Duration // left before it expires
	Records []string      // zone-file lines; none for a negative entry
}

// CacheEntries lists the unexpired cache entries sorted by name and type.
func (r *Resolver) CacheEntries() []CacheEntry {
	now := time.Now()
	r.cache.mu.Lock()
	out := make([]CacheEntry, 0, len(r.cache.m))
	for k, e := range r.cache.m {
		if now.After(e.expires) {
			continue
		}
		ce := CacheEntry{Name: k.name, Type: typeName(k.qtype), TTL: e.expires.Sub(now)}
		for _, rr := range e.recs {
			ce.Records = append(ce.Records, rr.String())
		}
		out = append(out, ce)
	}
	r.cache.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].Type < out[j].Type
	})
	return out
}

func typeName(t uint16) string {
	if s, ok := mdns.TypeToString[t]; ok {
		return s
	}
	return fmt.Sprintf("TYPE%d", t)
}

// Lookup answers one query of a record type by name ("A", "AAAA", "SRV",
// "NAPTR", ...) through the cache, as SIP routing would (RPC dns.lookup).
// A name that does not exist is an error wrapping ErrNotFound.
func (r *Resolver) Lookup(ctx context.Context, qtype, name string) ([]mdns.RR, error) {
	t, ok := mdns.StringToType[strings.ToUpper(strings.TrimSpace(qtype))]
	if !ok {
		return nil, fmt.Errorf("unknown record type %q", qtype)
	}
	name = strings.TrimSpace(name)
	if _, ok := mdns.IsDomainName(name); !ok || name == "" {
		return nil, fmt.Errorf("bad name %q", name)
	}
	return r.lookup(ctx, name, t)
}

// BlockEntry is one blocklisted destination (RPC dst_blocklist.view).
type BlockEntry struct {
	Proto   msg.Proto
	Addr    netip.AddrPort
	Expires time.Duration // left before it leaves the list
}

// Entries lists the destinations on the list now, by address.
func (b *Blocklist) Entries() []BlockEntry {
	if !b.Enabled() {
		return nil
	}
	now := time.Now()
	b.mu.Lock()
	out := make([]BlockEntry, 0, len(b.m))
	for k, exp := range b.m {
		if now.Before(exp) {
			out = append(out, BlockEntry{Proto: k.proto, Addr: k.addr, Expires: exp.Sub(now)})
		}
	}
	b.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Addr != out[j].Addr {
			return out[i].Addr.Compare(out[j].Addr) < 0
		}
		return out[i].Proto < out[j].Proto
	})
	return out
}

// Flush empties the list.
func (b *Blocklist) Flush() {
	if b == nil {
		return
	}
	b.mu.Lock()
	b.m = map[blockKey]time.Time{}
	b.mu.Unlock()
}
