package permissions

import (
	"context"
	"math"
	"regexp"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/luasbc/luasbc/core/msg"
	"github.com/luasbc/luasbc/kemi"
)

// dbQueryTimeout caps one allow_trusted query with db_mode 0.
const dbQueryTimeout = time.Second

// setTag pushes a matched record's tag onto peer_tag_avp (when both are
// set), as Kamailio adds it as a side effect of a match.
func (p *Permissions) setTag(c *kemi.Ctx, tag string, has bool) {
	if p.peerTagAVP == "" || !has {
		return
	}
	if err := c.SetPV(p.peerTagAVP, kemi.StrV(tag)); err != nil {
		c.Logger().Error("permissions: cannot set peer_tag_avp", zap.String("avp", p.peerTagAVP), zap.Error(err))
	}
}

// portArg converts a script's port; one out of range becomes 0, which
// only records with port 0 (any) match.
func portArg(port int) uint16 {
	if port < 0 || port > 65535 {
		return 0
	}
	return uint16(port)
}

// allowAddress is allow_address(group, addr, port): 1 when addr (an IP
// address, else a domain matched literally) and port match a record of the
// group, else -1.
func (p *Permissions) allowAddress(c *kemi.Ctx, grp int, addr string, port int) int {
	if grp < 1 || grp > math.MaxUint32 {
		return -1
	}
	e, ok := p.addr.Load().match(strings.TrimSpace(addr), portArg(port), uint32(grp), p.longestPrefix)
	if !ok {
		return -1
	}
	p.setTag(c, e.tag, e.hasTag)
	return 1
}

// allowSourceAddress is allow_source_address(group): the request's source
// address and port.
func (p *Permissions) allowSourceAddress(c *kemi.Ctx, grp int) int {
	if grp < 1 || grp > math.MaxUint32 {
		return -1
	}
	src := c.M.Src
	e, ok := p.addr.Load().matchIP(src.Addr(), src.Port(), uint32(grp), p.longestPrefix)
	if !ok {
		return -1
	}
	p.setTag(c, e.tag, e.hasTag)
	return 1
}

// allowAddressGroup is allow_address_group(addr, port): the group of the
// record addr and port match, else -1.
func (p *Permissions) allowAddressGroup(c *kemi.Ctx, addr string, port int) int {
	e, ok := p.addr.Load().match(strings.TrimSpace(addr), portArg(port), 0, p.longestPrefix)
	if !ok {
		return -1
	}
	p.setTag(c, e.tag, e.hasTag)
	return int(e.grp)
}

// allowSourceAddressGroup is allow_source_address_group().
func (p *Permissions) allowSourceAddressGroup(c *kemi.Ctx) int {
	src := c.M.Src
	e, ok := p.addr.Load().matchIP(src.Addr(), src.Port(), 0, p.longestPrefix)
	if !ok {
		return -1
	}
	p.setTag(c, e.tag, e.hasTag)
	return int(e.grp)
}

// allowTrusted is allow_trusted with the request's own source address,
// transport and From URI.
func (p *Permissions) allowTrusted(c *kemi.Ctx) int {
	furi := ""
	if c.M.SIP.From() != nil {
		u, err := headerURI(c.M, msg.HFrom)
		if err != nil {
			c.Logger().Error("allow_trusted: From", zap.Error(err))
			return -1
		}
		furi = u
	}
	return p.trustedMatch(c, c.M.Src.Addr().Unmap().String(), c.M.Proto, furi)
}

// allowTrustedArgs is allow_trusted(src_ip, proto[, furi]): furi "" means
// the request's From URI.
func (p *Permissions) allowTrustedArgs(c *kemi.Ctx, src, proto string, furi *string) int {
	pr, ok := parseTrustedProto(proto)
	if !ok || strings.EqualFold(strings.TrimSpace(proto), "none") {
		c.Logger().Error("allow_trusted: unknown protocol; want any, udp, tcp, tls, sctp, ws or wss", zap.String("proto", proto))
		return -1
	}
	u := ""
	if furi != nil {
		u = *furi
	} else if c.M.SIP.From() != nil {
		var err error
		if u, err = headerURI(c.M, msg.HFrom); err != nil {
			c.Logger().Error("allow_trusted: From", zap.Error(err))
			return -1
		}
	}
	return p.trustedMatch(c, canonicalSource(strings.TrimSpace(src)), pr, u)
}

// trustedMatch matches against the cached table, or asks the database
// (db_mode 0) under the script's deadline. It returns 1, or with
// peer_tag_mode 1 the number of matches, or -1.
func (p *Permissions) trustedMatch(c *kemi.Ctx, src string, proto msg.Proto, furi string) int {
	r := &trustedRequest{src: src, proto: proto, furi: furi, isReq: c.M.Req != nil}
	if r.isReq {
		r.ruri = c.M.OrigRURIString()
	}
	var found []*trustedEntry
	if p.trustQuery != nil {
		// The script's deadline bounds the query; the cap covers callers
		// without one.
		ctx, cancel := context.WithTimeout(c.Context(), dbQueryTimeout)
		list, err := p.queryTrusted(ctx, src)
		cancel()
		if err != nil {
			c.Logger().Error("allow_trusted: database query failed", zap.Error(err))
			return -1
		}
		found = matchEntries(list, r, p.peerTagAll)
	} else {
		found = p.trusted.Load().match(r, p.peerTagAll)
	}
	if len(found) == 0 {
		return -1
	}
	for _, e := range found {
		p.setTag(c, e.tag, e.hasTag)
	}
	if p.peerTagAll {
		return len(found)
	}
	return 1
}

// queryTrusted reads one source's rows (db_mode 0); patterns are compiled
// through a bounded cache, since the same few come back on every call.
func (p *Permissions) queryTrusted(ctx context.Context, src string) ([]*trustedEntry, error) {
	rows, err := p.trustQuery.queryTrusted(ctx, src)
	if err != nil {
		return nil, err
	}
	entries, err := buildTrustedEntries(rows, p.cachedPattern)
	if err != nil {
		return nil, err
	}
	sortByPriority(entries)
	return entries, nil
}

func (p *Permissions) cachedPattern(s string) (*regexp.Regexp, error) {
	if re, ok := p.patterns.Get(s); ok {
		return re, nil
	}
	re, err := compileTrustedPattern(s)
	if err != nil {
		return nil, err
	}
	p.patterns.Put(s, re)
	return re, nil
}
