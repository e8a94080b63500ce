package rr

import (
	"net/netip"
	"strings"

	"go.uber.org/zap"

	"github.com/luasbc/luasbc/core/msg"
	"github.com/luasbc/luasbc/core/regex"
	"github.com/luasbc/luasbc/kemi"
)

// loose_route results (Kamailio's RR_* codes).
const (
	rrDriven    = 1  // next hop from the Route set
	rrNotDriven = -1 // no Route, or an error
	rrPreloaded = -3 // initial request: the preloaded Route set held only us
)

// modeLooseOnly is loose_route_mode bit 1: skip the strict-router test
// (R-URI is myself). Bit 2 (skip outbound flow tokens) has no effect: there
// is no outbound support.
const modeLooseOnly = 1

const routeHeaderName = "Route"

// route is one Route entry of the received message.
type route struct {
	hdr  int    // index of its header in m.Hdrs
	text string // the entry as written ("<sip:...;lr>")
	uri  string
	u    rawURI
	ok   bool // uri parsed
}

// parseRoutes lists the Route entries of m in order, several per header
// line when they are comma-separated.
func parseRoutes(m *msg.Msg) []route {
	if m == nil || m.Req == nil {
		return nil
	}
	var out []route
	for i := range m.Hdrs {
		h := &m.Hdrs[i]
		if h.Type != msg.HRoute {
			continue
		}
		for _, v := range msg.SplitComma(msg.Unfold(h.Value)) {
			if v == "" {
				continue
			}
			r := route{hdr: i, text: v, uri: nameAddrURI(v)}
			r.u, r.ok = splitURI(r.uri)
			out = append(out, r)
		}
	}
	return out
}

// lrState is what loose_route found, for check_route_param, is_direction
// and next_hop_route.
type lrState struct {
	ours    bool   // params are those of our Route URI (or of the R-URI after a strict hop)
	params  string // URI parameters without the leading ';'
	nextHop bool   // our entries were removed and another Route gives the next hop
	// the Route lump added, so that a second call replaces it
	lumpAt int
	lump   msg.Lump
	lumped bool
}

// lrEdit collects the Route changes of one loose_route call.
type lrEdit struct {
	rs       []route
	removed  []bool
	saveRURI bool // append the received R-URI as the last Route (strict next hop)
}

func (x *rr) looseRoute(c *kemi.Ctx, mode int) int {
	m := c.M
	if m.Req == nil || c.Core == nil {
		return rrNotDriven
	}
	rs := parseRoutes(m)
	if len(rs) == 0 {
		return rrNotDriven
	}
	e := &lrEdit{rs: rs, removed: make([]bool, len(rs))}
	st := &lrState{}
	var ret int
	switch {
	case toTag(m) == "":
		ret = x.afterLoose(c, e, st, true)
	case mode&modeLooseOnly == 0 && c.Core.IsMyselfURI(m.RURIString()):
		ret = x.afterStrict(c, e, st)
	default:
		ret = x.afterLoose(c, e, st, false)
	}
	if err := x.applyEdit(m, e, st); err != nil {
		c.Logger().Error("loose_route: cannot rewrite the Route headers", zap.Error(err))
		ret = rrNotDriven
	}
	m.SetExt(extLR, st)
	return ret
}

func (x *rr) myself(c *kemi.Ctx, r *route) bool {
	return r.ok && c.Core.IsMyselfURI(r.uri)
}

// afterLoose handles a request whose previous hop was a loose router
// (RFC 3261 §16.4 does not apply): our Route entries are removed, the next
// one becomes $du, or the R-URI when it is a strict router (§16.6 step 6).
func (x *rr) afterLoose(c *kemi.Ctx, e *lrEdit, st *lrState, preloaded bool) int {
	top := &e.rs[0]
	if !top.ok {
		c.Logger().Error("loose_route: cannot parse the first Route URI", zap.String("uri", top.uri))
		return rrNotDriven
	}
	done := rrDriven
	if preloaded {
		done = rrPreloaded
	}
	next := 0
	if x.myself(c, top) {
		st.ours, st.params = true, top.u.params
		r2 := x.doubleRR != 0 && hasParam(top.u.params, "r2")
		if x.forceSocket && !r2 {
			x.forceSocketFrom(c, top, false)
		}
		e.removed[0] = true
		if len(e.rs) == 1 {
			return done
		}
		next = 1
		if r2 {
			// Our second entry names the interface the request must leave
			// on (the other side of a transport or interface change).
			second := &e.rs[1]
			if !second.ok {
				c.Logger().Error("loose_route: cannot parse the double route URI", zap.String("uri", second.uri))
				return rrNotDriven
			}
			x.forceSocketFrom(c, second, true)
			e.removed[1] = true
			if len(e.rs) == 2 {
				return done
			}
			next = 2
		}
		st.nextHop = true
	}
	// A strict next hop goes into the R-URI, the R-URI to the end of the
	// Route set.
	if rc, done := routeNext(c, e, next, true); done {
		return rc
	}
	return rrDriven
}

