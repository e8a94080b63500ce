package dns

import (
	"math/rand/v2"
	"net/netip"
	"sort"
	"strings"

	mdns "github.com/miekg/dns"

	"github.com/luasbc/luasbc/core/msg"
)

// maxCNAME bounds how many CNAME hops an answer may take.
const maxCNAME = 8

// Answer picks the records of type qtype for name out of a response,
// following CNAMEs within the answer section. It returns the records, the
// TTL to cache them for (the lowest of the chain) and whether the response
// says the name or record does not exist.
func Answer(m *mdns.Msg, name string, qtype uint16) (recs []mdns.RR, ttl uint32, negative bool) {
	if m == nil {
		return nil, 0, false
	}
	if m.Rcode == mdns.RcodeNameError {
		return nil, negTTL(m), true
	}
	if m.Rcode != mdns.RcodeSuccess {
		return nil, 0, false
	}
	want := mdns.CanonicalName(name)
	ttl = ^uint32(0)
	for hop := 0; hop <= maxCNAME; hop++ {
		next := ""
		for _, rr := range m.Answer {
			h := rr.Header()
			if h == nil || !strings.EqualFold(mdns.CanonicalName(h.Name), want) {
				continue
			}
			if h.Rrtype == qtype {
				recs = append(recs, rr)
				ttl = min(ttl, h.Ttl)
			} else if c, ok := rr.(*mdns.CNAME); ok && qtype != mdns.TypeCNAME && next == "" {
				next = mdns.CanonicalName(c.Target)
				ttl = min(ttl, h.Ttl)
			}
		}
		if len(recs) > 0 || next == "" {
			break
		}
		want = next
	}
	if len(recs) == 0 {
		return nil, negTTL(m), true
	}
	return recs, ttl, false
}

// negTTL is how long the authority says a negative answer holds (SOA
// minimum, RFC 2308), 0 when it does not say.
func negTTL(m *mdns.Msg) uint32 {
	for _, rr := range m.Ns {
		if s, ok := rr.(*mdns.SOA); ok {
			return min(s.Minttl, s.Hdr.Ttl)
		}
	}
	return 0
}

// AddrsOf returns the addresses of A and AAAA records.
func AddrsOf(recs []mdns.RR) []netip.Addr {
	var out []netip.Addr
	for _, rr := range recs {
		switch v := rr.(type) {
		case *mdns.A:
			if ip, ok := netip.AddrFromSlice(v.A.To4()); ok {
				out = append(out, ip)
			}
		case *mdns.AAAA:
			if ip, ok := netip.AddrFromSlice(v.AAAA.To16()); ok {
				out = append(out, ip.Unmap())
			}
		}
	}
	return out
}

// SRV is one usable SRV record.
type SRV struct {
	Target   string
	Port     uint16
	Priority uint16
	Weight   uint16
}

// SortSRV orders SRV records by priority, and within one priority by a
// weighted random draw (RFC 2782) when weighted, else as received. A
// target of "." (service not offered) and port 0 are dropped.
func SortSRV(recs []mdns.RR, weighted bool) []SRV {
	var all []SRV
	for _, rr := range recs {
		s, ok := rr.(*mdns.SRV)
		if !ok || s.Target == "." || s.Target == "" || s.Port == 0 {
			continue
		}
		all = append(all, SRV{Target: s.Target, Port: s.Port, Priority: s.Priority, Weight: s.Weight})
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].Priority < all[j].Priority })
	if !weighted {
		return all
	}
	out := make([]SRV, 0, len(all))
	for i := 0; i < len(all); {
		j := i
		for j < len(all) && all[j].Priority == all[i].Priority {
			j++
		}
		out = append(out, weightedOrder(all[i:j])...)
		i = j
	}
	return out
}

// weightedOrder is RFC 2782's selection: zero weights first, then pick by
// running sum against a random number until the group is used up.
func weightedOrder(group []SRV) []SRV {
	rest := make([]SRV, 0, len(group))
	for _, s := range group {
		if s.Weight == 0 {
			rest = append(rest, s)
		}
	}
	for _, s := range group {
		if s.Weight != 0 {
			rest = append(rest, s)
		}
	}
	out := make([]SRV, 0, len(group))
	for len(rest) > 0 {
		sum := 0
		for _, s := range rest {
			sum += int(s.Weight)
		}
		pick := 0
		if sum > 0 {
			r := rand.IntN(sum + 1)
			run := 0
			for k, s := range rest {
				run += int(s.Weight)
				if run >= r {
					pick = k
					break
				}
			}
		}
		out = append(out, rest[pick])
		rest = append(rest[:pick], rest[pick+1:]...)
	}
	return out
}

// NAPTR is one usable NAPTR record.
type NAPTR struct {
	Proto       msg.Proto
	Replacement string
	Order       uint16
	Preference  uint16
}

// naptrServices maps RFC 3263 / RFC 7118 service fields to transports.
var naptrServices = map[string]msg.Proto{
	"SIP+D2U": msg.UDP, "SIP+D2T": msg.TCP, "SIPS+D2T": msg.TLS,
	"SIP+D2S": msg.SCTP, "SIP+D2W": msg.WS, "SIPS+D2W": msg.WSS,
}

// SortNAPTR keeps the records that point at an SRV name ("s" flag) for a
// SIP service (only SIPS services for a sips URI), ordered by order, then
// preference.
func SortNAPTR(recs []mdns.RR, secure bool) []NAPTR {
	var out []NAPTR
	for _, rr := range recs {
		n, ok := rr.(*mdns.NAPTR)
		if !ok || !strings.EqualFold(n.Flags, "s") || n.Replacement == "" || n.Replacement == "." {
			continue
		}
		svc := strings.ToUpper(n.Service)
		p, ok := naptrServices[svc]
		if !ok || secure && !strings.HasPrefix(svc, "SIPS+") {
			continue
		}
		out = append(out, NAPTR{Proto: p, Replacement: n.Replacement, Order: n.Order, Preference: n.Preference})
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Order != out[j].Order {
			return out[i].Order < out[j].Order
		}
		return out[i].Preference < out[j].Preference
	})
	return out
}
