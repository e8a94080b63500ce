package topos

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/luasbc/luasbc/core/msg"
	"github.com/luasbc/luasbc/core/transport"
	"github.com/luasbc/luasbc/modules/sanity"
	"github.com/luasbc/luasbc/modules/topoh/sipraw"
)

// Internal headers carry what a received message restored to the copy of it
// that is sent on (Kamailio's P-SR-XBranch and P-SR-XUID, plus our
// P-SR-XContact). They exist only inside this server: removed from
// everything received before anything reads it, and from everything sent.
const (
	hdrXBranch  = "P-SR-XBranch"  // replies: "<branch>;d=<a|b>;rr=<n>"
	hdrXUID     = "P-SR-XUID"     // in-dialog requests: "<a|b><id>[;ctx=<ns>]"
	hdrXContact = "P-SR-XContact" // our contact(s) for the copy sent on
)

// Event bits of event_mode.
const (
	evOutgoing  = 1
	evSending   = 2
	evIncoming  = 4
	evReceiving = 8
)

// hasInternal is a cheap test for the internal header names in raw bytes.
func hasInternal(b []byte) bool {
	return bytes.Contains(bytes.ToLower(b), []byte("p-sr-x"))
}

var (
	nameXBranch  = sipraw.NewName(hdrXBranch)
	nameXUID     = sipraw.NewName(hdrXUID)
	nameXContact = sipraw.NewName(hdrXContact)
)

// removeInternal drops the internal headers from an edit.
func removeInternal(e *sipraw.Edit) {
	nameXBranch.Remove(e)
	nameXUID.Remove(e)
	nameXContact.Remove(e)
}

// skipMessage reports what topos leaves alone, as Kamailio: REGISTER and
// PUBLISH (ended locally), anything without CSeq, and the initial requests
// of methods_noinitial.
func (x *Topos) skipMessage(m *sipraw.Msg) bool {
	meth := m.CSeqMethod()
	if meth == "" || meth == "REGISTER" || meth == "PUBLISH" {
		return true
	}
	return m.Request && len(x.noInitial) > 0 && x.noInitial[strings.ToUpper(meth)] && !m.InDialog()
}

// received restores a received message (core.ReceiveFilter): a reply gets
// back the Vias and Record-Routes stripped from the request it answers, an
// in-dialog request the R-URI and Route set of its destination. An
// in-dialog request for a dialog that is unknown or expired is answered 481
// (an ACK dropped); a reply with nothing to restore it from is dropped.
func (x *Topos) received(p *transport.Packet) bool {
	ns := x.context
	if drop, em := x.ev.Incoming(evIncoming, "topos:msg-incoming", p.Src, p.Sock); drop {
		return x.stripOnly(p)
	} else if em != nil {
		ns = x.contextOf(em)
	}
	m, err := sipraw.Parse(p.Data)
	if err != nil {
		return true // the core refuses what does not parse
	}
	e := sipraw.NewEdit(m)
	removeInternal(e)
	if x.skipMessage(m) {
		return x.apply(p, e)
	}
	if x.ev.Enabled(evReceiving) {
		drop, em := x.ev.Receiving(evReceiving, "topos:msg-receiving", e.Bytes(), p.Src, p.Sock)
		if drop {
			return x.apply(p, e)
		}
		if em != nil {
			if s, ok := em.GetExt(extContext).(string); ok && s != "" {
				ns = s
			}
		}
	}
	if !m.Request {
		return x.restoreReply(p, m, e, ns)
	}
	if !m.InDialog() {
		return x.apply(p, e)
	}
	if x.sanity && !saneRequest(p) {
		return x.apply(p, e)
	}
	return x.restoreRequest(p, m, e, ns)
}

// stripOnly removes internal headers a peer may have sent.
func (x *Topos) stripOnly(p *transport.Packet) bool {
	if !hasInternal(p.Data) {
		return true
	}
	m, err := sipraw.Parse(p.Data)
	if err != nil {
		return true
	}
	e := sipraw.NewEdit(m)
	removeInternal(e)
	return x.apply(p, e)
}

// apply installs the edit's result as the packet.
func (x *Topos) apply(p *transport.Packet, e *sipraw.Edit) bool {
	if e.Changed() {
		p.Data = e.Bytes()
	}
	return true
}

