package secfilter

import (
	"fmt"
	"net/netip"
)

// listSet is one side (black or white) of the UA, country, domain, IP and
// user lists.
type listSet struct {
	ua, country, domain, user prefixSet
	ip                        ipSet
}

// Lists is an immutable, compiled generation of rules. Checks read the
// current generation through an atomic pointer; reload and the RPC adds
// build a new one and swap it in, so a check never sees half a reload.
type Lists struct {
	rules  []Rule // in load order, for secfilter.print and for rebuilding
	bl, wl listSet
	dst    prefixSet
}

// Compile validates every rule and builds the matchers. The first invalid
// rule fails the whole set (the caller keeps the previous generation).
func Compile(rules []Rule) (*Lists, error) {
	l := &Lists{rules: rules}
	for i, r := range rules {
		if err := r.Validate(); err != nil {
			return nil, fmt.Errorf("rule %d (action %d, type %d, data %q): %w", i+1, int(r.Action), int(r.Type), clip(r.Data), err)
		}
		l.add(r)
	}
	return l, nil
}

func (l *Lists) add(r Rule) {
	if r.Action == Destination {
		l.dst.add(r.Data)
		return
	}
	s := &l.bl
	if r.Action == Whitelist {
		s = &l.wl
	}
	switch r.Type {
	case TypeUA:
		s.ua.add(r.Data)
	case TypeCountry:
		s.country.add(r.Data)
	case TypeDomain:
		s.domain.add(r.Data)
	case TypeUser:
		s.user.add(r.Data)
	case TypeIP:
		e, _ := parseIPEntry(r.Data) // validated
		s.ip.add(e)
	}
}

// With returns a new generation with r appended (secfilter.add_*).
func (l *Lists) With(r Rule) (*Lists, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	rules := make([]Rule, len(l.rules), len(l.rules)+1)
	copy(rules, l.rules)
	return Compile(append(rules, r))
}

// Without returns a new generation without the rules equal to r, and how
// many were removed (secfilter.del_*).
func (l *Lists) Without(r Rule) (*Lists, int, error) {
	rules := make([]Rule, 0, len(l.rules))
	for _, x := range l.rules {
		if x != r {
			rules = append(rules, x)
		}
	}
	n, err := Compile(rules)
	return n, len(l.rules) - len(rules), err
}

// Rules returns the rules in load order (a copy).
func (l *Lists) Rules() []Rule { return append([]Rule(nil), l.rules...) }

// verdict is the outcome of one list check: whitelisted, blacklisted or
// neither, mapped to Kamailio's 2 / -2 / 1.
type verdict int8

const (
	notFound verdict = iota
	allowed
	blocked
)

// checkPrefix consults the whitelist first, then the blacklist: an allowed
// value is never blocked by the same type of list.
func checkPrefix(wl, bl *prefixSet, v string) verdict {
	if wl.hasPrefixOf(v) {
		return allowed
	}
	if bl.hasPrefixOf(v) {
		return blocked
	}
	return notFound
}

// UA checks a User-Agent value.
func (l *Lists) UA(v string) verdict { return checkPrefix(&l.wl.ua, &l.bl.ua, v) }

// Country checks a country code.
func (l *Lists) Country(v string) verdict { return checkPrefix(&l.wl.country, &l.bl.country, v) }

// IP checks a source address.
func (l *Lists) IP(a netip.Addr) verdict {
	if l.wl.ip.match(a) {
		return allowed
	}
	if l.bl.ip.match(a) {
		return blocked
	}
	return notFound
}

// Dst checks a destination number: exact (dst_exact_match=1) or by prefix.
func (l *Lists) Dst(v string, exact bool) bool {
	if exact {
		return l.dst.has(v)
	}
	return l.dst.hasPrefixOf(v)
}

// Party part results, Kamailio's return codes of secf_check_from_hdr & co.
const (
	rcNameAllowed   = 4
	rcDomainAllowed = 3
	rcUserAllowed   = 2
	rcNotFound      = 1
	rcError         = -1
	rcUserBlocked   = -2
	rcDomainBlocked = -3
	rcNameBlocked   = -4
)

// Party checks the display name, user and domain of a From, To or Contact
// header in Kamailio's order: the user lists (which hold names too) before
// the domain lists, the whitelist before the blacklist, the name before the
// user. hasName is false when the header has no display name.
func (l *Lists) Party(name string, hasName bool, user, domain string) int {
	switch {
	case hasName && l.wl.user.hasPrefixOf(name):
		return rcNameAllowed
	case l.wl.user.hasPrefixOf(user):
		return rcUserAllowed
	case hasName && l.bl.user.hasPrefixOf(name):
		return rcNameBlocked
	case l.bl.user.hasPrefixOf(user):
		return rcUserBlocked
	case l.wl.domain.hasPrefixOf(domain):
		return rcDomainAllowed
	case l.bl.domain.hasPrefixOf(domain):
		return rcDomainBlocked
	}
	return rcNotFound
}

// clip shortens a value for an error message.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
