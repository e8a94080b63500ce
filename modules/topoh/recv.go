package topoh

import (
	"strings"

	"go.uber.org/zap"

	"github.com/luasbc/luasbc/core/msg"
	"github.com/luasbc/luasbc/core/transport"
	"github.com/luasbc/luasbc/modules/sanity"
	"github.com/luasbc/luasbc/modules/topoh/sipraw"
)

// cookieHeader carries, inside this server only, whether the Call-ID of a
// received message was masked (value "m") or not ("p"): the copy sent on
// masks it exactly when it came in clear, so each side keeps seeing the
// Call-ID it knows. It is removed from everything received and everything
// sent (Kamailio's "TH" cookie).
const cookieHeader = "TH"

var cookieName = sipraw.NewName(cookieHeader)

// skipMethod reports the messages topoh leaves alone, as Kamailio:
// REGISTER and PUBLISH (ended locally) and anything without a CSeq.
func skipMethod(m *sipraw.Msg) bool {
	meth := m.CSeqMethod()
	return meth == "" || meth == "REGISTER" || meth == "PUBLISH"
}

// received restores what topoh masked in a received message (a
// core.ReceiveFilter): in-dialog requests get their R-URI, Route and
// Refer-To back, replies their Via and Record-Route, and a masked Call-ID
// is restored. A masked value that does not authenticate was changed or
// made up: the request is answered 481 (an ACK dropped), the reply dropped.
func (t *Topoh) received(p *transport.Packet) bool {
	m, err := sipraw.Parse(p.Data)
	if err != nil || skipMethod(m) {
		return true // the core refuses what does not parse
	}
	e := sipraw.NewEdit(m)
	cookieName.Remove(e)
	if m.Request && t.sanity && !t.saneRequest(p) {
		p.Data = e.Bytes()
		return true
	}
	var ok bool
	n := 0
	if m.Request {
		ok = t.unmaskRequest(m, e, &n)
	} else {
		ok = t.unmaskReply(m, e, &n)
	}
	if ok && n > 0 {
		t.stUnmasked.Inc()
	}
	if !ok {
		t.stForged.Inc()
		if m.Request && m.Method != "ACK" {
			t.refuse(p, 481, "Call/Transaction Does Not Exist")
		}
		t.log.Debug("topoh: masked value does not authenticate, message refused",
			zap.String("src", p.Src.String()), zap.Bool("request", m.Request))
		return false
	}
	if t.maskCID {
		cookie := "p"
		if t.callIDWasMasked(m) {
			cookie = "m"
		}
		e.Append(cookieHeader + ": " + cookie + "\r\n")
	}
	if e.Changed() {
		p.Data = e.Bytes()
	}
	return true
}

// callIDWasMasked reports whether the received Call-ID is a masked one
// (unmaskCallID already accepted it, so only the shape is looked at).
func (t *Topoh) callIDWasMasked(m *sipraw.Msg) bool {
	cid := m.CallID()
	return t.k.cidPrefix != "" && strings.HasPrefix(cid, t.k.cidPrefix) && len(cid) > len(t.k.cidPrefix)
}

// saneRequest runs the sanity module's default checks on a received request.
func (t *Topoh) saneRequest(p *transport.Packet) bool {
	proto := msg.UDP
	if p.Sock != nil {
		proto = p.Sock.Proto
	}
	pm, err := msg.Parse(p.Data, p.Src, p.Sock, proto)
	if err != nil {
		return false
	}
	return sanity.Check(pm, sanityDefaultChecks, sanityDefaultURIChecks, nil) == nil
}

// Kamailio sanity's default msg_checks and uri_checks.
const (
	sanityDefaultChecks    = 3047
	sanityDefaultURIChecks = 7
)

// unmaskCallIDHeader restores a masked Call-ID header; false when it is masked
// but does not authenticate.
func (t *Topoh) unmaskCallIDHeader(m *sipraw.Msg, e *sipraw.Edit, n *int) bool {
	i := m.First(msg.HCallID)
	if i < 0 {
		return true
	}
	orig, masked, err := t.k.unmaskCallID(m.Hdrs[i].Value)
	if !masked {
		return true
	}
	if err != nil {
		return false
	}
	e.Replace(i, m.Hdrs[i].Name+": "+orig+"\r\n")
	*n++
	return true
}