// saneRequest runs the sanity module's default checks.
func saneRequest(p *transport.Packet) bool {
	proto := msg.UDP
	if p.Sock != nil {
		proto = p.Sock.Proto
	}
	pm, err := msg.Parse(p.Data, p.Src, p.Sock, proto)
	if err != nil {
		return false
	}
	return sanity.Check(pm, 3047, 7, nil) == nil
}

// validBranch accepts a Via branch as a record key.
func validBranch(b string) bool {
	return len(b) >= 8 && len(b) <= 128 && msg.IsToken(b)
}

// restoreReply puts back what the request this reply answers lost.
func (x *Topos) restoreReply(p *transport.Packet, m *sipraw.Msg, e *sipraw.Edit, ns string) bool {
	vias := m.Items(msg.HVia)
	key := m.TopViaBranch()
	if len(vias) != 1 || !validBranch(key) {
		return x.apply(p, e) // not a reply to a request we stripped
	}
	if _, marked := sipraw.Param(viaParams(vias[0].Text), viaMark); !marked {
		// Not a request we stripped: a keepalive of dispatcher or
		// nathelper, t_uac_send, the CANCEL tm builds (tm takes its reply):
		// as it is, for whoever sent it, without asking the storage.
		x.st.unrestored.Inc()
		return x.apply(p, e)
	}
	ctx := context.Background()
	b, err := x.store.Branch(ctx, ns, key)
	if err != nil {
		// The reply of a stripped request that cannot be restored (record
		// expired or in another context, storage failing) would go on
		// without its requester's Vias and with the replier's Contact:
		// drop it.
		x.st.dropped.Inc()
		if !errors.Is(err, ErrNotFound) {
			x.st.storeErr.Inc()
			x.outage.note("loading a branch record", err)
		}
		return false
	}
	if !x.restoreCallID(m, e, b.CallID) {
		x.st.dropped.Inc()
		return false
	}
	// Vias after ours, the stored Record-Routes after the received ones.
	e.InsertAfter(vias[0].Hdr, headerLines("Via", splitList(b.XVia), x.headerMode&1 != 0))
	xrr := splitList(b.XRR)
	rr := append(splitList(b.SRR), xrr...)
	if lines := headerLines("Record-Route", rr, x.headerMode&2 != 0); lines != "" {
		if last := m.Last(msg.HRecordRoute); last >= 0 {
			e.InsertAfter(last, lines)
		} else {
			e.Append(lines)
		}
	}
	dir := "a"
	if b.FromB {
		dir = "b"
	}
	e.Append(hdrXBranch + ": " + key + ";d=" + dir + ";rr=" + strconv.Itoa(len(xrr)) + "\r\n")
	if b.XContact != "" {
		e.Append(hdrXContact + ": " + b.XContact + "\r\n")
	}
	x.replyUpdates(ctx, ns, m, b)
	x.st.restoredRpl.Inc()
	return x.apply(p, e)
}

// restoreCallID unmasks a masked Call-ID (mask_callid) and requires the
// Call-ID of a reply to be the one of its branch.
func (x *Topos) restoreCallID(m *sipraw.Msg, e *sipraw.Edit, want string) bool {
	i := m.First(msg.HCallID)
	if i < 0 {
		return false
	}
	cid := m.Hdrs[i].Value
	if x.th != nil {
		orig, masked, err := x.th.UnmaskCallID(cid)
		if masked {
			if err != nil {
				return false
			}
			e.Replace(i, m.Hdrs[i].Name+": "+orig+"\r\n")
			cid = orig
		}
	}
	return want == "" || cid == want
}

// replyUpdates stores what a reply teaches about the dialog: the callee
// side's tag, contact and route set from a reply that creates the dialog
// (early with 1xx, confirmed with 2xx), the new targets of a successful
// target refresh. A failed re-INVITE changes nothing.
func (x *Topos) replyUpdates(ctx context.Context, ns string, m *sipraw.Msg, b *Branch) {
	code := m.Status
	if code <= 100 || code >= 300 {
		return
	}
	contact := sipraw.URIOf(firstItem(m, msg.HContact))
	fields := map[string]string{}
	var ttl, bttl time.Duration
	if b.Initial {
		if tag := m.ToTag(); tag != "" {
			fields[colBTag] = tag
		}
		if contact != "" {
			fields[colBContact] = contact
		}
		fields[colBRR] = strings.Join(itemTexts(m.Items(msg.HRecordRoute)), ", ")
		if code >= 200 {
			fields[colIFlags] = "1"
			ttl = x.dialogExpire
		} else {
			ttl, bttl = x.branchExpire, x.branchExpire // ringing keeps both alive
		}
	} else if code >= 200 && isTargetRefresh(b.Method) {
		requester, replier := colAContact, colBContact
		if b.FromB {
			requester, replier = colBContact, colAContact
		}
		if b.Pending != "" {
			fields[requester] = b.Pending
		}
		if contact != "" {
			fields[replier] = contact
		}
	}
	if code >= 200 && x.updateTime[strings.ToUpper(b.Method)] {
		ttl = x.dialogExpire
	}
	if len(fields) == 0 && ttl == 0 {
		return
	}
	if err := x.store.UpdateDialog(ctx, ns, b.DialogID, fields, ttl, b.Key, bttl); err != nil && !errors.Is(err, ErrNotFound) {
		x.st.storeErr.Inc()
		x.outage.note("updating a dialog record", err)
	}
}

