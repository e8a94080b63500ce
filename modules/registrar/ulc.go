package registrar

import (
	"errors"
	"strings"

	"go.uber.org/zap"

	"github.com/luasbc/luasbc/core/msg"
	"github.com/luasbc/luasbc/kemi"
	"github.com/luasbc/luasbc/modules/usrloc"
)

// A $ulc profile is a snapshot of one AoR's contacts taken by
// reg_fetch_contacts (or, named "exp", the contact usrloc:contact-expired
// is about). Profiles belong to the message being processed — Kamailio
// keeps them per worker process until freed or fetched again; here they end
// with the message, so one request can never read another's.
type ulcProfile struct {
	aor, domain string
	hash        uint32
	contacts    []usrloc.Contact
}

const extULC = "registrar.ulc"

// expProfile is the profile holding an expired contact in the event.
const expProfile = "exp"

func profiles(m *msg.Msg, create bool) map[string]*ulcProfile {
	ps, _ := m.GetExt(extULC).(map[string]*ulcProfile)
	if ps == nil && create {
		ps = map[string]*ulcProfile{}
		m.SetExt(extULC, ps)
	}
	return ps
}

// fetchContacts is reg_fetch_contacts: 1 when the AoR has contacts, -1
// otherwise (the profile is then empty, count 0).
func (r *Registrar) fetchContacts(c *kemi.Ctx, table, uri, profile string) int {
	if profile == "" || c.M == nil {
		return -1
	}
	ul, d := r.domain(c, table)
	if d == nil {
		return -1
	}
	aor, err := r.aorFromString(uri, ul.UseDomain())
	if err != nil {
		c.Logger().Error("registrar: reg_fetch_contacts: no address of record", zap.String("uri", uri), zap.Error(err))
		return -1
	}
	cs, err := d.Get(c.Context(), aor)
	if err != nil {
		c.Logger().Error("registrar: reg_fetch_contacts failed", zap.String("aor", aor), zap.Error(err))
		return -1
	}
	profiles(c.M, true)[profile] = &ulcProfile{aor: aor, domain: table, hash: usrloc.HashAOR(aor), contacts: cs}
	if len(cs) == 0 {
		return -1
	}
	return 1
}

// freeContacts is reg_free_contacts.
func (r *Registrar) freeContacts(c *kemi.Ctx, profile string) int {
	if ps := profiles(c.M, false); ps != nil {
		delete(ps, profile)
	}
	return 1
}

// ulcAttrs are the attributes $ulc(profile=>attr) knows.
var ulcAttrs = map[string]bool{"aor": true, "domain": true, "aorhash": true, "count": true, "addr": true,
	"path": true, "received": true, "expires": true, "callid": true, "q": true, "cseq": true, "flags": true,
	"cflags": true, "user_agent": true, "socket": true, "modified": true, "methods": true, "ruid": true,
	"regid": true, "instance": true, "conid": true, "server_id": true}