// unmaskRequest restores an in-dialog request: R-URI, Route, Refer-To and
// Call-ID. Initial requests carry nothing of ours but maybe a Call-ID.
func (t *Topoh) unmaskRequest(m *sipraw.Msg, e *sipraw.Edit, n *int) bool {
	if !t.unmaskCallIDHeader(m, e, n) {
		return false
	}
	if !m.InDialog() {
		return true
	}
	if orig, masked, err := t.k.unmaskURI(m.RURI); masked {
		if err != nil {
			return false
		}
		e.SetFirstLine(m.Method + " " + orig + " " + m.Version())
		*n++
	}
	if !t.unmaskURIHeaders(m, e, msg.HRoute, "", n) {
		return false
	}
	return t.unmaskURIHeaders(m, e, msg.HOther, "Refer-To", n)
}

// unmaskReply restores the Via and Record-Route values of a reply.
func (t *Topoh) unmaskReply(m *sipraw.Msg, e *sipraw.Edit, n *int) bool {
	if !t.unmaskCallIDHeader(m, e, n) {
		return false
	}
	var byHdr map[int][]string
	changed := map[int]bool{}
	for _, it := range m.Items(msg.HVia) {
		orig, masked, err := t.k.unmaskVia(it.Text)
		if masked && err != nil {
			return false
		}
		if byHdr == nil {
			byHdr = map[int][]string{}
		}
		if masked {
			byHdr[it.Hdr] = append(byHdr[it.Hdr], orig)
			changed[it.Hdr] = true
			*n++
		} else {
			byHdr[it.Hdr] = append(byHdr[it.Hdr], it.Text)
		}
	}
	for i, vals := range byHdr {
		if changed[i] {
			e.Replace(i, joinLines("Via", vals))
		}
	}
	return t.unmaskURIHeaders(m, e, msg.HRecordRoute, "", n)
}

// unmaskURIHeaders restores the masked URIs in every header of type ht (or
// named name for HOther), value by value.
func (t *Topoh) unmaskURIHeaders(m *sipraw.Msg, e *sipraw.Edit, ht msg.HType, name string, n *int) bool {
	for i := range m.Hdrs {
		h := &m.Hdrs[i]
		if ht != msg.HOther && h.Type != ht || ht == msg.HOther && !h.Is(name) {
			continue
		}
		vals := msg.SplitComma(strings.ReplaceAll(strings.ReplaceAll(h.Value, "\r", " "), "\n", " "))
		if ht == msg.HOther {
			vals = []string{h.Value} // Refer-To holds one value that may contain commas in ?headers
		}
		changed := false
		for j, v := range vals {
			uri := sipraw.URIOf(v)
			orig, masked, err := t.k.unmaskURI(uri)
			if !masked {
				continue
			}
			if err != nil {
				return false
			}
			nv, ok := sipraw.ReplaceURI(v, orig)
			if !ok {
				return false
			}
			vals[j], changed = nv, true
			*n++
		}
		if changed {
			e.Replace(i, joinLines(h.Name, vals))
		}
	}
	return true
}

// joinLines renders one header line with comma-separated values.
func joinLines(name string, vals []string) string {
	return name + ": " + strings.Join(vals, ", ") + "\r\n"
}

// refuse answers a received request locally (forged masked values).
func (t *Topoh) refuse(p *transport.Packet, code int, reason string) {
	if t.core == nil {
		return
	}
	proto := msg.UDP
	if p.Sock != nil {
		proto = p.Sock.Proto
	}
	m, err := msg.Parse(p.Data, p.Src, p.Sock, proto)
	if err != nil {
		return
	}
	m.ConnID = p.ConnID
	_ = t.core.SendReply(m, msg.ReplyOpts{Code: code, Reason: reason})
}
