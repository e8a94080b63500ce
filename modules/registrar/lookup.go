package registrar

import (
	"strings"

	"github.com/emiago/sipgo/sip"
	"go.uber.org/zap"

	"github.com/luasbc/luasbc/core/msg"
	"github.com/luasbc/luasbc/kemi"
	"github.com/luasbc/luasbc/modules/usrloc"
)

type lookupMode uint8

const (
	modeRURI lookupMode = iota // R-URI = best contact, the others appended (lookup)
	modeDset                   // every contact appended, R-URI kept (lookup_to_dset)
)

// maxBranches bounds the destination set (tm sends at most 256 branches).
const maxBranches = 256

// lookup is KSR.registrar.lookup / lookup_uri / lookup_to_dset.
func (r *Registrar) lookup(c *kemi.Ctx, table, uri string, mode lookupMode) int {
	m := c.M
	if m == nil || m.Req == nil {
		return -3
	}
	ul, d := r.domain(c, table)
	if d == nil {
		return -1
	}
	if uri == "" {
		uri = m.RURIString()
	}
	cs, rc := r.contactsFor(c, ul, d, uri)
	if rc < 0 {
		return rc
	}
	if r.cfg.methodFiltering && initial(m) {
		bit := methodBit(m.Method())
		kept := cs[:0]
		for _, ct := range cs {
			if ct.Methods&bit != 0 {
				kept = append(kept, ct)
			}
		}
		if len(kept) == 0 {
			return -2
		}
		cs = kept
	}
	first := 0
	if mode == modeRURI {
		if !r.toRURI(c, &cs[0]) {
			return -3
		}
		if !r.cfg.appendBranches {
			return 1
		}
		first = 1
	}
	for i := first; i < len(cs); i++ {
		if len(m.Branches) >= maxBranches {
			c.Logger().Warn("registrar: destination set full, contacts left out", zap.Int("left", len(cs)-i))
			break
		}
		if b, ok := r.branch(c, &cs[i]); ok {
			m.Branches = append(m.Branches, b)
		}
	}
	return 1
}

// contactsFor returns the contacts lookup may use for uri (valid ones, or
// with use_expired_contacts all; a GRUU R-URI narrows them to its
// instance; lookup_filter_mode 1 to the wanted branch flags), or a lookup
// return code: -1 none, -3 error.
func (r *Registrar) contactsFor(c *kemi.Ctx, ul *usrloc.Module, d *usrloc.Domain, uri string) ([]usrloc.Contact, int) {
	aor, err := r.aorFromString(uri, ul.UseDomain())
	if err != nil {
		c.Logger().Error("registrar: lookup: no address of record", zap.String("uri", uri), zap.Error(err))
		return nil, -3
	}
	var cs []usrloc.Contact
	if r.cfg.useExpired {
		cs, err = d.GetAll(c.Context(), aor)
	} else {
		cs, err = d.Get(c.Context(), aor)
	}
	if err != nil {
		c.Logger().Error("registrar: lookup failed", zap.String("aor", aor), zap.Error(err))
		return nil, -3
	}
	if gr, ok := gruuOf(uri); ok && gr != "" {
		cs = filter(cs, func(ct *usrloc.Contact) bool { return strings.Trim(ct.Instance, "<>") == gr })
	}
	if r.cfg.filterBFlags {
		if v, ok := r.xavpCfg(c, "rlf_bflags"); ok && v.Int() != 0 {
			want := uint32(v.Int())
			cs = filter(cs, func(ct *usrloc.Contact) bool { return ct.CFlags&want != 0 })
		}
	}
	if len(cs) == 0 {
		return nil, -1
	}
	return cs, 1
}

func filter(cs []usrloc.Contact, keep func(*usrloc.Contact) bool) []usrloc.Contact {
	out := cs[:0]
	for i := range cs {
		if keep(&cs[i]) {
			out = append(out, cs[i])
		}
	}
	return out
}

// gruuOf reads the gr parameter of a SIP URI: ok when present, with its
// value for a public GRUU ("" for a temporary one).
func gruuOf(uri string) (string, bool) {
	var u sip.Uri
	if err := sip.ParseUri(uri, &u); err != nil || u.UriParams == nil {
		return "", false
	}
	return u.UriParams.Get("gr")
}