// isTargetRefresh lists the methods whose 2xx change the remote targets
// (RFC 3261 §12.2, RFC 3311, RFC 6665).
func isTargetRefresh(method string) bool {
	switch strings.ToUpper(method) {
	case "INVITE", "UPDATE", "SUBSCRIBE", "NOTIFY", "REFER":
		return true
	}
	return false
}

// firstItem is the first value of the first header of type t.
func firstItem(m *sipraw.Msg, t msg.HType) string {
	items := m.Items(t)
	if len(items) == 0 {
		return ""
	}
	return items[0].Text
}

// restoreRequest turns an in-dialog request that targets one of our
// contacts back into the request its destination expects: R-URI = the
// destination's contact, Route = our Record-Route(s) and the destination
// side's route set, as they would be without topos.
func (x *Topos) restoreRequest(p *transport.Packet, m *sipraw.Msg, e *sipraw.Edit, ns string) bool {
	side, id, ours := x.keyOf(m.RURI)
	if !ours {
		return x.apply(p, e) // not a dialog of ours (or topos was skipped for it)
	}
	if !validID(id) {
		return x.refuse(p, m, 481, "Call/Transaction Does Not Exist")
	}
	d, err := x.store.Dialog(context.Background(), ns, id)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			x.st.unknown.Inc()
			return x.refuse(p, m, 481, "Call/Transaction Does Not Exist")
		}
		x.st.storeErr.Inc()
		x.outage.note("loading a dialog record", err)
		return x.refuse(p, m, 500, "Server Error")
	}
	if !x.restoreCallID(m, e, d.CallID) {
		x.st.unknown.Inc()
		return x.refuse(p, m, 481, "Call/Transaction Does Not Exist")
	}
	var target, dst, src string
	var routes []string
	srr := splitList(d.SRR)
	if side == 'a' { // from the caller side, to the callee side
		target, dst, src = d.BContact, d.BsContact, d.AsContact
		routes = append(reversed(srr), reversed(splitList(d.BRR))...)
	} else {
		target, dst, src = d.AContact, d.AsContact, d.BsContact
		routes = append(srr, splitList(d.ARR)...)
	}
	if target == "" || strings.ContainsAny(target, " \t\r\n") {
		x.st.unknown.Inc()
		return x.refuse(p, m, 481, "Call/Transaction Does Not Exist")
	}
	e.SetFirstLine(m.Method + " " + target + " " + m.Version())
	if lines := headerLines("Route", routes, x.headerMode&4 != 0); lines != "" {
		if first := m.First(msg.HRoute); first >= 0 {
			e.InsertBefore(first, lines)
		} else {
			e.Append(lines)
		}
	}
	xuid := string(side) + id
	if ns != "" {
		xuid += ";ctx=" + ns
	}
	e.Append(hdrXUID + ": " + xuid + "\r\n" + hdrXContact + ": " + dst + ", " + src + "\r\n")
	x.st.restoredReq.Inc()
	return x.apply(p, e)
}

// refuse answers a received request locally (an ACK is just dropped) and
// drops it.
func (x *Topos) refuse(p *transport.Packet, m *sipraw.Msg, code int, reason string) bool {
	if m.Method == "ACK" || x.core == nil {
		return false
	}
	proto := msg.UDP
	if p.Sock != nil {
		proto = p.Sock.Proto
	}
	pm, err := msg.Parse(p.Data, p.Src, p.Sock, proto)
	if err != nil {
		return false
	}
	pm.ConnID = p.ConnID
	_ = x.core.SendReply(pm, msg.ReplyOpts{Code: code, Reason: reason})
	return false
}