// ulcValue reads one attribute: record attributes, or those of contact idx.
func ulcValue(p *ulcProfile, attr string, idx int) kemi.Value {
	switch attr {
	case "aor":
		return kemi.StrV(p.aor)
	case "domain":
		return kemi.StrV(p.domain)
	case "aorhash":
		return kemi.Value{K: kemi.KInt, I: int64(p.hash)}
	case "count":
		return kemi.IntV(len(p.contacts))
	}
	if idx < 0 || idx >= len(p.contacts) {
		return kemi.Nil
	}
	c := &p.contacts[idx]
	str := func(s string) kemi.Value {
		if s == "" {
			return kemi.Nil
		}
		return kemi.StrV(s)
	}
	i64 := func(n int64) kemi.Value { return kemi.Value{K: kemi.KInt, I: n} }
	switch attr {
	case "addr":
		return kemi.StrV(c.Addr)
	case "path":
		return kemi.StrV(c.Path)
	case "received":
		return kemi.StrV(c.Received)
	case "expires":
		return i64(c.Expires)
	case "callid":
		return kemi.StrV(c.CallID)
	case "q":
		return kemi.IntV(c.Q)
	case "cseq":
		return kemi.IntV(c.CSeq)
	case "flags":
		return i64(int64(c.Flags))
	case "cflags":
		return i64(int64(c.CFlags))
	case "user_agent":
		return kemi.StrV(c.UserAgent)
	case "socket":
		return str(c.Socket)
	case "modified":
		return i64(c.LastModified)
	case "methods":
		return i64(int64(int32(c.Methods))) // signed, as Kamailio prints the mask
	case "ruid":
		return kemi.StrV(c.Ruid)
	case "regid":
		return kemi.IntV(c.RegID)
	case "instance":
		return str(c.Instance)
	case "conid":
		if c.ConnID <= 0 {
			return kemi.Nil
		}
		return i64(c.ConnID)
	case "server_id":
		return kemi.IntV(c.ServerID)
	}
	return kemi.Nil
}

// ulcGet is ulc_rget / ulc_cget.
func (r *Registrar) ulcGet(c *kemi.Ctx, profile, attr string, idx int) kemi.Value {
	p := profiles(c.M, false)[profile]
	if p == nil || !ulcAttrs[attr] {
		return kemi.Nil
	}
	return ulcValue(p, attr, idx)
}

// ulcName is a parsed $ulc(profile=>attr).
type ulcName struct{ profile, attr string }

// PVs implements kemi.PVProvider: $ulc(profile=>attr), with an index
// $(ulc(profile=>attr)[n]) for the n-th contact.
func (r *Registrar) PVs() []*kemi.PVClass {
	return []*kemi.PVClass{{
		Name: "ulc", Inner: true,
		Doc: "Contacts fetched by reg_fetch_contacts: $ulc(profile=>attr) with attr aor, domain, aorhash, count, addr, " +
			"path, received, expires, callid, q, cseq, flags, cflags, user_agent, socket, modified, methods, ruid, regid, " +
			"instance, conid, server_id; $(ulc(profile=>addr)[n]) for contact n. $ulc(exp=>...) in usrloc:contact-expired.",
		Prepare: func(p *kemi.PVSpec) error {
			prof, attr, ok := strings.Cut(p.Inner, "=>")
			prof, attr = strings.TrimSpace(prof), strings.TrimSpace(attr)
			if !ok || prof == "" {
				return errors.New("want $ulc(profile=>attr)")
			}
			if !ulcAttrs[attr] {
				return errors.New("unknown $ulc attribute " + attr)
			}
			p.Data = ulcName{prof, attr}
			return nil
		},
		Get: func(c *kemi.Ctx, p *kemi.PVSpec) kemi.Value {
			n, _ := p.Data.(ulcName)
			prof := profiles(c.M, false)[n.profile]
			if prof == nil {
				return kemi.Nil
			}
			idx := 0
			if p.HasIndex {
				if p.All || p.Index < 0 {
					return kemi.Nil
				}
				idx = p.Index
			}
			return ulcValue(prof, n.attr, idx)
		},
	}}
}

// expiredEvent runs event_callback for a contact usrloc took out, with the
// contact readable as $ulc(exp=>attr).
func (r *Registrar) expiredEvent(d *usrloc.Domain, ct usrloc.Contact) {
	eng := r.env.Engine
	if eng == nil || r.cfg.eventCallback == "" {
		return
	}
	fm := &msg.Msg{FakeMessage: true, RouteType: msg.RouteEvent}
	profiles(fm, true)[expProfile] = &ulcProfile{aor: ct.AOR, domain: d.Name, hash: usrloc.HashAOR(ct.AOR),
		contacts: []usrloc.Contact{ct}}
	eng.CallEvent(fm, r.cfg.eventCallback, "usrloc:contact-expired")
}
