package rr

import (
	"errors"
	"net"
	"strings"

	"go.uber.org/zap"

	"github.com/luasbc/luasbc/core/msg"
	"github.com/luasbc/luasbc/kemi"
)

// maxParamBuf bounds the add_rr_param text kept for a record_route that has
// not been called yet (Kamailio's RR_PARAM_BUF_SIZE).
const maxParamBuf = 512

type rrKind uint8

const (
	kindAuto   rrKind = iota // record_route / record_route_params
	kindAdv                  // record_route_advertised_address
	kindPreset               // record_route_preset / _one
)

// rrEntry is one record-route request. Addresses that depend on the socket
// the request leaves on are resolved when it is sent (outHook).
type rrEntry struct {
	kind   rrKind
	user   string // user part (add_username), "" for none
	tag    string // ftag value, "" for none
	params string // record_route_params text
	addr   string // advertised address or preset text
	extra  string // add_rr_param text
	sips   bool
}

// recState is what record_route & co. asked for on one message.
type recState struct {
	added   bool // Kamailio's FL_RR_ADDED: a second call fails
	entries []rrEntry
	pending string // add_rr_param text waiting for a record_route
}

// recOf returns a private copy of m's record-route state.
func recOf(m *msg.Msg) *recState {
	old, _ := m.GetExt(extRec).(*recState)
	if old == nil {
		return &recState{}
	}
	s := *old
	s.entries = append([]rrEntry(nil), old.entries...)
	return &s
}

// checkText refuses text that would break the header it goes into.
func checkText(s string) error {
	if err := msg.CheckValue(s); err != nil {
		return err
	}
	if strings.ContainsAny(s, "<>") {
		return errInvalid
	}
	return nil
}

var errInvalid = errors.New("'<' or '>' in Record-Route text")

// canAdd reports whether a Record-Route may be added to m, logging why not.
func (x *rr) canAdd(c *kemi.Ctx, st *recState, fn string) bool {
	if c.M.Req == nil {
		c.Logger().Error(fn + ": not a request")
		return false
	}
	if st.added {
		c.Logger().Error(fn + ": double attempt to record-route")
		return false
	}
	return true
}

// markAdded sets the "record-routed" flag outside branch routes, as Kamailio
// does: a branch route may record-route each branch on its own.
func markAdded(m *msg.Msg, st *recState) {
	if m.RouteType != msg.RouteBranch {
		st.added = true
	}
	m.SetExt(extRec, st)
}

func (x *rr) recordRoute(c *kemi.Ctx, params string) int {
	st := recOf(c.M)
	if !x.canAdd(c, st, "record_route") {
		return -1
	}
	if err := checkText(params); err != nil {
		c.Logger().Error("record_route: bad parameters", zap.Error(err))
		return -1
	}
	user, ok := x.rrUser(c, true)
	if !ok {
		return -1
	}
	st.entries = append(st.entries, rrEntry{kind: kindAuto, user: user, tag: x.rrTag(c), params: params,
		extra: st.pending, sips: x.isSIPS(c.M)})
	st.pending = ""
	markAdded(c.M, st)
	return 1
}

func (x *rr) recordRouteAdv(c *kemi.Ctx, addr string) int {
	st := recOf(c.M)
	if !x.canAdd(c, st, "record_route_advertised_address") {
		return -1
	}
	if addr == "" || checkText(addr) != nil {
		c.Logger().Error("record_route_advertised_address: bad address", zap.String("addr", addr))
		return -1
	}
	user, ok := x.rrUser(c, false)
	if !ok {
		return -1
	}
	st.entries = append(st.entries, rrEntry{kind: kindAdv, user: user, tag: x.rrTag(c), addr: addr,
		extra: st.pending, sips: x.isSIPS(c.M)})
	st.pending = ""
	markAdded(c.M, st)
	return 1
}

// recordRoutePreset is record_route_preset(addr1, addr2); addr2 "" adds one
// header. Like Kamailio's two-parameter form it drops pending add_rr_param
// text, which presets never carry.
func (x *rr) recordRoutePreset(c *kemi.Ctx, addr1, addr2 string) int {
	return x.preset(c, addr1, addr2, true)
}