// routeNext sends the request to Route entry next: a loose router becomes
// $du; a strict one goes into the R-URI (and with saveRURI the received
// R-URI is appended as the last Route, RFC 3261 §16.6 step 6). done reports
// that rc is loose_route's result; otherwise $du is set and the caller goes on.
func routeNext(c *kemi.Ctx, e *lrEdit, next int, saveRURI bool) (rc int, done bool) {
	m := c.M
	nh := &e.rs[next]
	if !nh.ok {
		c.Logger().Error("loose_route: cannot parse the next Route URI", zap.String("uri", nh.uri))
		return rrNotDriven, true
	}
	if !hasParam(nh.u.params, "lr") {
		if err := m.SetRURI(maddrURI(nh.uri, nh.u)); err != nil {
			c.Logger().Error("loose_route: cannot rewrite the R-URI", zap.Error(err))
			return rrNotDriven, true
		}
		e.removed[next] = true
		e.saveRURI = saveRURI
		return rrDriven, true
	}
	if err := m.SetDst(maddrURI(nh.uri, nh.u)); err != nil {
		c.Logger().Error("loose_route: cannot set the destination URI", zap.Error(err))
		return rrNotDriven, true
	}
	return 0, false
}

// afterStrict handles a request whose R-URI is ours in a dialog: the previous
// hop was a strict router and put our Record-Route URI there (§16.4). The
// R-URI is restored from the last Route entry.
func (x *rr) afterStrict(c *kemi.Ctx, e *lrEdit, st *lrState) int {
	m := c.M
	top := &e.rs[0]
	if !top.ok {
		c.Logger().Error("loose_route: cannot parse the first Route URI", zap.String("uri", top.uri))
		return rrNotDriven
	}
	next := 0
	if x.doubleRR != 0 && hasParam(top.u.params, "r2") && x.myself(c, top) {
		// Our second entry of a double record-route is on top.
		x.forceSocketFrom(c, top, true)
		e.removed[0] = true
		if len(e.rs) == 1 {
			return rrNotDriven
		}
		next = 1
	}
	st.ours = true
	if u, ok := splitURI(m.RURIString()); ok {
		st.params = u.params
	}
	// A strict next hop as well: behave as a strict router.
	if rc, done := routeNext(c, e, next, false); done {
		return rc
	}
	last := &e.rs[len(e.rs)-1]
	if !last.ok {
		c.Logger().Error("loose_route: cannot parse the last Route URI", zap.String("uri", last.uri))
		return rrNotDriven
	}
	if err := m.SetRURI(maddrURI(last.uri, last.u)); err != nil {
		c.Logger().Error("loose_route: cannot rewrite the R-URI", zap.Error(err))
		return rrNotDriven
	}
	e.removed[len(e.rs)-1] = true
	return rrDriven
}

// forceSocketFrom forces the send socket to the listening socket a Route
// URI of ours names (transport, address, port).
func (x *rr) forceSocketFrom(c *kemi.Ctx, r *route, second bool) {
	proto := r.u.proto()
	port := r.u.portNo
	if port == 0 {
		port = 5060
		if proto == msg.TLS || proto == msg.WSS || strings.EqualFold(r.u.scheme, "sips") {
			port = 5061
		}
	}
	s := findSocket(c, r.u.host, port, proto)
	if s == nil && r.u.portNo == 0 {
		s = findSocket(c, r.u.host, 0, proto)
	}
	if s != nil {
		c.M.ForceSocket = s
		return
	}
	if second && x.mismatchWarn {
		c.Logger().Warn("loose_route: no socket found to match the second Route", zap.String("uri", r.uri))
		if !x.myself(c, r) {
			c.Logger().Warn("loose_route: the second Route URI is not this server", zap.String("uri", r.uri))
		}
	}
}

// findSocket returns the listening socket for host (address or advertised
// name), port (0 = any) and proto (ProtoNone = any, UDP first).
func findSocket(c *kemi.Ctx, host string, port int, proto msg.Proto) *msg.Socket {
	if c.Core == nil || c.Core.TP == nil {
		return nil
	}
	h := strings.ToLower(strings.Trim(host, "[]"))
	ip, ipErr := netip.ParseAddr(h)
	order := []msg.Proto{proto}
	switch proto {
	case msg.WS, msg.WSS:
		// RFC 7118 names both in a URI as transport=ws: a Route with it
		// may mean either of our WebSocket sockets.
		order = []msg.Proto{proto, msg.WS ^ msg.WSS ^ proto}
	case msg.ProtoNone:
		order = []msg.Proto{msg.UDP, msg.TCP, msg.TLS, msg.SCTP, msg.WS, msg.WSS}
	}
	for _, p := range order {
		for _, s := range c.Core.TP.Sockets {
			if s.Proto != p {
				continue
			}
			if ipErr == nil && (port == 0 || int(s.Addr.Port()) == port) {
				a := s.Addr.Addr()
				if a == ip.Unmap() || a.IsUnspecified() && c.Core.IsMyIP(ip) {
					return s
				}
			}
			if s.AdvHost != "" && strings.EqualFold(strings.Trim(s.AdvHost, "[]"), h) {
				ap := s.AdvPort
				if ap == 0 {
					ap = int(s.Addr.Port())
				}
				if port == 0 || ap == port {
					return s
				}
			}
		}
	}
	return nil
}

