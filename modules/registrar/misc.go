package registrar

import (
	"net/netip"
	"strings"

	"github.com/emiago/sipgo/sip"
	"go.uber.org/zap"

	"github.com/luasbc/luasbc/core/msg"
	"github.com/luasbc/luasbc/kemi"
)

// extQOverride holds set_q_override's q for the next save.
const extQOverride = "registrar.q"

// setQOverride is set_q_override.
func (r *Registrar) setQOverride(c *kemi.Ctx, s string) int {
	q, ok := parseQ(strings.TrimSpace(s))
	if !ok {
		c.Logger().Error("registrar: set_q_override: not a q value", zap.String("q", s))
		return -1
	}
	c.M.SetExt(extQOverride, q)
	return 1
}

// addSockHdr is add_sock_hdr: "name: proto:ip:port" added to the request.
func (r *Registrar) addSockHdr(c *kemi.Ctx, name string) int {
	m := c.M
	if m == nil || m.Req == nil || m.Rcv == nil || !isToken(name) {
		c.Logger().Error("registrar: add_sock_hdr: bad header name or no request", zap.String("name", name))
		return -1
	}
	if err := m.AddLump(msg.LumpAppend, "", name+": "+m.Rcv.Name+"\r\n"); err != nil {
		c.Logger().Error("registrar: add_sock_hdr", zap.Error(err))
		return -1
	}
	return 1
}

// unregister is unregister / unregister_ruid.
func (r *Registrar) unregister(c *kemi.Ctx, table, uri, ruid string) int {
	if uri == "" {
		c.Logger().Error("registrar: unregister: empty uri")
		return -1
	}
	ul, d := r.domain(c, table)
	if d == nil {
		return -1
	}
	aor, err := r.aorFromString(uri, ul.UseDomain())
	if err != nil {
		c.Logger().Error("registrar: unregister: no address of record", zap.String("uri", uri), zap.Error(err))
		return -1
	}
	if ruid == "" {
		if _, err := d.Remove(c.Context(), aor); err != nil {
			c.Logger().Error("registrar: unregister failed", zap.String("aor", aor), zap.Error(err))
			return -2
		}
		return 1
	}
	found, err := d.RemoveRuid(c.Context(), aor, ruid)
	switch {
	case err != nil:
		c.Logger().Error("registrar: unregister failed", zap.String("aor", aor), zap.Error(err))
		return -2
	case !found:
		return -3
	}
	return 1
}

// registered is registered / registered_uri / registered_flags /
// registered_action: 1 when the AoR has a contact (matching the Call-ID,
// received address or contact URI asked for with match bits 1, 2, 4 and
// $xavp(<xavp_cfg>=>match_*), and the Call-ID in reg_callid_avp).
func (r *Registrar) registered(c *kemi.Ctx, table, uri string, match int) int {
	m := c.M
	if m == nil {
		return -1
	}
	ul, d := r.domain(c, table)
	if d == nil {
		return -1
	}
	if uri == "" {
		switch {
		case m.Req != nil:
			uri = m.RURIString()
		case m.SIP != nil && m.SIP.To() != nil:
			uri = m.SIP.To().Address.String()
		default:
			return -1
		}
	}
	aor, err := r.aorFromString(uri, ul.UseDomain())
	if err != nil {
		return -1
	}
	cs, err := d.Get(c.Context(), aor)
	if err != nil || len(cs) == 0 {
		return -1
	}
	want := func(bit int, name string) (string, bool) {
		if match&bit == 0 {
			return "", false
		}
		v, ok := r.xavpCfg(c, name)
		return v.Text(), ok && !v.IsNil()
	}
	callid, byCallID := want(1, "match_callid")
	if !byCallID && r.cfg.callidAVP != "" {
		if v := c.GetPV(r.cfg.callidAVP); !v.IsNil() && v.Text() != "" {
			callid, byCallID = v.Text(), true
		}
	}
	received, byReceived := want(2, "match_received")
	contact, byContact := want(4, "match_contact")
	for _, ct := range cs {
		if byCallID && ct.CallID != callid || byReceived && ct.Received != received || byContact && ct.Addr != contact {
			continue
		}
		return 1
	}
	return -1
}