func (x *rr) preset(c *kemi.Ctx, addr1, addr2 string, dropPending bool) int {
	st := recOf(c.M)
	if !x.canAdd(c, st, "record_route_preset") {
		return -1
	}
	if addr2 != "" && x.doubleRR == 0 {
		c.Logger().Error("record_route_preset: two addresses while enable_double_rr is 0")
		return -1
	}
	if addr1 == "" || checkText(addr1) != nil || checkText(addr2) != nil {
		c.Logger().Error("record_route_preset: bad address", zap.String("addr1", addr1), zap.String("addr2", addr2))
		return -1
	}
	user, ok := x.rrUser(c, false)
	if !ok {
		return -1
	}
	tag := ""
	if x.fromTag {
		tag = fromTag(c.M)
	}
	for _, a := range []string{addr1, addr2} {
		if a == "" {
			continue
		}
		if x.mismatchWarn && c.Core != nil {
			if u, ok := splitURI("sip:" + a); ok && !c.Core.IsMyselfURI("sip:"+u.host+portSuffix(u)) {
				c.Logger().Warn("record_route_preset: address is not this server", zap.String("addr", a))
			}
		}
		st.entries = append(st.entries, rrEntry{kind: kindPreset, user: user, tag: tag, addr: a, sips: x.isSIPS(c.M)})
	}
	if dropPending {
		st.pending = ""
	}
	markAdded(c.M, st)
	return 1
}

func portSuffix(u rawURI) string {
	if u.port == "" {
		return ""
	}
	return ":" + u.port
}

func (x *rr) removeRecordRoute(c *kemi.Ctx) int {
	if st, _ := c.M.GetExt(extRec).(*recState); st == nil || len(st.entries) == 0 {
		return 1
	}
	st := recOf(c.M)
	st.entries = nil
	c.M.SetExt(extRec, st)
	return 1
}

// addRRParam adds text to the Record-Route already requested (the first
// record_route or record_route_advertised_address one, as Kamailio finds its
// lumps), else keeps it for the next one.
func (x *rr) addRRParam(c *kemi.Ctx, p string) int {
	if err := checkText(p); err != nil {
		c.Logger().Error("add_rr_param: bad parameter", zap.Error(err))
		return -1
	}
	st := recOf(c.M)
	for i := range st.entries {
		if st.entries[i].kind != kindPreset {
			st.entries[i].extra += p
			c.M.SetExt(extRec, st)
			return 1
		}
	}
	if len(st.pending)+len(p) > maxParamBuf {
		c.Logger().Error("add_rr_param: maximum size of pending parameters exceeded")
		return -1
	}
	st.pending += p
	c.M.SetExt(extRec, st)
	return 1
}

// rrUser is the Record-Route user part with add_username: the custom AVP
// (record_route only), else the received R-URI user, else the new R-URI's.
func (x *rr) rrUser(c *kemi.Ctx, custom bool) (string, bool) {
	if !x.addUser {
		return "", true
	}
	if custom && x.customUserAVP != "" {
		if v := c.GetPV(x.customUserAVP); !v.IsNil() {
			if s := v.String(); s != "" {
				if checkText(s) != nil || strings.ContainsAny(s, "@;") {
					c.Logger().Error("record_route: bad custom user", zap.String("user", s))
					return "", false
				}
				return s, true
			}
		}
	}
	u, ok := splitURI(c.M.OrigRURIString())
	if !ok {
		c.Logger().Error("record_route: cannot parse the R-URI for add_username")
		return "", false
	}
	if u.user == "" && c.M.RURIChanged() {
		if nu, ok := splitURI(c.M.RURIString()); ok {
			return nu.user, true
		}
		c.Logger().Error("record_route: cannot parse the new R-URI for add_username")
		return "", false
	}
	return u.user, true
}

// rrTag is the ftag value: the From tag, or the To tag for a request going
// upstream in a dialog (after loose_route), so the tag always names the caller.
func (x *rr) rrTag(c *kemi.Ctx) string {
	if !x.fromTag {
		return ""
	}
	if x.upstream(c) {
		return toTag(c.M)
	}
	return fromTag(c.M)
}

func (x *rr) isSIPS(m *msg.Msg) bool {
	if x.ignoreSIPS {
		return false
	}
	u := m.RURI()
	return u != nil && strings.EqualFold(u.Scheme, "sips")
}

