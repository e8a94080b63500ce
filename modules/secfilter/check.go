package secfilter

import (
	"go.uber.org/zap"

	"github.com/luasbc/luasbc/kemi"
)

// Exports implements kemi.Instance: Kamailio 6.0's KEMI names, including
// secf_sqli_hdr (the native function is secf_check_sqli_hdr, which is
// exported too so either spelling works).
func (s *SecFilter) Exports() []kemi.Export {
	return []kemi.Export{
		kemi.Fn0Int("secf_check_ip", "Source address in the IP lists: 2 whitelisted, 1 not found, -2 blacklisted.", s.checkIP),
		kemi.Fn0Int("secf_check_ua", "User-Agent in the UA lists (case-insensitive prefix): 2 whitelisted, 1 not found or no User-Agent, -2 blacklisted.", s.checkUA),
		kemi.FnStrInt("secf_check_country", "Country code in the country lists: 2 whitelisted, 1 not found, -1 error, -2 blacklisted. An empty code looks up the source address in geoip2_path.", s.checkCountry),
		kemi.Fn0Int("secf_check_from_hdr", "From name/user (user lists) and domain (domain lists): 4 name wl, 3 domain wl, 2 user wl, 1 not found, -1 error, -2 user bl, -3 domain bl, -4 name bl.",
			func(c *kemi.Ctx) int { return s.checkParty(c, partFrom) }),
		kemi.Fn0Int("secf_check_to_hdr", "As secf_check_from_hdr for To.",
			func(c *kemi.Ctx) int { return s.checkParty(c, partTo) }),
		kemi.Fn0Int("secf_check_contact_hdr", "Contact user and domain: 3 domain wl, 2 user wl, 1 not found, -1 error, -2 user bl, -3 domain bl.",
			func(c *kemi.Ctx) int { return s.checkParty(c, partContact) }),
		kemi.FnStrInt("secf_check_dst", "Number in the destination blacklist (exact or prefix per dst_exact_match): 1 not found, -2 blacklisted.", s.checkDst),
		kemi.FnStrInt("secf_sqli_hdr", "SQL-injection test of a value: 1 clean, -1 suspicious.", s.checkSQLiValue),
		kemi.FnStrInt("secf_check_sqli_hdr", "Alias of secf_sqli_hdr under the native function's name.", s.checkSQLiValue),
		kemi.Fn0Int("secf_check_sqli_all", "SQL-injection test of User-Agent, From/To name, user and domain, Contact user and domain: 1 clean, 0 suspicious.", s.checkSQLiAll),
	}
}

func rcOf(v verdict) int {
	switch v {
	case allowed:
		return 2
	case blocked:
		return -2
	}
	return 1
}

func (s *SecFilter) checkIP(c *kemi.Ctx) int {
	v := s.lists.Load().IP(c.M.Src.Addr())
	s.stats.count(v, cIP)
	return rcOf(v)
}

func (s *SecFilter) checkUA(c *kemi.Ctx) int {
	ua, ok := userAgent(c.M)
	if !ok {
		return 1
	}
	v := s.lists.Load().UA(ua)
	s.stats.count(v, cUA)
	return rcOf(v)
}

func (s *SecFilter) checkCountry(c *kemi.Ctx, cc string) int {
	if cc == "" {
		g := s.geo.Load()
		if g == nil {
			return 1 // Kamailio: an empty code matches nothing
		}
		var err error
		if cc, err = g.Country(c.M.Src.Addr()); err != nil {
			c.Logger().Error("secf_check_country: GeoIP lookup failed", zap.Error(err))
			return -1
		}
		if cc == "" {
			return 1
		}
	}
	v := s.lists.Load().Country(cc)
	s.stats.count(v, cCountry)
	return rcOf(v)
}

func (s *SecFilter) checkDst(_ *kemi.Ctx, number string) int {
	if number != "" && s.lists.Load().Dst(number, s.exactDst) {
		s.stats.dst.Add(1)
		return -2
	}
	return 1
}

// part selects the header secf_check_*_hdr reads and its counters.
type part struct {
	name                string
	user, domain, dname counter
	read                func(c *kemi.Ctx) (party, partyResult)
}

var (
	partFrom = &part{name: "From", user: cFromUser, domain: cFromDomain, dname: cFromName,
		read: func(c *kemi.Ctx) (party, partyResult) { return fromTo(c.M, false) }}
	partTo = &part{name: "To", user: cToUser, domain: cToDomain, dname: cToName,
		read: func(c *kemi.Ctx) (party, partyResult) { return fromTo(c.M, true) }}
	partContact = &part{name: "Contact", user: cContactUser, domain: cContactDomain, dname: cContactName,
		read: func(c *kemi.Ctx) (party, partyResult) { return contact(c.M) }}
)

func (s *SecFilter) checkParty(c *kemi.Ctx, pt *part) int {
	p, res := pt.read(c)
	if res != partyOK {
		return int(res)
	}
	if !p.hasUser || !p.hasDom {
		// Kamailio answers -1 for a URI without a user or a host part.
		return rcError
	}
	rc := s.lists.Load().Party(p.name, p.hasName, p.user, p.domain)
	switch rc {
	case rcNameAllowed:
		s.stats.count(allowed, pt.dname)
	case rcUserAllowed:
		s.stats.count(allowed, pt.user)
	case rcDomainAllowed:
		s.stats.count(allowed, pt.domain)
	case rcNameBlocked:
		s.stats.count(blocked, pt.dname)
	case rcUserBlocked:
		s.stats.count(blocked, pt.user)
	case rcDomainBlocked:
		s.stats.count(blocked, pt.domain)
	}
	return rc
}

func (s *SecFilter) checkSQLiValue(c *kemi.Ctx, v string) int {
	if r := sqliReason(v); r != "" {
		s.stats.sql.Add(1)
		c.Logger().Info("possible SQL injection", zap.String("part", "value"), zap.String("rule", r))
		return -1
	}
	return 1
}

// checkSQLiAll tests the header parts Kamailio tests, in its order, and
// stops at the first suspicious one.
func (s *SecFilter) checkSQLiAll(c *kemi.Ctx) int {
	type item struct{ part, v string }
	var items [9]item
	n := 0
	addItem := func(part, v string) {
		if v != "" {
			items[n] = item{part, v}
			n++
		}
	}
	if ua, ok := userAgent(c.M); ok {
		addItem("User-Agent", ua)
	}
	if p, res := fromTo(c.M, false); res == partyOK {
		addItem("From name", p.name)
		addItem("From user", p.user)
		addItem("From domain", p.domain)
	}
	if p, res := fromTo(c.M, true); res == partyOK {
		addItem("To name", p.name)
		addItem("To user", p.user)
		addItem("To domain", p.domain)
	}
	if p, res := contact(c.M); res == partyOK {
		addItem("Contact user", p.user)
		addItem("Contact domain", p.domain)
	}
	for _, it := range items[:n] {
		if r := sqliReason(it.v); r != "" {
			s.stats.sql.Add(1)
			c.Logger().Info("possible SQL injection", zap.String("part", it.part), zap.String("rule", r))
			return 0
		}
	}
	return 1
}
