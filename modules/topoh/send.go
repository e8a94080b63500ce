package topoh

import (
	"strings"

	"github.com/luasbc/luasbc/core"
	"github.com/luasbc/luasbc/core/msg"
	"github.com/luasbc/luasbc/modules/topoh/sipraw"
)

// Event bits of event_mode.
const (
	evOutgoing = 1
	evSending  = 2
)

// sending hides the topology of a message about to leave (a
// core.SendFilter). A relayed request gets every Via but ours masked, its
// Contact masked and the Record-Route entries of the side it comes from
// masked; a relayed reply gets its Contact masked and the Record-Route
// entries of the side it comes from masked; the Call-ID is masked towards
// the side that did not start the dialog (mask_callid). The event callback
// may skip all of it for one message.
func (t *Topoh) sending(o *core.Outgoing) bool {
	m, err := sipraw.Parse(o.Data)
	if err != nil {
		return true
	}
	e := sipraw.NewEdit(m)
	cookie, _ := cookieName.Value(m)
	cookieName.Remove(e)
	if skipMethod(m) || t.eventSkips(o, e) {
		if e.Changed() {
			o.Data = e.Bytes()
		}
		return true
	}
	switch {
	case m.Request:
		t.maskRequest(m, e, cookie)
	case o.Local:
		// A local reply copies the request's own Vias and Record-Routes;
		// only a Call-ID that came in masked must go back masked.
		if t.maskCID && o.M != nil {
			if c, ok := o.M.Header(cookieHeader); ok && c == "m" {
				t.maskCallIDHeader(m, e)
			}
		}
	default:
		t.maskReply(m, e, cookie, o)
	}
	if e.Changed() {
		o.Data = e.Bytes()
		t.stMasked.Inc()
	}
	return true
}

// eventSkips runs topoh:msg-outgoing and topoh:msg-sending; true means the
// script dropped: send without hiding.
func (t *Topoh) eventSkips(o *core.Outgoing, e *sipraw.Edit) bool {
	if drop, _ := t.ev.Outgoing(evOutgoing, "topoh:msg-outgoing", o.M, o.To); drop {
		return true
	}
	if t.ev.Enabled(evSending) {
		drop, _ := t.ev.Sending(evSending, "topoh:msg-sending", e.Bytes(), o.M, o.To)
		return drop
	}
	return false
}

// maskRequest masks a relayed request.
func (t *Topoh) maskRequest(m *sipraw.Msg, e *sipraw.Edit, cookie string) {
	vias := m.Items(msg.HVia)
	if len(vias) < 2 {
		return // generated here: nothing of another side to hide
	}
	host := ""
	if v, ok := sipraw.ParseVia(vias[0].Text); ok {
		host = v.Host
	}
	var b strings.Builder
	b.WriteString("Via: " + vias[0].Text + "\r\n")
	for _, v := range vias[1:] {
		if t.k.isMaskedVia(v.Text) {
			b.WriteString("Via: " + v.Text + "\r\n")
			continue
		}
		b.WriteString("Via: " + t.k.maskVia(v.Text, host) + "\r\n")
	}
	first := true
	for i := range m.Hdrs {
		if m.Hdrs[i].Type != msg.HVia {
			continue
		}
		if first {
			e.Replace(i, b.String())
			first = false
		} else {
			e.Remove(i)
		}
	}
	t.maskContacts(m, e, host)
	t.maskRecordRoutes(m, e, host, -1)
	if t.maskCID && cookie == "p" {
		t.maskCallIDHeader(m, e)
	}
}

// maskReply masks a relayed reply.
func (t *Topoh) maskReply(m *sipraw.Msg, e *sipraw.Edit, cookie string, o *core.Outgoing) {
	rrs := m.Items(msg.HRecordRoute)
	own := -1
	host := ""
	for i, it := range rrs {
		if t.isOwnRoute(it.Text) {
			if own < 0 {
				own = i
			}
			if u, ok := sipraw.ParseURI(sipraw.URIOf(it.Text)); ok {
				host = u.Host // the last own entry faces the side the reply goes to
			}
		}
	}
	if host == "" && o.M != nil && o.M.Rcv != nil {
		host = bracketHost(o.M.Rcv.Addr.Addr().String())
	}
	// Entries above ours were added on the side the reply comes from; the
	// ones below are the receiver's own and stay readable for it.
	t.maskRecordRoutes(m, e, host, own)
	if t.maskMode&1 == 0 || m.Status < 300 || m.Status > 399 {
		t.maskContacts(m, e, host)
	}
	if t.maskCID && cookie == "p" {
		t.maskCallIDHeader(m, e)
	}
}

// isOwnRoute reports whether a Record-Route/Route value names this server.
func (t *Topoh) isOwnRoute(v string) bool {
	uri := sipraw.URIOf(v)
	return uri != "" && t.core != nil && t.core.IsMyselfURI(uri)
}

// maskRecordRoutes masks the Record-Route values that are neither ours nor
// masked already; with upTo >= 0 only the values before index upTo (the
// first of ours) are touched.
func (t *Topoh) maskRecordRoutes(m *sipraw.Msg, e *sipraw.Edit, host string, upTo int) {
	idx := 0
	for i := range m.Hdrs {
		h := &m.Hdrs[i]
		if h.Type != msg.HRecordRoute {
			continue
		}
		vals := msg.SplitComma(oneLine(h.Value))
		changed := false
		for j, v := range vals {
			pos := idx
			idx++
			if upTo >= 0 && pos >= upTo {
				continue
			}
			uri := sipraw.URIOf(v)
			if uri == "" || t.k.isMaskedURI(uri) || t.isOwnRoute(v) {
				continue
			}
			if nv, ok := sipraw.ReplaceURI(v, t.k.maskURI(uri, host)); ok {
				vals[j], changed = nv, true
			}
		}
		if changed {
			e.Replace(i, joinLines(h.Name, vals))
		}
	}
}

// maskContacts masks every Contact URI ("*" stays).
func (t *Topoh) maskContacts(m *sipraw.Msg, e *sipraw.Edit, host string) {
	for i := range m.Hdrs {
		h := &m.Hdrs[i]
		if h.Type != msg.HContact {
			continue
		}
		vals := msg.SplitComma(oneLine(h.Value))
		changed := false
		for j, v := range vals {
			uri := sipraw.URIOf(v)
			if uri == "" || t.k.isMaskedURI(uri) {
				continue
			}
			if nv, ok := sipraw.ReplaceURI(v, t.k.maskURI(uri, host)); ok {
				vals[j], changed = nv, true
			}
		}
		if changed {
			e.Replace(i, joinLines(h.Name, vals))
		}
	}
}

// maskCallIDHeader masks the Call-ID unless it is masked already.
func (t *Topoh) maskCallIDHeader(m *sipraw.Msg, e *sipraw.Edit) {
	i := m.First(msg.HCallID)
	if i < 0 {
		return
	}
	cid := m.Hdrs[i].Value
	if strings.HasPrefix(cid, t.k.cidPrefix) {
		return // masked already
	}
	e.Replace(i, m.Hdrs[i].Name+": "+t.k.maskCallID(cid)+"\r\n")
}

// oneLine replaces the line breaks of a folded value with blanks.
func oneLine(v string) string {
	if !strings.ContainsAny(v, "\r\n") {
		return v
	}
	return strings.NewReplacer("\r\n", " ", "\r", " ", "\n", " ").Replace(v)
}