// outHook renders the Record-Route headers m asked for, for a copy leaving
// over out, placed before the received Record-Route headers.
func (x *rr) outHook(m *msg.Msg, out *msg.Socket) []msg.Lump {
	st, _ := m.GetExt(extRec).(*recState)
	if st == nil || len(st.entries) == 0 || m.Req == nil || out == nil {
		return nil
	}
	rcv := m.Rcv
	if rcv == nil {
		rcv = out
	}
	var b strings.Builder
	for i := range st.entries {
		x.render(&b, m, &st.entries[i], rcv, out)
	}
	return []msg.Lump{{Op: msg.LumpInsertBefore, Name: "Record-Route", Text: b.String()}}
}

// render writes the header(s) of one entry. With double record-routing the
// first is the outgoing side, the second the incoming side; a single one
// names the incoming side, which is the outgoing one unless
// enable_double_rr is 0 (Kamailio's behaviour).
func (x *rr) render(b *strings.Builder, m *msg.Msg, e *rrEntry, rcv, out *msg.Socket) {
	diffProto := rcv.Proto != out.Proto
	diffRealm := diffProto || rcv.Addr != out.Addr
	switch e.kind {
	case kindPreset:
		x.header(b, e, e.addr, false, true)
	case kindAuto:
		double := x.doubleRR == 2 || x.doubleRR == 1 && diffRealm
		if double {
			x.header(b, e, outHostPort(m, out)+transportParam(out.Proto), true, false)
		}
		x.header(b, e, rcv.HostPort()+transportParam(rcv.Proto), double, false)
	case kindAdv:
		double := x.doubleRR == 2 || x.doubleRR == 1 && diffProto
		withProto := x.doubleRR == 2 || diffProto
		r2 := x.doubleRR == 2 || x.doubleRR == 1 && diffRealm
		if double {
			x.header(b, e, e.addr+protoParam(withProto, out.Proto), r2, true)
		}
		x.header(b, e, e.addr+protoParam(withProto, rcv.Proto), r2, true)
	}
}

// header writes one Record-Route line: the address, then r2, lr, ftag and
// parameters in Kamailio's order (record_route: ;r2=on;lr;ftag=..;params;
// advertised address and presets: ;r2=on;ftag=..;lr).
func (x *rr) header(b *strings.Builder, e *rrEntry, hostport string, r2, tagFirst bool) {
	b.WriteString("Record-Route: <sip")
	if e.sips {
		b.WriteByte('s')
	}
	b.WriteByte(':')
	if e.user != "" {
		b.WriteString(e.user)
		b.WriteByte('@')
	}
	b.WriteString(hostport)
	if r2 {
		b.WriteString(";r2=on")
	}
	if tagFirst {
		x.writeTag(b, e)
		x.writeLR(b)
	} else {
		x.writeLR(b)
		x.writeTag(b, e)
	}
	b.WriteString(e.params)
	b.WriteString(e.extra)
	b.WriteString(">\r\n")
}

func (x *rr) writeLR(b *strings.Builder) {
	if x.fullLR {
		b.WriteString(";lr=on")
	} else {
		b.WriteString(";lr")
	}
}

func (x *rr) writeTag(b *strings.Builder, e *rrEntry) {
	if e.tag != "" {
		b.WriteString(";ftag=")
		b.WriteString(e.tag)
	}
}

// outHostPort is the outgoing socket's address as the Via gets it:
// set_advertised_address/port of the message win over the socket's own.
func outHostPort(m *msg.Msg, out *msg.Socket) string {
	hp := out.HostPort()
	if m.AdvAddr == "" && m.AdvPort == "" {
		return hp
	}
	host, port, err := net.SplitHostPort(hp)
	if err != nil {
		return hp
	}
	if m.AdvAddr != "" {
		host = strings.Trim(m.AdvAddr, "[]")
	}
	if m.AdvPort != "" {
		port = m.AdvPort
	}
	return net.JoinHostPort(host, port)
}

// transportParam is what Kamailio appends to a socket address in a
// Record-Route: nothing for UDP, the transport otherwise.
func transportParam(p msg.Proto) string {
	switch p {
	case msg.ProtoNone, msg.UDP:
		return ""
	case msg.WS, msg.WSS:
		return ";transport=ws"
	}
	return ";transport=" + p.String()
}

func protoParam(on bool, p msg.Proto) string {
	if !on {
		return ""
	}
	return ";transport=" + p.String()
}