// initial reports whether a request is outside a dialog (no To tag).
func initial(m *msg.Msg) bool {
	to := m.SIP.To()
	if to == nil || to.Params == nil {
		return true
	}
	_, has := to.Params.Get("tag")
	return !has
}

// route is where a contact is reached: its Path (path_check_local removes
// a first hop that is us) and the destination URI — the first Path hop, or
// else the received address.
func (r *Registrar) route(c *kemi.Ctx, ct *usrloc.Contact) (dst, path string) {
	path = ct.Path
	if path != "" && msg.CheckValue(path) != nil {
		c.Logger().Warn("registrar: stored Path ignored", zap.String("ruid", ct.Ruid))
		path = ""
	}
	if path != "" {
		hops := msg.SplitComma(path)
		if r.cfg.pathCheckLocal && c.Core != nil {
			if u, err := pathURI(hops[0]); err == nil && c.Core.IsMyselfURI(u) {
				hops = hops[1:]
			}
		}
		path = strings.Join(hops, ",")
		if len(hops) > 0 {
			if u, err := pathURI(hops[0]); err == nil {
				return u, path
			}
		}
	}
	if ct.Received != "" && msg.CheckValue(ct.Received) == nil {
		return ct.Received, path
	}
	return "", path
}

// socketFor returns the local socket a contact registered through, if it
// is one of ours.
func socketFor(c *kemi.Ctx, name string) *msg.Socket {
	if name == "" || c.Core == nil || c.Core.TP == nil {
		return nil
	}
	for _, s := range c.Core.TP.Sockets {
		if strings.EqualFold(s.Name, name) {
			return s
		}
	}
	return nil
}

// toRURI makes a contact the request's first destination: R-URI, $du, its
// branch flags, socket, q and Path.
func (r *Registrar) toRURI(c *kemi.Ctx, ct *usrloc.Contact) bool {
	m := c.M
	if err := m.SetRURI(ct.Addr); err != nil {
		c.Logger().Error("registrar: contact cannot be the R-URI", zap.String("ruid", ct.Ruid), zap.Error(err))
		return false
	}
	dst, path := r.route(c, ct)
	if dst != "" {
		if err := m.SetDst(dst); err != nil {
			c.Logger().Warn("registrar: contact destination ignored", zap.String("ruid", ct.Ruid), zap.Error(err))
			dst = ""
		}
	}
	m.BFlags = msg.Flags(ct.CFlags)
	if s := socketFor(c, ct.Socket); s != nil {
		m.ForceSocket = s
	}
	m.SetExt("ruri_q", ct.Q)
	notePath(m, ct.Addr, m.DstURI, path)
	return true
}

// branch is a contact as an entry of the destination set.
func (r *Registrar) branch(c *kemi.Ctx, ct *usrloc.Contact) (msg.Branch, bool) {
	if err := msg.CheckValue(ct.Addr); err != nil {
		return msg.Branch{}, false
	}
	dst, path := r.route(c, ct)
	notePath(c.M, ct.Addr, dst, path)
	return msg.Branch{URI: ct.Addr, DstURI: dst, Path: path, Q: ct.Q, Flags: msg.Flags(ct.CFlags),
		Socket: socketFor(c, ct.Socket), Instance: ct.Instance, RegID: ct.RegID, Ruid: ct.Ruid}, true
}

// lookupBranches is lookup_branches: lookup on the R-URI, then on every
// branch that is a bare URI (no destination, Path or socket), each replaced
// by the contacts found for it.
func (r *Registrar) lookupBranches(c *kemi.Ctx, table string) int {
	m := c.M
	if m == nil || m.Req == nil {
		return -3
	}
	old := m.Branches
	m.Branches = nil
	rc := r.lookup(c, table, "", modeRURI)
	found := rc > 0
	for _, b := range old {
		if b.DstURI != "" || b.Path != "" || b.Socket != nil {
			m.Branches = append(m.Branches, b)
			continue
		}
		if r.lookup(c, table, b.URI, modeDset) > 0 {
			found = true
		} else {
			m.Branches = append(m.Branches, b)
		}
	}
	if found {
		return 1
	}
	return rc
}