// applyEdit writes the remaining Route set through one lump that replaces
// every Route header (entries keep their header lines), or removes them all.
// A lump of an earlier loose_route call on the message is replaced.
func (x *rr) applyEdit(m *msg.Msg, e *lrEdit, st *lrState) error {
	if old, _ := m.GetExt(extLR).(*lrState); old != nil && old.lumped &&
		old.lumpAt < len(m.Lumps) && m.Lumps[old.lumpAt] == old.lump {
		m.Lumps = append(m.Lumps[:old.lumpAt:old.lumpAt], m.Lumps[old.lumpAt+1:]...)
	}
	changed := e.saveRURI
	for _, r := range e.removed {
		changed = changed || r
	}
	if !changed {
		return nil
	}
	var b strings.Builder
	cur := -1
	for i := range e.rs {
		if e.removed[i] {
			continue
		}
		r := &e.rs[i]
		if r.hdr != cur {
			if cur >= 0 {
				b.WriteString("\r\n")
			}
			b.WriteString(routeHeaderName + ": ")
			cur = r.hdr
		} else {
			b.WriteString(", ")
		}
		b.WriteString(r.text)
	}
	if cur >= 0 {
		b.WriteString("\r\n")
	}
	if e.saveRURI {
		b.WriteString(routeHeaderName + ": <" + m.OrigRURIString() + ">\r\n")
	}
	var err error
	if b.Len() == 0 {
		err = m.AddLump(msg.LumpRemove, routeHeaderName, "")
	} else {
		err = m.AddLump(msg.LumpReplace, routeHeaderName, b.String())
	}
	if err != nil {
		return err
	}
	st.lumped, st.lumpAt, st.lump = true, len(m.Lumps)-1, m.Lumps[len(m.Lumps)-1]
	return nil
}

// routedParams are the parameters of our Route URI that loose_route
// consumed; before loose_route, those of the first Route when it is ours
// (as Kamailio's redo_route_params).
func (x *rr) routedParams(c *kemi.Ctx) (string, bool) {
	if st, ok := c.M.GetExt(extLR).(*lrState); ok {
		return st.params, st.ours
	}
	if c.Core == nil {
		return "", false
	}
	rs := parseRoutes(c.M)
	if len(rs) == 0 || !x.myself(c, &rs[0]) {
		return "", false
	}
	return rs[0].u.params, true
}

func (x *rr) checkRouteParam(c *kemi.Ctx, re string) int {
	params, ok := x.routedParams(c)
	if !ok || params == "" {
		return -1
	}
	rx, err := regex.Compile(regex.Search, re)
	if err != nil {
		c.Logger().Error("check_route_param: bad regular expression", zap.String("re", re), zap.Error(err))
		return -1
	}
	if rx.MatchString(";" + params) {
		return 1
	}
	return -1
}

// upstream reports whether the request goes from callee to caller: our
// Route's ftag differs from the From tag. No ftag, or no From tag, counts
// as downstream.
func (x *rr) upstream(c *kemi.Ctx) bool {
	params, ok := x.routedParams(c)
	if !ok {
		return false
	}
	ftag, found := paramValue(params, "ftag", true)
	if !found || ftag == "" {
		return false
	}
	tag := fromTag(c.M)
	return tag != "" && tag != ftag
}

func (x *rr) isDirection(c *kemi.Ctx, dir string) int {
	const eCfg = -6 // Kamailio's E_CFG
	if !x.fromTag {
		c.Logger().Error("is_direction needs append_fromtag enabled")
		return eCfg
	}
	var want bool
	switch strings.ToLower(dir) {
	case "downstream":
	case "upstream":
		want = true
	default:
		c.Logger().Error("is_direction: unknown direction, use downstream or upstream", zap.String("dir", dir))
		return eCfg
	}
	if x.upstream(c) == want {
		return 1
	}
	return -1
}

func (x *rr) nextHopRoute(c *kemi.Ctx) int {
	if st, ok := c.M.GetExt(extLR).(*lrState); ok && st.nextHop {
		return 1
	}
	return -1
}