// fromUser is reg_from_user: 1 when the request's source is an address the
// AoR of uri registered from — the contact's received address, else its
// URI host and port. mode 0 compares IP and port, mode 1 the IP only.
// (Kamailio documents no semantics for it; this is the evident reading.)
func (r *Registrar) fromUser(c *kemi.Ctx, table, uri string, mode int) int {
	m := c.M
	if m == nil || !m.Src.IsValid() {
		return -1
	}
	ul, d := r.domain(c, table)
	if d == nil {
		return -1
	}
	aor, err := r.aorFromString(uri, ul.UseDomain())
	if err != nil {
		return -1
	}
	cs, err := d.Get(c.Context(), aor)
	if err != nil {
		return -1
	}
	for i := range cs {
		addr := cs[i].Received
		if addr == "" {
			addr = cs[i].Addr
		}
		if ap, ok := uriAddr(addr); ok && ap.Addr().Unmap() == m.Src.Addr().Unmap() &&
			(mode == 1 || ap.Port() == m.Src.Port()) {
			return 1
		}
	}
	return -1
}

// uriAddr is the IP address and port of a SIP URI whose host is an IP
// (5060 when no port is given).
func uriAddr(s string) (netip.AddrPort, bool) {
	var u sip.Uri
	if sip.ParseUri(s, &u) != nil {
		return netip.AddrPort{}, false
	}
	ip, err := netip.ParseAddr(strings.Trim(u.Host, "[]"))
	if err != nil {
		return netip.AddrPort{}, false
	}
	port := u.Port
	if port == 0 {
		port = 5060
	}
	return netip.AddrPortFrom(ip, uint16(port)), true
}

// xavpCfg reads $xavp(<xavp_cfg>=>name) when xavp_cfg is set and this
// build has $xavp; ok is false otherwise.
func (r *Registrar) xavpCfg(c *kemi.Ctx, name string) (kemi.Value, bool) {
	if r.cfg.xavpCfg == "" || c.Engine == nil {
		return kemi.Nil, false
	}
	spec, err := c.Engine.ParsePV("$xavp(" + r.cfg.xavpCfg + "=>" + name + ")")
	if err != nil {
		if !r.noXavpLogged.Swap(true) {
			r.log.Warn("registrar: xavp_cfg is set but $xavp is not available: its settings are ignored")
		}
		return kemi.Nil, false
	}
	v := spec.Class.Get(c, spec)
	return v, !v.IsNil()
}

// readXavpCfg applies the per-request settings of xavp_cfg to a save.
func (r *Registrar) readXavpCfg(c *kemi.Ctx, req *regRequest) {
	if v, ok := r.xavpCfg(c, "q"); ok {
		if q := int(v.Int()); q >= 0 && q <= 1000 {
			req.q = q
		}
	}
	if v, ok := r.xavpCfg(c, "expires"); ok && v.Int() >= 0 {
		req.expOverride = v.Int()
	}
	if v, ok := r.xavpCfg(c, "max_contacts"); ok && v.Int() >= 0 {
		req.maxContacts = int(v.Int())
	}
	if v, ok := r.xavpCfg(c, "socket"); ok && validSocket(v.Text()) {
		req.socket = v.Text()
	}
}

// lookupXavp is lookup_xavp: the contacts of uri as xavps — rxname with
// aor and count, one cxname per contact with uri, socket and dsturi. It
// needs $xavp, which this build may not have (-3).
func (r *Registrar) lookupXavp(c *kemi.Ctx, table, uri, rx, cx string) int {
	if c.Engine == nil || !isToken(rx) || !isToken(cx) {
		return -3
	}
	if _, err := c.Engine.ParsePV("$xavp(" + rx + "=>aor)"); err != nil {
		c.Logger().Error("registrar: lookup_xavp needs $xavp, which this build does not have")
		return -3
	}
	ul, d := r.domain(c, table)
	if d == nil {
		return -1
	}
	cs, rc := r.contactsFor(c, ul, d, uri)
	if rc < 0 {
		return rc
	}
	aor, _ := r.aorFromString(uri, ul.UseDomain())
	set := func(pv string, v kemi.Value) bool {
		if err := c.SetPV(pv, v); err != nil {
			c.Logger().Error("registrar: lookup_xavp", zap.String("pv", pv), zap.Error(err))
			return false
		}
		return true
	}
	if !set("$xavp("+rx+"=>aor)", kemi.StrV(aor)) || !set("$xavp("+rx+"[0]=>count)", kemi.IntV(len(cs))) {
		return -3
	}
	for i := range cs {
		dst, _ := r.route(c, &cs[i])
		set("$xavp("+cx+"=>uri)", kemi.StrV(cs[i].Addr))
		set("$xavp("+cx+"[0]=>socket)", kemi.StrV(cs[i].Socket))
		set("$xavp("+cx+"[0]=>dsturi)", kemi.StrV(dst))
	}
	return 1
}
